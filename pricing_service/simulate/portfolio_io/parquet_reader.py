"""Reading Parquet: a schema of exact types checked first, then batches of rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pricing_service.simulate.portfolio_io import schema
from pricing_service.simulate.portfolio_io.arrow import _arrow_cells, _pyarrow
from pricing_service.simulate.portfolio_io.rows import _Reader
from pricing_service.simulate.portfolio_io.schema import (
    _KINDS,
    SCHEMA_ROW,
    PortfolioError,
    PortfolioLoad,
    Progress,
    RowProblem,
    _check_header,
)

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


def _read_parquet(path: Path, strict: bool, progress: Progress | None) -> PortfolioLoad:
    pa, pc, pq, _ = _pyarrow()
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise PortfolioError(f"{path}: not a readable Parquet file: {exc}") from None
    arrow_schema = pf.schema_arrow
    names = tuple(arrow_schema.names)
    problems = _check_header(names, SCHEMA_ROW)
    if not problems:
        for name in names:
            why = _type_problem(pa, _KINDS[name], arrow_schema.field(name).type)
            if why:
                problems.append(RowProblem(SCHEMA_ROW, name, why))
    if problems:
        raise PortfolioError(f"{path}: bad schema", problems)
    total = int(pf.metadata.num_rows)
    state = _Reader(strict, progress, total)
    row = 1
    try:
        for batch in pf.iter_batches(batch_size=schema.CHUNK_ROWS, columns=list(names)):
            n = batch.num_rows
            cells = {name: _arrow_cells(pa, pc, batch.column(i)) for i, name in enumerate(names)}
            state.chunk(cells, np.arange(row, row + n, dtype=np.int64), n)
            row += n
    except pa.ArrowException as exc:
        raise PortfolioError(f"{path}: cannot read Parquet: {exc}") from None
    return state.result()
