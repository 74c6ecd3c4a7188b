"""[spreads]: the spread over the LPR by credit rating, and the tenor bands added to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pricing_service.domain.policy import TenorSpread
from pricing_service.policy.checker import MAX_MONTHS, Checker


@dataclass(frozen=True, slots=True)
class Spreads:
    """The ratings that were good and their spreads in bp, and the good tenor bands."""

    by_rating: dict[str, Decimal]
    tenor: list[TenorSpread]


def build_spreads(c: Checker, document: Mapping[str, Any]) -> Spreads:
    """The rating spreads, then the tenor bands (the table's `tenor` key)."""
    spreads_t = c.table(document, "spreads", "")
    by_rating = _by_rating(c, spreads_t)
    if not by_rating and isinstance(document.get("spreads"), dict):  # {} too: no rating prices
        c.problem("spreads", "needs at least one credit rating")
    tenor_bands = c.each(
        spreads_t.get("tenor", []), "spreads.tenor", lambda item, path: _tenor_band(c, item, path)
    )
    if [b.max_months for b in tenor_bands] != sorted({b.max_months for b in tenor_bands}):
        c.problem("spreads.tenor", "bands must have strictly increasing max_months")
    return Spreads(by_rating, tenor_bands)


def _by_rating(c: Checker, spreads_t: Mapping[str, Any]) -> dict[str, Decimal]:
    spreads: dict[str, Decimal] = {}
    for rating, value in spreads_t.items():
        if rating == "tenor":
            continue
        if not 1 <= len(rating) <= 32 or not rating.isprintable():
            c.problem(f"spreads.{rating}", "a credit rating must be 1 to 32 printable characters")
            continue
        d = c.bp(value, f"spreads.{rating}")
        if d is not None:
            spreads[rating] = d
    return spreads


def _tenor_band(c: Checker, item: Any, path: str) -> TenorSpread | None:
    if not isinstance(item, dict):
        c.problem(path, "must be a table")
        return None
    months = c.typed(c.get(item, "max_months", path), f"{path}.max_months", int, "an integer")
    if months is not None and not 1 <= months <= MAX_MONTHS:
        c.problem(f"{path}.max_months", f"must be from 1 to {MAX_MONTHS}, got {months}")
        months = None
    add = c.bp(c.get(item, "add_bp", path), f"{path}.add_bp")
    if months is None or add is None:
        return None
    return TenorSpread(months, add)
