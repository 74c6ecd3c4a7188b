"""Chunks of parsed cells into the good rows, a Portfolio, and the bad rows' problems."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.portfolio_io.cells import (
    _absent,
    _Cells,
    _group_problems,
    _parse_column,
)
from pricing_service.simulate.portfolio_io.schema import (
    _KINDS,
    FILE_COLUMNS,
    SCORE_COLUMN,
    WHOLE_ROW,
    PortfolioError,
    PortfolioLoad,
    Progress,
    RowProblem,
)

_ORDER = {name: i for i, name in enumerate((WHOLE_ROW, *FILE_COLUMNS))}


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
