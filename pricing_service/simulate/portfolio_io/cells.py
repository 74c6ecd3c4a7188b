"""Cells: each column's text parsed to its stored value, every bad cell with its reason."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from pricing_service.domain.evidence import Industry, RepaymentMethod
from pricing_service.simulate.portfolio import ABSENT, MICRO
from pricing_service.simulate.portfolio_io.schema import (
    _KINDS,
    REQUIRED_COLUMNS,
    SCORE_COLUMN,
    RowProblem,
)

MAX_INT_DIGITS = 18  # any such integer fits int64
MAX_DECIMAL_INT_DIGITS = 12  # value x 10^6 stays below MAX_MICRO = 10^18
DECIMALS = 6
TENTH = MICRO // 10
_NAT_INT = int(np.iinfo(np.int64).min)  # NaT as int64 days
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

_INT = re.compile(rf"-?[0-9]{{1,{MAX_INT_DIGITS}}}", re.ASCII)
_DECIMAL = re.compile(r"([0-9]{1,15})(?:\.([0-9]{1,6}))?", re.ASCII)
_EXPONENT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_BOOLS = {"true": 1, "false": 0, "yes": 1, "no": 0, "1": 1, "0": 0}


class _Bad(Exception):  # noqa: N818 - internal signal, not an error type callers see
    """A cell that does not parse; the message says why."""


# ---------------------------------------------------------------------------
# Cell parsers: text -> the column's stored value, or _Bad.


def _text_parser(limit: int) -> Callable[[str], object]:
    """A required text of at most `limit` characters."""

    def parse(s: str) -> object:
        if not s.strip():
            raise _Bad("required")
        if len(s) > limit:
            raise _Bad(f"at most {limit} characters, got {len(s)}")
        if not s.isprintable():
            # Control, format (bidi overrides) and separator characters make ids that
            # look alike on screen and differ in the data: the gRPC layer refuses them too.
            raise _Bad(f"must not contain control, format or separator characters: {s!r}")
        return s

    return parse


def _enum_parser(values: Sequence[str], what: str, *, required: bool) -> Callable[[str], object]:
    allowed = frozenset(values)
    listed = ", ".join(values)

    def parse(s: str) -> object:
        if not s:
            if required:
                raise _Bad("required")
            return ""
        if s not in allowed:
            raise _Bad(f"unknown {what} {s[:40]!r}; one of {listed}")
        return s

    return parse


def _int_parser(
    *, required: bool, default: int = ABSENT, low: int | None = None, high: int | None = None
) -> Callable[[str], object]:
    def parse(s: str) -> object:
        if not s:
            if required:
                raise _Bad("required")
            return default
        if not _INT.fullmatch(s):
            raise _Bad(f"must be an integer like 120 (ASCII digits, no separators), got {s[:40]!r}")
        value = int(s)
        if high is not None and low is not None and not low <= value <= high:
            raise _Bad(f"must be {low} to {high}, got {value}")
        if low is not None and value < low:
            bound = "> 0" if low == 1 else f">= {low}"
            raise _Bad(f"must be {bound}, got {value}")
        return value

    return parse


def _decimal_syntax(s: str) -> str:
    """Why `s` is not a plain decimal, as plainly as the mistake allows."""
    shown = repr(s[:40])
    if _EXPONENT.fullmatch(s):
        return f"exponent notation is not accepted, write a plain decimal like 1234.5: {shown}"
    if s.startswith("-") and _DECIMAL.fullmatch(s[1:]):
        return f"must not be negative, got {shown}"
    whole, dot, frac = s.partition(".")
    if dot and whole.isascii() and whole.isdigit() and frac.isascii() and frac.isdigit():
        if len(frac) > DECIMALS:
            return f"at most {DECIMALS} decimals, got {shown}"
        return f"at most 15 digits before the point, got {shown}"
    if s.isascii() and s.isdigit():
        return f"at most 15 digits before the point, got {shown}"
    return f"must be a plain decimal like 1234.5 (no sign, exponent or separators), got {shown}"


def _micro(s: str) -> int:
    """A plain decimal as int64 millionths, exactly, or _Bad."""
    m = _DECIMAL.fullmatch(s)
    if m is None:
        raise _Bad(_decimal_syntax(s))
    whole, frac = m.group(1), m.group(2) or ""
    if len(whole.lstrip("0")) > MAX_DECIMAL_INT_DIGITS:
        raise _Bad(f"must be below 10^{MAX_DECIMAL_INT_DIGITS}, got {s!r}")
    return int(whole) * MICRO + int(frac.ljust(DECIMALS, "0"))


def _micro_parser(*, positive: bool) -> Callable[[str], object]:
    def parse(s: str) -> object:
        if not s:
            return ABSENT
        value = _micro(s)
        if positive and value == 0:
            raise _Bad(f"must be > 0, got {s!r}")
        return value

    return parse


def _score(s: str) -> object:
    if not s:
        return ABSENT
    value = _micro(s)
    if value > 100 * MICRO:
        raise _Bad(f"must be 0 to 100, got {s!r}")
    if value % TENTH:
        raise _Bad(f"at most one decimal, got {s!r}")
    return value // TENTH


def _date(s: str) -> object:
    if not s:
        return _NAT_INT
    if not _DATE.fullmatch(s):
        raise _Bad(f"must be a date YYYY-MM-DD, got {s[:40]!r}")
    try:
        day = date.fromisoformat(s)
    except ValueError:
        raise _Bad(f"not a calendar date: {s!r}") from None
    return day.toordinal() - _EPOCH_ORDINAL


def _bool(s: str) -> object:
    if not s:
        return ABSENT
    value = _BOOLS.get(s.lower())
    if value is None:
        raise _Bad(f"must be true/false, yes/no or 1/0, got {s[:40]!r}")
    return value


_TEXT_LIMITS = {"loan_id": 128, "borrower_id": 64, "product_id": 64, "credit_rating": 16}
_PARSERS: dict[str, Callable[[str], object]] = {
    **{name: _text_parser(limit) for name, limit in _TEXT_LIMITS.items()},
    "industry": _enum_parser([i.value for i in Industry], "industry", required=False),
    "principal_fen": _int_parser(required=True, low=1),
    "term_months": _int_parser(required=True),
    "repayment": _enum_parser([r.value for r in RepaymentMethod], "repayment", required=True),
    "upfront_fee_fen": _int_parser(required=False, default=0, low=0),
    "carbon_grade": _int_parser(required=False, low=1, high=5),
    "carbon_assessed_on": _date,
    "emissions_tco2": _micro_parser(positive=False),
    "output_quantity": _micro_parser(positive=True),
    "value_added_10k_cny": _micro_parser(positive=True),
    "emissions_period_end": _date,
    SCORE_COLUMN: _score,
    "construction_class": _int_parser(required=False, low=1, high=3),
    "mandatory_passed": _bool,
    "mine_accepted_on": _date,
    "annual_tco2_reduced": _micro_parser(positive=False),
    "coal_g_per_kwh_before": _micro_parser(positive=True),
    "coal_g_per_kwh_after": _micro_parser(positive=False),
    "kpis_verified_on": _date,
}

# Evidence that comes as a group: when the key cell is given, the companions are
# required (a request could not carry the evidence without them), and a companion
# without its key is refused (it would be dropped without a word). industry is
# also a reporting dimension, so it may stand alone.
_GROUPS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("carbon_grade", ("carbon_assessed_on",), ("carbon_assessed_on",)),
    (
        "emissions_tco2",
        ("industry", "emissions_period_end"),
        ("output_quantity", "value_added_10k_cny", "emissions_period_end"),
    ),
    (
        SCORE_COLUMN,
        ("construction_class", "mandatory_passed", "mine_accepted_on"),
        ("construction_class", "mandatory_passed", "mine_accepted_on"),
    ),
    (
        "annual_tco2_reduced",
        ("coal_g_per_kwh_before", "coal_g_per_kwh_after", "kpis_verified_on"),
        ("coal_g_per_kwh_before", "coal_g_per_kwh_after", "kpis_verified_on"),
    ),
)


@dataclass(frozen=True, slots=True)
class _Cells:
    """One column of a chunk, dictionary-encoded: cell i is distinct[codes[i]].

    Each distinct text is parsed once and mapped back with numpy: most columns
    repeat a few values (terms, ratings, dates, absent cells) across a book.
    """

    distinct: list[str]
    codes: npt.NDArray[np.intp]

    def given(self) -> npt.NDArray[np.bool_]:
        """Mask of the non-empty cells."""
        filled = np.fromiter(map(bool, self.distinct), dtype=np.bool_, count=len(self.distinct))
        mask: npt.NDArray[np.bool_] = filled[self.codes]
        return mask

    def take(self, index: npt.NDArray[np.intp]) -> _Cells:
        return _Cells(self.distinct, self.codes[index])


def _encode(values: Sequence[str]) -> _Cells:
    distinct = list(set(values))  # order does not matter: problems are sorted by row
    index = {s: i for i, s in enumerate(distinct)}
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.intp, count=len(values))
    return _Cells(distinct, codes)


def _absent(n: int) -> _Cells:
    return _Cells([""], np.zeros(n, dtype=np.intp))


def _plainly_good_texts(name: str, distinct: list[str]) -> bool:
    """Whether every text passes its column's checks, tested in bulk (ids are mostly distinct)."""
    limit = _TEXT_LIMITS.get(name)
    if limit is None or not distinct:
        return False
    return (
        (name not in REQUIRED_COLUMNS or "" not in distinct)
        and max(map(len, distinct)) <= limit
        and all(map(str.isprintable, distinct))
        and not any(map(str.isspace, distinct))
    )


