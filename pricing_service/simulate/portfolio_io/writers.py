"""Writing a portfolio, or per-loan results beside it, as CSV or Parquet, exactly."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pricing_service.domain.rates import fmt_decimal
from pricing_service.simulate.portfolio import ABSENT, MICRO, Portfolio
from pricing_service.simulate.portfolio_io import schema
from pricing_service.simulate.portfolio_io.arrow import _pyarrow
from pricing_service.simulate.portfolio_io.schema import (
    _KINDS,
    FILE_COLUMNS,
    REQUIRED_COLUMNS,
    SCORE_COLUMN,
    PortfolioError,
)
from pricing_service.simulate.results import LoanResults, units_to_bp, units_to_percent

RESULT_COLUMNS: tuple[str, ...] = (
    "loan_id",
    "borrower_id",
    "product_id",
    "industry",
    "credit_rating",
    "principal_fen",
    "term_months",
    "repayment",
    "status",
    "invalid_fields",
    "tenor",
    "base_rate",
    "ordinary_rate",
    "adjustment_bp",
    "rate",
    "concession_bp",
    "floor_binding",
    "cap_binding",
    "carbon_grade",
    "grade_computed",
    "first_year_concession_fen",
    "mine_score",
    "construction_class",
)
"""The columns of a results file: rates in percent and bp as exact decimal text."""


def _micro_text(value: int) -> str:
    if value < 0:  # no valid portfolio holds one, but the text must still be exact
        return "-" + _micro_text(-value)
    whole, frac = divmod(value, MICRO)
    return f"{whole}.{frac:06d}".rstrip("0") if frac else str(whole)


def _tenths_text(value: int) -> str:
    sign = "-" if value < 0 else ""
    whole, tenth = divmod(abs(value), 10)
    return f"{sign}{whole}.{tenth}"


def _texts(kind: str, column: npt.NDArray[Any], *, optional: bool) -> list[str]:
    """A column as the text its file cells hold."""
    if kind == "text":
        return [str(s) for s in column.tolist()]
    if kind == "date":
        out = np.datetime_as_string(column.astype("datetime64[D]")).tolist()
        return ["" if s == "NaT" else s for s in out]
    values: list[int] = column.tolist()
    if kind == "int":
        if optional:
            return ["" if v == ABSENT else str(v) for v in values]
        return [str(v) for v in values]
    if kind == "micro":
        return ["" if v == ABSENT else _micro_text(v) for v in values]
    if kind == "tenths":
        return ["" if v == ABSENT else _tenths_text(v) for v in values]
    raise AssertionError(kind)


def _portfolio_texts(portfolio: Portfolio) -> list[list[str]]:
    """Every file column as cell texts, in FILE_COLUMNS order."""
    out: list[list[str]] = []
    for name in FILE_COLUMNS:
        if name == "mandatory_passed":
            # Written only beside a mine score: elsewhere the column has no meaning,
            # and a reader would refuse it as evidence without its key.
            has_score = (portfolio.mine_score_tenths != ABSENT).tolist()
            passed = portfolio.mandatory_passed.tolist()
            out.append(
                [
                    ("true" if p else "false") if s else ""
                    for s, p in zip(has_score, passed, strict=True)
                ]
            )
            continue
        column = getattr(portfolio, "mine_score_tenths" if name == SCORE_COLUMN else name)
        out.append(_texts(_KINDS[name], column, optional=name not in _ALWAYS_WRITTEN))
    return out


_ALWAYS_WRITTEN = frozenset({"principal_fen", "term_months", "upfront_fee_fen"})


def _write_csv(path: Path, header: Sequence[str], chunks: Iterator[list[list[str]]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        # "\n" line ends: the shipped samples diff cleanly in git on every platform.
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for columns in chunks:
            writer.writerows(zip(*columns, strict=True))


def _slices(n: int) -> Iterator[slice]:
    for start in range(0, n, schema.CHUNK_ROWS):
        yield slice(start, min(n, start + schema.CHUNK_ROWS))


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".parquet"}:
        raise PortfolioError(f"{path}: unknown portfolio format {suffix!r}; use .csv or .parquet")
    return suffix


def write_portfolio(portfolio: Portfolio, path: str | os.PathLike[str]) -> None:
    """Write `portfolio` as .csv or .parquet so that read_portfolio gives it back exactly.

    CSV is UTF-8 without a byte-order mark, "\n" line ends, columns in FILE_COLUMNS
    order, decimals as plain text without trailing zeros. Parquet holds int64,
    decimal128(18, 6) (the mine score decimal128(4, 1)), date32, boolean and
    string columns, absent values as nulls. mandatory_passed is written only
    beside a mine score, where it means something.
    """
    p = Path(path)
    if _format(p) == ".csv":
        chunks = (_portfolio_texts(portfolio.take(s)) for s in _slices(len(portfolio)))
        _write_csv(p, FILE_COLUMNS, chunks)
        return
    pa, _, pq, _ = _pyarrow()
    arrays = []
    for name in FILE_COLUMNS:
        target = "mine_score_tenths" if name == SCORE_COLUMN else name
        arrays.append(_arrow_column(pa, name, _KINDS[name], getattr(portfolio, target), portfolio))
    pq.write_table(pa.table(arrays, names=list(FILE_COLUMNS)), p)


def _decimal_array(pa: Any, values: npt.NDArray[np.int64], scale: int, precision: int) -> Any:
    """int64 scaled integers as a decimal128 array, exactly; ABSENT is null."""
    absent = values == ABSENT
    v = np.where(absent, 0, values).astype(np.int64)
    # decimal128 is 16-byte little-endian two's complement: the int64, then its sign.
    words = np.empty((len(v), 2), dtype="<i8")
    words[:, 0] = v
    words[:, 1] = v >> 63
    valid = pa.array(~absent).buffers()[1] if absent.any() else None
    return pa.Array.from_buffers(
        pa.decimal128(precision, scale), len(v), [valid, pa.py_buffer(words.tobytes())]
    )


def _arrow_column(
    pa: Any, name: str, kind: str, column: npt.NDArray[Any], portfolio: Portfolio
) -> Any:
    if kind == "text":
        values = column.tolist()
        if name in REQUIRED_COLUMNS:
            return pa.array(values, type=pa.string())
        return pa.array([s or None for s in values], type=pa.string())
    if kind == "int":
        if name in _ALWAYS_WRITTEN:
            return pa.array(column, type=pa.int64())
        return pa.array(column, type=pa.int64(), mask=column == ABSENT)
    if kind == "micro":
        return _decimal_array(pa, column, 6, 18)
    if kind == "tenths":
        return _decimal_array(pa, column, 1, 4)
    if kind == "date":
        days = column.astype("datetime64[D]")
        return pa.array(
            days.astype(np.int64).astype(np.int32), type=pa.date32(), mask=np.isnat(days)
        )
    if kind == "bool":
        return pa.array(column, type=pa.bool_(), mask=portfolio.mine_score_tenths == ABSENT)
    raise AssertionError(kind)


def percent_text(units: int) -> str:
    """A rate in RATE_UNIT as percent text with at least two decimals: 3_300_000 -> "3.30"."""
    pct = units_to_percent(units)
    exponent = pct.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        return f"{pct:.2f}"  # exact: the value has at most one decimal here
    return fmt_decimal(pct)


def bp_text(units: int) -> str:
    """A bp amount in RATE_UNIT as plain decimal text: -2_000_000 -> "-200"."""
    return fmt_decimal(units_to_bp(units))


def _cached(fn: Callable[[int], str], values: list[int]) -> list[str]:
    # Rates repeat across a book (a few hundred distinct values): convert each once.
    table = {v: fn(v) for v in set(values)}
    return [table[v] for v in values]


def _result_texts(portfolio: Portfolio, results: LoanResults) -> list[list[str]]:
    priced: list[bool] = results.priced.tolist()

    def when_priced(texts: list[str]) -> list[str]:
        # An unpriced loan has no rate: an empty cell, never a misleading 0.00.
        return [t if ok else "" for t, ok in zip(texts, priced, strict=True)]

    def flags(column: npt.NDArray[np.bool_]) -> list[str]:
        return when_priced(["true" if b else "false" for b in column.tolist()])

    graded = (results.carbon_grade != ABSENT).tolist()
    computed = [
        ("true" if c else "false") if g else ""
        for c, g in zip(results.grade_computed.tolist(), graded, strict=True)
    ]
    by_name = {
        "loan_id": _texts("text", portfolio.loan_id, optional=False),
        "borrower_id": _texts("text", portfolio.borrower_id, optional=False),
        "product_id": _texts("text", portfolio.product_id, optional=False),
        "industry": _texts("text", portfolio.industry, optional=True),
        "credit_rating": _texts("text", portfolio.credit_rating, optional=False),
        "principal_fen": _texts("int", portfolio.principal_fen, optional=False),
        "term_months": _texts("int", portfolio.term_months, optional=False),
        "repayment": _texts("text", portfolio.repayment, optional=False),
        "status": _texts("text", results.status, optional=False),
        "invalid_fields": _texts("text", results.invalid_fields, optional=True),
        "tenor": _texts("text", results.tenor, optional=True),
        "base_rate": when_priced(_cached(percent_text, results.base_units.tolist())),
        "ordinary_rate": when_priced(_cached(percent_text, results.ordinary_units.tolist())),
        "adjustment_bp": when_priced(_cached(bp_text, results.adjustment_units.tolist())),
        "rate": when_priced(_cached(percent_text, results.rate_units.tolist())),
        "concession_bp": when_priced(_cached(bp_text, results.concession_units.tolist())),
        "floor_binding": flags(results.floor_binding),
        "cap_binding": flags(results.cap_binding),
        "carbon_grade": _texts("int", results.carbon_grade, optional=True),
        "grade_computed": computed,
        "first_year_concession_fen": when_priced(
            _texts("int", results.first_year_concession_fen, optional=False)
        ),
        "mine_score": _texts("tenths", portfolio.mine_score_tenths, optional=True),
        "construction_class": _texts("int", portfolio.construction_class, optional=True),
    }
    return [by_name[name] for name in RESULT_COLUMNS]


_RESULT_INTS = frozenset(
    {
        "principal_fen",
        "term_months",
        "carbon_grade",
        "first_year_concession_fen",
        "construction_class",
    }
)
_RESULT_BOOLS = frozenset({"floor_binding", "cap_binding", "grade_computed"})


def write_results(portfolio: Portfolio, results: LoanResults, path: str | os.PathLike[str]) -> None:
    """Per-loan results beside the loan's terms, as .csv or .parquet.

    Rates are percent text (at least two decimals, "3.30") and bp are decimal
    text ("-200"), both exact conversions of the integer units; a loan that was
    not priced has empty rate cells and its status says why. In Parquet, text
    columns are strings, counts int64, flags boolean (null when not priced),
    the mine score decimal128(4, 1): never a float.
    """
    if len(portfolio) != len(results):
        raise ValueError(f"{len(portfolio)} loans but {len(results)} results")
    p = Path(path)
    if _format(p) == ".csv":
        chunks = (
            _result_texts(portfolio.take(s), results.take(s)) for s in _slices(len(portfolio))
        )
        _write_csv(p, RESULT_COLUMNS, chunks)
        return
    pa, _, pq, _ = _pyarrow()
    texts = _result_texts(portfolio, results)
    arrays = []
    for name, column in zip(RESULT_COLUMNS, texts, strict=True):
        if name == "mine_score":
            arrays.append(_decimal_array(pa, portfolio.mine_score_tenths, 1, 4))
        elif name in _RESULT_INTS:
            arrays.append(pa.array([int(s) if s else None for s in column], type=pa.int64()))
        elif name in _RESULT_BOOLS:
            arrays.append(pa.array([s == "true" if s else None for s in column], pa.bool_()))
        else:
            arrays.append(pa.array([s or None for s in column], type=pa.string()))
    pq.write_table(pa.table(arrays, names=list(RESULT_COLUMNS)), p)
