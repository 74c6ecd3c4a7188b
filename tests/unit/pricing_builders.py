"""Builders shared by the pricing-core unit tests (imported as a plain module).

Requests are built by small helpers with keyword overrides so that each test
states only what it pins. Policy variants are made by editing the default
policy's TOML text, the same way a bank would edit its policy file.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from pricing_service.domain.evidence import (
    Emissions,
    GivenGrade,
    Industry,
    MineAcceptance,
    RepaymentMethod,
    TransitionKpis,
)
from pricing_service.domain.policy import Policy
from pricing_service.domain.request import QuoteRequest
from pricing_service.policy.store import default_policy_bytes, load_policy_bytes

BEIJING = timezone(timedelta(hours=8))

# 2025-06-03 10:00 Beijing time: the LPR in force is the 2025-05-20 fixing,
# 3.00% (1Y) / 3.50% (5Y+).
PRICING_TIME = datetime(2025, 6, 3, 10, 0, tzinfo=BEIJING).astimezone(UTC)
PRICING_DATE = date(2025, 6, 3)


def default_text() -> str:
    """The shipped default policy as text."""
    return default_policy_bytes().decode("utf-8")


def policy_from_text(text: str) -> Policy:
    """Validate and build a policy from TOML (or canonical JSON) text."""
    return load_policy_bytes(text.encode("utf-8"))[0]


def edited(text: str, old: str, new: str) -> str:
    """`text` with the one occurrence of `old` replaced by `new` (fails loudly otherwise)."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the policy text"
    return text.replace(old, new)


def variant(*edits: tuple[str, str]) -> Policy:
    """The default policy with each (old, new) text edit applied."""
    text = default_text()
    for old, new in edits:
        text = edited(text, old, new)
    return policy_from_text(text)


def make_request(**overrides: Any) -> QuoteRequest:
    """A standard-product request (AA, 12 months, 1,000,000.00 CNY, no fee) with overrides."""
    base = QuoteRequest(
        borrower_id="91652300MA7XYZ0001",
        product_id="standard",
        credit_rating="AA",
        principal_fen=100_000_000,
        term_months=12,
        repayment=RepaymentMethod.EQUAL_INSTALLMENT,
        upfront_fee_fen=0,
        pricing_time=PRICING_TIME,
    )
    return dataclasses.replace(base, **overrides)


def given_grade(grade: int, assessed_on: date = PRICING_DATE) -> GivenGrade:
    """A platform-assessed carbon grade."""
    return GivenGrade(grade=grade, assessed_on=assessed_on, platform_id="CJ-CARBON-PLATFORM")


def output_emissions(
    emissions: str,
    output: str = "1000",
    industry: Industry = Industry.POWER,
    period_end: date = PRICING_DATE,
) -> Emissions:
    """Emissions of an output-benchmarked industry (power: tCO2 per MWh)."""
    return Emissions(
        industry=industry,
        emissions_tco2=Decimal(emissions),
        output_quantity=Decimal(output),
        value_added_10k_cny=None,
        period_end=period_end,
        platform_id="CJ-CARBON-PLATFORM",
    )


def value_added_emissions(
    emissions: str,
    value_added: str = "1000",
    industry: Industry = Industry.CHEMICALS,
    period_end: date = PRICING_DATE,
) -> Emissions:
    """Emissions of a value-added-benchmarked industry (tCO2 per 万元)."""
    return Emissions(
        industry=industry,
        emissions_tco2=Decimal(emissions),
        output_quantity=None,
        value_added_10k_cny=Decimal(value_added),
        period_end=period_end,
        platform_id="CJ-CARBON-PLATFORM",
    )


def mine(
    score: str,
    construction_class: int = 1,
    passed: bool = True,
    accepted_on: date = PRICING_DATE,
) -> MineAcceptance:
    """A coal mine's acceptance result."""
    return MineAcceptance(
        score=Decimal(score),
        construction_class=construction_class,
        mandatory_indicators_passed=passed,
        accepted_on=accepted_on,
    )


def kpis(
    before: str, after: str, reduced: str = "50000", verified_on: date = PRICING_DATE
) -> TransitionKpis:
    """Verified transition KPIs: net coal consumption before/after in g/kWh."""
    return TransitionKpis(
        annual_tco2_reduced=Decimal(reduced),
        coal_g_per_kwh_before=Decimal(before),
        coal_g_per_kwh_after=Decimal(after),
        verified_on=verified_on,
    )
