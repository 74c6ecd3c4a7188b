"""Portfolio files: CSV and Parquet in and out, every bad row named by row and field.

The file schema is the `Portfolio` schema: one column per Portfolio field, same
names, except that the mine score is the column ``mine_score``, a decimal such
as ``87.5`` (held as integer tenths in ``Portfolio.mine_score_tenths``).
Columns may come in any order; a missing required column, an unknown column
or a repeated column refuses the whole file before any row is read, because
a misspelt optional column would otherwise silently drop evidence.

Cells, as text (a CSV cell, or a Parquet value cast exactly to text):

- empty (or null in Parquet) is absent; ``upfront_fee_fen`` absent is 0;
- integers: ASCII digits with an optional leading ``-``, at most 18 digits;
- decimals: plain ASCII decimals like ``1234.5``: no sign, no exponent, no
  thousands separator, at most 6 decimals and 12 integer digits (the range of
  the int64 millionths that hold them); the gRPC layer's rule, narrowed to
  that range;
- the mine score: such a decimal from 0 to 100 with at most one decimal
  (``87.50`` is 87.5; ``87.55`` and ``100.5`` are refused);
- dates: exactly ``YYYY-MM-DD``, a real calendar date;
- booleans: ``true``/``false``, ``yes``/``no`` or ``1``/``0``, any letter case;
- enums: ``repayment`` one of equal_installment, equal_principal,
  interest_only_bullet; ``industry`` one of power, electrolytic_aluminium,
  chemicals, petrochemicals, coking, other;
- text: printable (no control, format or separator characters), loan_id at
  most 128 characters, borrower_id and product_id 64, credit_rating 16;
  loan_id unique in the file.

A file error and a pricing outcome are different things. This module refuses
what cannot be a well-formed request, the checks the gRPC layer makes before
the engine is called: syntax, the ranges that hold whatever the policy
(principal > 0, fee >= 0, grade 1-5, construction class 1-3, score 0-100,
activity and coal consumption before > 0), and evidence that is incomplete,
such as a mine score without its acceptance date or emissions without their
industry, which a request could not carry (and evidence without its key cell,
such as an acceptance date without a score, which would be dropped unseen). It
never applies a policy: an unknown rating or product, a term outside the
policy's range, stale evidence, an ineligible grade are what the engine
reports per loan, as that loan's status in the results; another policy
version could decide them otherwise.

Bad rows are reported (`RowProblem`: row, field, message; every bad field of a
row) and skipped; with ``strict=True`` the first bad row raises
`PortfolioError` instead. When a loan_id repeats, every row carrying it is
skipped: which of them is the intended loan is unknowable. A blank line or a
row of only empty cells holds no loan and is passed over without a problem.

Row numbers are as a person counts them: in a CSV the header is row 1 and the
first data row row 2, blank lines counted (as an editor or a spreadsheet
shows them; a line break inside a quoted cell does not start a row); in a
Parquet file row n is the n-th row, 1-based, and row 0 is the schema.

CSV is UTF-8, with or without a byte-order mark. When pyarrow is installed
its multi-threaded tokeniser reads the cells (about 5x faster on a large
book); otherwise, and for any file it would read differently from the csv
module (a row with the wrong number of cells, invalid UTF-8), the csv module
does. Parquet needs pyarrow (``pip install pyarrow``, or the ``parquet``
extra), imported only when used. Parquet columns may be strings or exact types
(integers, decimal128/256, date32/64, boolean), read through their exact text;
a float column is refused, since a binary float cannot hold a decimal exactly.
"""

from __future__ import annotations

import csv
import difflib
import itertools
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pricing_service.domain.evidence import Industry, RepaymentMethod
from pricing_service.domain.rates import fmt_decimal
from pricing_service.simulate.portfolio import ABSENT, COLUMN_KINDS, MICRO, Portfolio
from pricing_service.simulate.results import LoanResults, units_to_bp, units_to_percent

Progress = Callable[[int, int | None], object]

SCORE_COLUMN = "mine_score"
FILE_COLUMNS: tuple[str, ...] = tuple(
    SCORE_COLUMN if name == "mine_score_tenths" else name for name in Portfolio.column_names()
)
"""The file's columns, in the order written."""
REQUIRED_COLUMNS: tuple[str, ...] = (
    "loan_id",
    "borrower_id",
    "product_id",
    "credit_rating",
    "principal_fen",
    "term_months",
    "repayment",
)
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

