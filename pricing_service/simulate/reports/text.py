"""Exact figures as display text, shared by the reports and the commands' printed tables."""

from __future__ import annotations

from collections.abc import Sequence

from pricing_service.domain.rates import fmt_percent
from pricing_service.simulate.results import units_to_bp


def pct_text(units: int) -> str:
    """Rate units as exact percent text, "1.30", as quotes and loans.csv show rates."""
    return fmt_percent(units_to_bp(units))


def cny_text(value: str) -> str:
    """An exact CNY decimal string, grouped: "4901924980.10" -> "4,901,924,980.10"."""
    whole, _, cents = value.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}.{cents or '00'}"


def interval_text(values: Sequence[str]) -> str:
    """CNY bounds "a .. b" (grouped), or "-" when there is no interval."""
    return " .. ".join(cny_text(v) for v in values) if values else "-"
