"""[base_rate]: the LPR fixings, the tenor split between the 1Y and 5Y+ LPR, how far confirmed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pricing_service.domain.lpr import Fixing
from pricing_service.domain.rates import percent_to_bp
from pricing_service.policy.checker import MAX_FIXINGS, MAX_MONTHS, Checker


@dataclass(frozen=True, slots=True)
class BaseRate:
    """The section's fields; None where a field was bad (and a problem recorded)."""

    tenor_split_months: int | None
    confirmed_through: date | None
    fixings: list[Fixing]


def build_base_rate(c: Checker, document: Mapping[str, Any]) -> BaseRate:
    """The tenor split, the confirmed-through date and the fixings, in that order."""
    base = c.table(document, "base_rate", "")
    split = c.typed(
        c.get(base, "tenor_split_months", "base_rate"),
        "base_rate.tenor_split_months",
        int,
        "an integer",
    )
    if split is not None and not 0 <= split <= MAX_MONTHS:
        c.problem("base_rate.tenor_split_months", f"must be from 0 to {MAX_MONTHS}, got {split}")
        split = None
    confirmed = c.date_(
        c.get(base, "confirmed_through", "base_rate"), "base_rate.confirmed_through"
    )
    return BaseRate(split, confirmed, _fixings(c, base))


def _fixings(c: Checker, base: Mapping[str, Any]) -> list[Fixing]:
    fixings_raw = c.get(base, "fixings", "base_rate")
    fixings: list[Fixing] = []
    if isinstance(fixings_raw, list) and len(fixings_raw) > MAX_FIXINGS:
        c.problem("base_rate.fixings", f"at most {MAX_FIXINGS} fixings, got {len(fixings_raw)}")
    else:
        fixings = c.each(
            fixings_raw, "base_rate.fixings", lambda item, path: _fixing(c, item, path)
        )
        if not fixings and "fixings" in base:
            c.problem("base_rate.fixings", "needs at least one fixing")
    seen: set[datetime] = set()
    for f in fixings:
        if f.published_at in seen:
            c.problem("base_rate.fixings", f"two fixings published at {f.published_at.isoformat()}")
        seen.add(f.published_at)
    return fixings


def _fixing(c: Checker, item: Any, path: str) -> Fixing | None:
    if not isinstance(item, dict):
        c.problem(path, "must be a table")
        return None
    at = c.instant(c.get(item, "published_at", path), f"{path}.published_at")
    one = c.decimal(c.get(item, "lpr_1y", path), f"{path}.lpr_1y")
    five = c.decimal(c.get(item, "lpr_5y", path), f"{path}.lpr_5y")
    for name, v in (("lpr_1y", one), ("lpr_5y", five)):
        if v is not None and not Decimal(0) < v < Decimal(30):
            c.problem(f"{path}.{name}", f"{v} is not a plausible LPR in percent")
    if at is None or one is None or five is None:
        return None
    return Fixing(at, percent_to_bp(one), percent_to_bp(five))