SCHEMA_ROW = 0  # row of a problem with a Parquet file's schema
HEADER_ROW = 1  # row of a problem with a CSV header
WHOLE_ROW = "(row)"  # field of a problem with the row itself (its number of cells)
CHUNK_ROWS = 65_536
ARROW_BLOCK_BYTES = 1 << 22  # pyarrow CSV batches of about 40,000 rows
# Tokenise CSV with pyarrow when it is installed; tests switch it off to hold the
# csv-module path to the same results.
USE_ARROW_CSV = True
MAX_INT_DIGITS = 18  # any such integer fits int64
MAX_DECIMAL_INT_DIGITS = 12  # value x 10^6 stays below MAX_MICRO = 10^18
DECIMALS = 6
TENTH = MICRO // 10
_NAT_INT = int(np.iinfo(np.int64).min)  # NaT as int64 days
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_REPORT_LIMIT = 20  # problems an exception message lists before "... and n more"

_INT = re.compile(rf"-?[0-9]{{1,{MAX_INT_DIGITS}}}", re.ASCII)
_DECIMAL = re.compile(r"([0-9]{1,15})(?:\.([0-9]{1,6}))?", re.ASCII)
_EXPONENT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_BOOLS = {"true": 1, "false": 0, "yes": 1, "no": 0, "1": 1, "0": 0}


class PortfolioError(Exception):
    """A portfolio file that cannot be read (or, in strict mode, a bad row)."""

    def __init__(self, message: str, problems: Sequence[RowProblem] = ()) -> None:
        self.problems: list[RowProblem] = list(problems)
        lines = [message, *(f"  {p}" for p in self.problems[:_REPORT_LIMIT])]
        if len(self.problems) > _REPORT_LIMIT:
            lines.append(f"  ... and {len(self.problems) - _REPORT_LIMIT} more")
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad field of one row."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class PortfolioLoad:
    """What reading a file gave: the good rows, and what was wrong with the others."""

    portfolio: Portfolio
    problems: list[RowProblem] = field(default_factory=list)
    skipped: int = 0

    @property
    def rows(self) -> int:
        """Rows of data in the file, read or skipped (blank lines and empty rows are none)."""
        return len(self.portfolio) + self.skipped


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
_KINDS: dict[str, str] = {
    name: COLUMN_KINDS["mine_score_tenths" if name == SCORE_COLUMN else name]
    for name in FILE_COLUMNS
}
_ORDER = {name: i for i, name in enumerate((WHOLE_ROW, *FILE_COLUMNS))}

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


# ---------------------------------------------------------------------------
# Reading


