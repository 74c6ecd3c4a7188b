"""A validated quote request, as the engine sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pricing_service.domain.evidence import (
    Emissions,
    GivenGrade,
    MineAcceptance,
    RepaymentMethod,
    TransitionKpis,
)


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """Everything a quote depends on, including the pricing instant (aware, UTC)."""

    borrower_id: str
    product_id: str
    credit_rating: str
    principal_fen: int
    term_months: int
    repayment: RepaymentMethod
    upfront_fee_fen: int
    pricing_time: datetime
    carbon_grade: GivenGrade | None = None
    carbon_emissions: Emissions | None = None
    mine_score: MineAcceptance | None = None
    transition_kpis: TransitionKpis | None = None
