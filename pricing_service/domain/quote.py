"""A priced quote with its full, bilingual breakdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from pricing_service.domain.evidence import ProductKind, Reference, Tenor
from pricing_service.domain.schedule import RepaymentSummary


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the computation: code, value (decimal string), unit, reasons."""

    code: str
    value: str
    unit: str
    reason_zh: str
    reason_en: str


@dataclass(frozen=True, slots=True)
class CarbonAssessment:
    """The carbon grade that priced the quote and where it came from."""

    grade: int
    source: str  # "given" or "computed"
    efficiency_k: str
    level: str


@dataclass(frozen=True, slots=True)
class PricedQuote:
    """The engine's result; ids and audit positions are added by the service."""

    product_id: str
    product_kind: ProductKind
    pricing_time: datetime
    pricing_date: date
    valid_until: datetime
    rate_bp: Decimal
    ordinary_bp: Decimal
    tenor: Tenor
    base_bp: Decimal
    base_published_at: datetime
    concession_bp: Decimal
    first_year_concession_fen: int
    annualised_percent: Decimal
    repayment: RepaymentSummary
    floor_binding: bool
    cap_binding: bool
    steps: tuple[Step, ...]
    policy_version: str
    policy_digest: str
    carbon: CarbonAssessment | None
    # What the product adjustment was taken from; the concession is always measured
    # against the ordinary rate (ordinary_bp), whichever it is.
    reference: Reference = Reference.ORDINARY