def _check_header(names: Sequence[str], row: int) -> list[RowProblem]:
    problems: list[RowProblem] = []
    known = frozenset(FILE_COLUMNS)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.append(RowProblem(row, name, "column appears more than once"))
        seen.add(name)
        if name not in known:
            hint = ""
            if name == "mine_score_tenths":
                hint = " (the file column is mine_score, a decimal like 87.5)"
            else:
                close = difflib.get_close_matches(name, FILE_COLUMNS, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(RowProblem(row, name, f"unknown column{hint}"))
    problems.extend(
        RowProblem(row, name, "required column missing")
        for name in REQUIRED_COLUMNS
        if name not in seen
    )
    return problems


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


@dataclass(slots=True)
class _Reader:
    """Parses chunks of cells into columns, collecting problems, and assembles the result."""

    strict: bool
    progress: Progress | None
    total: int | None
    parts: dict[str, list[npt.NDArray[Any]]] = field(default_factory=dict)
    rows: list[npt.NDArray[np.int64]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    bad_rows: set[int] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)  # loan_ids so far, while none repeats
    first_seen: dict[str, int] | None = None  # loan_id -> its first row, once one repeats
    repeated: set[str] = field(default_factory=set)
    done: int = 0  # records consumed so far, blank and malformed ones included

    def chunk(
        self,
        cells: Mapping[str, _Cells],
        rows: npt.NDArray[np.int64],
        consumed: int,
        malformed: Sequence[RowProblem] = (),
    ) -> None:
        """Parse one chunk: `cells` by file column (the file's columns), `rows` their numbers."""
        found: list[RowProblem] = list(malformed)
        filled = [c.given() for c in cells.values()]
        if filled:
            data = np.logical_or.reduce(filled)
            if not data.all():
                # A row of empty cells (or a blank line) holds no loan: it is no row of
                # data, and skipping it loses nothing. It keeps its number.
                keep = np.flatnonzero(data)
                cells = {name: c.take(keep) for name, c in cells.items()}
                rows = rows[keep]
        n = len(rows)
        for name in FILE_COLUMNS:
            column, bad = _parse_column(name, cells.get(name) or _absent(n))
            self.parts.setdefault(name, []).append(column)
            found.extend(RowProblem(int(rows[i]), name, message) for i, message in bad)
        found.extend(_group_problems(cells, rows))
        loan_ids = cells.get("loan_id")
        if loan_ids is not None:
            found.extend(self._duplicates(loan_ids, rows))
        self.rows.append(rows)
        self.bad_rows.update(p.row for p in found)
        self.done += consumed
        self._report(found)

    def _duplicates(self, ids: _Cells, rows: npt.NDArray[np.int64]) -> list[RowProblem]:
        uses = np.bincount(ids.codes, minlength=len(ids.distinct))
        if self.first_seen is None and uses.max(initial=0) <= 1:
            # The common case, no repeat in the chunk: check against the earlier ones in bulk.
            chunk = (
                set(ids.distinct) if uses.all() else {ids.distinct[c] for c in np.flatnonzero(uses)}
            )
            chunk.discard("")
            if self.seen.isdisjoint(chunk):
                self.seen.update(chunk)
                return []
        if self.first_seen is None:
            # A repeat: from here on, every id's first row is kept (built once from the
            # chunks before this one).
            self.first_seen = {}
            for part, part_rows in zip(self.parts["loan_id"][:-1], self.rows, strict=True):
                for loan_id, row in zip(part.tolist(), part_rows.tolist(), strict=True):
                    if loan_id:
                        self.first_seen.setdefault(loan_id, row)
        first_seen = self.first_seen
        out: list[RowProblem] = []
        for code, row in zip(ids.codes.tolist(), rows.tolist(), strict=True):
            loan_id = ids.distinct[code]
            if not loan_id:
                continue
            first = first_seen.setdefault(loan_id, row)
            if first == row:
                continue
            out.append(RowProblem(row, "loan_id", f"duplicate {loan_id!r}, also in row {first}"))
            if loan_id not in self.repeated:
                self.repeated.add(loan_id)
                out.append(
                    RowProblem(first, "loan_id", f"duplicate {loan_id!r}, also in row {row}")
                )
        return out

    def _report(self, found: list[RowProblem]) -> None:
        self.problems.extend(found)
        if self.strict and self.problems:
            # Chunks come in file order and an earlier chunk would have raised: the
            # lowest row among these problems is the file's first bad row.
            first = min(self.problems, key=_problem_key).row
            raise PortfolioError(
                f"row {first} is bad (strict mode: the file is refused)",
                sorted((p for p in self.problems if p.row == first), key=_problem_key),
            )
        if self.progress is not None:
            self.progress(self.done, self.total)

    def result(self) -> PortfolioLoad:
        """The good rows as a Portfolio, with the problems in row order."""
        columns: dict[str, npt.NDArray[Any]] = {}
        for name in FILE_COLUMNS:
            parts = self.parts.get(name) or [_parse_column(name, _absent(0))[0]]
            columns[name] = np.concatenate(parts)
        portfolio = _portfolio_from_columns(columns)
        if self.bad_rows:
            rows = np.concatenate(self.rows) if self.rows else np.zeros(0, dtype=np.int64)
            bad = np.fromiter(self.bad_rows, dtype=np.int64, count=len(self.bad_rows))
            portfolio = portfolio.take(np.flatnonzero(~np.isin(rows, bad)))
        self.problems.sort(key=_problem_key)
        return PortfolioLoad(portfolio, self.problems, len(self.bad_rows))


def _problem_key(p: RowProblem) -> tuple[int, int, str]:
    return (p.row, _ORDER.get(p.field, len(_ORDER)), p.message)


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


def _portfolio_from_columns(columns: dict[str, npt.NDArray[Any]]) -> Portfolio:
    out: dict[str, Any] = {}
    for name in FILE_COLUMNS:
        kind = _KINDS[name]
        column = columns[name]
        if kind == "date":
            column = column.view("datetime64[D]")
        elif kind == "bool":
            column = column == 1
        out["mine_score_tenths" if name == SCORE_COLUMN else name] = column
    return Portfolio(**out)


def read_portfolio(
    path: str | os.PathLike[str], *, strict: bool = False, progress: Progress | None = None
) -> PortfolioLoad:
    """Read a portfolio file (.csv or .parquet), reporting and skipping bad rows.

    `progress(rows_done, rows_total)` is called after each chunk of rows; the
    total is None for a CSV (counting it would read the file twice). With
    `strict`, the first bad row raises PortfolioError. A file that cannot be
    read as a whole (format, encoding, header) always raises PortfolioError.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return _read_csv(p, strict, progress)
    if suffix == ".parquet":
        return _read_parquet(p, strict, progress)
    raise PortfolioError(f"{p}: unknown portfolio format {suffix!r}; use .csv or .parquet")


class _Fallback(Exception):  # noqa: N818 - internal signal
    """pyarrow's CSV reader declined the file: read it again with the csv module."""


def _read_csv(path: Path, strict: bool, progress: Progress | None) -> PortfolioLoad:
    try:
        # utf-8-sig drops the byte-order mark spreadsheet programs write, and only that.
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), None)
        if header is None:
            raise PortfolioError(f"{path}: empty file, no header row")
        problems = _check_header(header, HEADER_ROW)
        if problems:
            raise PortfolioError(f"{path}: bad header", problems)
        if USE_ARROW_CSV:
            try:
                return _read_csv_arrow(path, header, strict, progress)
            except _Fallback:
                pass  # read again from the top; progress restarts from 0
        return _read_csv_module(path, header, strict, progress)
    except UnicodeDecodeError:
        raise PortfolioError(f"{path}: not UTF-8: {_utf8_error(path)}") from None
    except csv.Error as exc:
        raise PortfolioError(f"{path}: malformed CSV: {exc}") from None
    except OSError as exc:
        raise PortfolioError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _utf8_error(path: Path) -> str:
    """Where the first invalid UTF-8 is (a decode error's offset is relative to a buffer)."""
    offset = 0
    with path.open("rb") as f:
        # Line by line is exact: b"\n" never occurs inside a multi-byte UTF-8 sequence.
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number}, byte {offset + exc.start} ({exc.reason})"
            offset += len(line)
    return "the file changed while it was read"


