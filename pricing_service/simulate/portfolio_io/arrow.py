"""pyarrow, loaded on first use, and Arrow columns as the cells a CSV would hold."""

from __future__ import annotations

from typing import Any

import numpy as np

from pricing_service.simulate.portfolio_io.cells import DECIMALS, _absent, _Cells
from pricing_service.simulate.portfolio_io.schema import PortfolioError


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
