"""Vectorised portfolio pricing (being built: delegates to the scalar reference for now)."""

from __future__ import annotations

from datetime import datetime

from pricing_service.domain.policy import Policy
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.reference import price_portfolio_scalar
from pricing_service.simulate.results import LoanResults


def price_portfolio(portfolio: Portfolio, policy: Policy, as_of: datetime) -> LoanResults:
    """Price every loan of `portfolio` under `policy` at the instant `as_of`."""
    return price_portfolio_scalar(portfolio, policy, as_of)