def _read_csv_module(
    path: Path, header: list[str], strict: bool, progress: Progress | None
) -> PortfolioLoad:
    state = _Reader(strict, progress, None)
    width = len(header)
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        row = HEADER_ROW
        while records := list(itertools.islice(reader, CHUNK_ROWS)):
            first = row + 1
            row += len(records)
            malformed: list[RowProblem] = []
            if all(len(r) == width for r in records):
                good = records
                numbers = np.arange(first, first + len(records), dtype=np.int64)
            else:
                good, kept = [], []
                for number, record in enumerate(records, start=first):
                    if len(record) == width:
                        good.append(record)
                        kept.append(number)
                    elif record:  # a blank line is no row of data
                        malformed.append(
                            RowProblem(
                                number, WHOLE_ROW, f"has {len(record)} cells, the header {width}"
                            )
                        )
                numbers = np.asarray(kept, dtype=np.int64)
            columns = zip(*good, strict=True) if good else [()] * width
            cells = {name: _encode(c) for name, c in zip(header, columns, strict=True)}
            state.chunk(cells, numbers, len(records), malformed)
    return state.result()


def _read_csv_arrow(
    path: Path, header: list[str], strict: bool, progress: Progress | None
) -> PortfolioLoad:
    """pyarrow's multi-threaded tokeniser, the same checks; _Fallback when it cannot agree.

    It reads RFC 4180 CSV as the csv module does; where they could differ (a
    record with the wrong number of cells, invalid UTF-8, a header it reads
    otherwise) it gives up and the csv module reads the file instead. A blank
    line is a row of empty cells here and no record there: both are skipped.
    """
    try:
        pa, pc, _, pacsv = _pyarrow()
    except PortfolioError:
        raise _Fallback from None
    strings = {name: pa.string() for name in header}
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=ARROW_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=strings, strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except pa.ArrowException:
        raise _Fallback from None
    if list(reader.schema.names) != header:
        raise _Fallback
    state = _Reader(strict, progress, None)
    row = HEADER_ROW + 1
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowException:
            raise _Fallback from None
        n = batch.num_rows
        cells = {name: _arrow_cells(pa, pc, batch.column(i)) for i, name in enumerate(header)}
        state.chunk(cells, np.arange(row, row + n, dtype=np.int64), n)
        row += n
    return state.result()