def _parse_column(name: str, cells: _Cells) -> tuple[npt.NDArray[Any], list[tuple[int, str]]]:
    """The column's stored values, and (index, message) of its bad cells in row order."""
    parse = _PARSERS[name]
    kind = _KINDS[name]
    placeholder: object = "" if kind == "text" else 0
    parsed: list[object] = []
    bad: dict[int, str] = {}
    if kind == "text" and _plainly_good_texts(name, cells.distinct):
        parsed = list(cells.distinct)
    else:
        for code, s in enumerate(cells.distinct):
            try:
                parsed.append(parse(s))
            except _Bad as exc:
                bad[code] = str(exc)
                parsed.append(placeholder)
    values: npt.NDArray[Any]
    if kind == "text":
        values = np.empty(len(parsed), dtype=object)
        values[:] = parsed
    else:
        values = np.fromiter(parsed, dtype=np.int64, count=len(parsed))
    column = values[cells.codes]
    errors: list[tuple[int, str]] = []
    if bad:
        codes = cells.codes
        at = np.flatnonzero(np.isin(codes, np.fromiter(bad, dtype=np.intp, count=len(bad))))
        errors = [(i, bad[c]) for i, c in zip(at.tolist(), codes[at].tolist(), strict=True)]
    return column, errors


def _group_problems(cells: Mapping[str, _Cells], rows: npt.NDArray[np.int64]) -> list[RowProblem]:
    n = len(rows)

    def given(name: str) -> npt.NDArray[np.bool_]:
        column = cells.get(name)
        return np.zeros(n, dtype=np.bool_) if column is None else column.given()

    out: list[RowProblem] = []
    for key, needed, orphans in _GROUPS:
        has_key = given(key)
        for name in needed:
            for row in rows[has_key & ~given(name)].tolist():
                out.append(RowProblem(row, name, f"required when {key} is given"))
        for name in orphans:
            for row in rows[~has_key & given(name)].tolist():
                out.append(RowProblem(row, name, f"given without {key}: it would be ignored"))
    return out
