"""The file schema: its columns and their kinds, how rows are numbered, what reading reports."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pricing_service.simulate.portfolio import COLUMN_KINDS, Portfolio

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

SCHEMA_ROW = 0  # row of a problem with a Parquet file's schema
HEADER_ROW = 1  # row of a problem with a CSV header
WHOLE_ROW = "(row)"  # field of a problem with the row itself (its number of cells)
# Rows per chunk, read or written; the readers and writers look it up here when they
# run, so that one setting (tests shrink it) holds for all of them.
CHUNK_ROWS = 65_536
_REPORT_LIMIT = 20  # problems an exception message lists before "... and n more"

_KINDS: dict[str, str] = {
    name: COLUMN_KINDS["mine_score_tenths" if name == SCORE_COLUMN else name]
    for name in FILE_COLUMNS
}


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