def _pyarrow() -> tuple[Any, Any, Any, Any]:
    """pyarrow and its compute, parquet and csv modules, or PortfolioError saying how to get it."""
    try:
        # An optional dependency without type stubs, loaded on first use.
        import pyarrow as pa  # type: ignore[import-untyped]  # noqa: PLC0415
        import pyarrow.compute as pc  # type: ignore[import-untyped]  # noqa: PLC0415
        import pyarrow.csv as pacsv  # type: ignore[import-untyped]  # noqa: PLC0415
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError:
        raise PortfolioError(
            "Parquet needs pyarrow: pip install pyarrow "
            "(or pip install 'ecoloan-pricing-service[parquet]')"
        ) from None
    return pa, pc, pq, pacsv


_EXACT_TYPES = {
    "text": "string or integer",
    "int": "integer or string",
    "micro": "decimal128, integer or string",
    "tenths": "decimal128, integer or string",
    "date": "date32 or YYYY-MM-DD string",
    "bool": "boolean, 0/1 integer or string",
}


def _type_problem(pa: Any, kind: str, arrow_type: Any) -> str | None:
    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_floating(t):
        return (
            f"is a float column ({t}): a binary float cannot hold a decimal exactly; "
            f"store it as {_EXACT_TYPES[kind]}"
        )
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return None
    ok = {
        "text": pa.types.is_integer(t),
        "int": pa.types.is_integer(t) or pa.types.is_decimal(t),
        "micro": pa.types.is_integer(t) or pa.types.is_decimal(t),
        "tenths": pa.types.is_integer(t) or pa.types.is_decimal(t),
        "date": pa.types.is_date(t),
        "bool": pa.types.is_boolean(t) or pa.types.is_integer(t),
    }[kind]
    return None if ok else f"has type {t}; expected {_EXACT_TYPES[kind]}"


def _trim_decimal(s: str) -> str:
    """Drop trailing fraction zeros past the sixth decimal (a decimal type's scale > 6)."""
    whole, dot, frac = s.partition(".")
    if dot and len(frac) > DECIMALS:
        frac = frac[:DECIMALS] + frac[DECIMALS:].rstrip("0")
    return whole + dot + frac


def _arrow_cells(pa: Any, pc: Any, array: Any) -> _Cells:
    """A column's values as the exact text a CSV would hold (null is ""), dictionary-encoded."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    t = array.type
    if pa.types.is_null(t):
        return _absent(len(array))
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        array = pc.cast(array, pa.string())
    encoded = pc.dictionary_encode(pc.fill_null(array, ""))
    distinct: list[str] = encoded.dictionary.to_pylist()
    if pa.types.is_decimal(t) and t.scale > DECIMALS:
        distinct = [_trim_decimal(s) for s in distinct]
    return _Cells(distinct, encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp))


def _read_parquet(path: Path, strict: bool, progress: Progress | None) -> PortfolioLoad:
    pa, pc, pq, _ = _pyarrow()
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise PortfolioError(f"{path}: not a readable Parquet file: {exc}") from None
    schema = pf.schema_arrow
    names = tuple(schema.names)
    problems = _check_header(names, SCHEMA_ROW)
    if not problems:
        for name in names:
            why = _type_problem(pa, _KINDS[name], schema.field(name).type)
            if why:
                problems.append(RowProblem(SCHEMA_ROW, name, why))
    if problems:
        raise PortfolioError(f"{path}: bad schema", problems)
    total = int(pf.metadata.num_rows)
    state = _Reader(strict, progress, total)
    row = 1
    try:
        for batch in pf.iter_batches(batch_size=CHUNK_ROWS, columns=list(names)):
            n = batch.num_rows
            cells = {name: _arrow_cells(pa, pc, batch.column(i)) for i, name in enumerate(names)}
            state.chunk(cells, np.arange(row, row + n, dtype=np.int64), n)
            row += n
    except pa.ArrowException as exc:
        raise PortfolioError(f"{path}: cannot read Parquet: {exc}") from None
    return state.result()


# ---------------------------------------------------------------------------
# Writing


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
    for start in range(0, n, CHUNK_ROWS):
        yield slice(start, min(n, start + CHUNK_ROWS))


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


__all__ = [
    "FILE_COLUMNS",
    "REQUIRED_COLUMNS",
    "RESULT_COLUMNS",
    "PortfolioError",
    "PortfolioLoad",
    "RowProblem",
    "bp_text",
    "percent_text",
    "read_portfolio",
    "write_portfolio",
    "write_results",
]
