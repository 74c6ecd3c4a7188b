"""[quote] and [evidence]: what a request may ask (validity, terms, principal), evidence age."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pricing_service.policy.checker import (
    INT64_MAX,
    MAX_AGE_DAYS,
    MAX_MONTHS,
    MAX_VALIDITY_HOURS,
    Checker,
)

_QUOTE_LIMITS = {
    "validity_hours": (MAX_VALIDITY_HOURS, " hours"),
    "min_term_months": (MAX_MONTHS, " months"),
    "max_term_months": (MAX_MONTHS, " months"),
    "max_principal_fen": (INT64_MAX, " fen"),
}


def build_quote_limits(c: Checker, document: Mapping[str, Any]) -> dict[str, int]:
    """The [quote] integers that were good, by key: each > 0 and at most its limit."""
    quote = c.table(document, "quote", "")
    ints: dict[str, int] = {}
    for key, (high, units) in _QUOTE_LIMITS.items():
        v = c.typed(c.get(quote, key, "quote"), f"quote.{key}", int, "an integer")
        if v is not None and v <= 0:
            c.problem(f"quote.{key}", "must be > 0")
        elif c.int_at_most(v, f"quote.{key}", high, units) is not None:
            assert v is not None
            ints[key] = v
    if ints.get("min_term_months", 1) > ints.get("max_term_months", 360):
        c.problem("quote", "min_term_months must not exceed max_term_months")
    return ints


def build_evidence_max_age(c: Checker, document: Mapping[str, Any]) -> int | None:
    """[evidence] max_age_days, from 0 to MAX_AGE_DAYS; None if bad (and a problem recorded)."""
    evidence = c.table(document, "evidence", "")
    max_age = c.typed(
        c.get(evidence, "max_age_days", "evidence"), "evidence.max_age_days", int, "an integer"
    )
    if max_age is not None and max_age < 0:
        c.problem("evidence.max_age_days", "must be >= 0")
    return c.int_at_most(max_age, "evidence.max_age_days", MAX_AGE_DAYS, " days")
