"""The scalar reference: each loan of a portfolio through the binding engine, one by one.

This is the definition of what a simulation must give: the vectorised engine
is tested equal to it on every field, and it is the baseline of the benchmark.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import numpy as np

from pricing_service.domain.engine import price
from pricing_service.domain.errors import (
    IneligibleError,
    InvalidRequestError,
    ProductNotFoundError,
)
from pricing_service.domain.evidence import (
    Emissions,
    GivenGrade,
    Industry,
    MineAcceptance,
    RepaymentMethod,
    TransitionKpis,
)
from pricing_service.domain.policy import Policy
from pricing_service.domain.quote import PricedQuote
from pricing_service.domain.rates import CTX, ZERO
from pricing_service.domain.request import QuoteRequest
from pricing_service.simulate.portfolio import ABSENT, Portfolio, micro_to_decimal
from pricing_service.simulate.results import (
    INVALID,
    PRICED,
    PRODUCT_NOT_FOUND,
    LoanResults,
    bp_to_units,
)

PLATFORM = "portfolio"
_ADJUSTMENT_STEPS = frozenset(
    {"CARBON_ADJUSTMENT", "MINE_SCORE_ADJUSTMENT", "MINE_CLASS_ADJUSTMENT", "TRANSITION_BAND"}
)


def _day(value: np.datetime64) -> date | None:
    if np.isnat(value):
        return None
    return date.fromisoformat(str(value.astype("datetime64[D]")))


def _micro(value: np.int64) -> Decimal | None:
    return None if value == ABSENT else micro_to_decimal(int(value))


def loan_request(portfolio: Portfolio, i: int, as_of: datetime) -> QuoteRequest:
    """Loan i as the engine's request at the instant `as_of` (aware)."""
    p = portfolio
    grade = None
    if p.carbon_grade[i] != ABSENT:
        assessed = _day(p.carbon_assessed_on[i])
        grade = GivenGrade(int(p.carbon_grade[i]), assessed or date.min, PLATFORM)
    emissions = None
    if p.emissions_tco2[i] != ABSENT:
        emissions = Emissions(
            industry=Industry(p.industry[i]),
            emissions_tco2=micro_to_decimal(int(p.emissions_tco2[i])),
            output_quantity=_micro(p.output_quantity[i]),
            value_added_10k_cny=_micro(p.value_added_10k_cny[i]),
            period_end=_day(p.emissions_period_end[i]) or date.min,
            platform_id=PLATFORM,
        )
    mine = None
    if p.mine_score_tenths[i] != ABSENT:
        mine = MineAcceptance(
            score=CTX.divide(Decimal(int(p.mine_score_tenths[i])), 10),
            construction_class=int(p.construction_class[i]),
            mandatory_indicators_passed=bool(p.mandatory_passed[i]),
            accepted_on=_day(p.mine_accepted_on[i]) or date.min,
        )
    kpis = None
    if p.annual_tco2_reduced[i] != ABSENT:
        kpis = TransitionKpis(
            annual_tco2_reduced=micro_to_decimal(int(p.annual_tco2_reduced[i])),
            coal_g_per_kwh_before=micro_to_decimal(int(p.coal_g_per_kwh_before[i])),
            coal_g_per_kwh_after=micro_to_decimal(int(p.coal_g_per_kwh_after[i])),
            verified_on=_day(p.kpis_verified_on[i]) or date.min,
        )
    return QuoteRequest(
        borrower_id=str(p.borrower_id[i]),
        product_id=str(p.product_id[i]),
        credit_rating=str(p.credit_rating[i]),
        principal_fen=int(p.principal_fen[i]),
        term_months=int(p.term_months[i]),
        repayment=RepaymentMethod(p.repayment[i]),
        upfront_fee_fen=int(p.upfront_fee_fen[i]),
        pricing_time=as_of,
        carbon_grade=grade,
        carbon_emissions=emissions,
        mine_score=mine,
        transition_kpis=kpis,
    )


def _adjustment(quote: PricedQuote) -> Decimal:
    total = ZERO
    for step in quote.steps:
        if step.code in _ADJUSTMENT_STEPS:
            total = CTX.add(total, Decimal(step.value))
    return total


def price_portfolio_scalar(portfolio: Portfolio, policy: Policy, as_of: datetime) -> LoanResults:
    """Every loan through `engine.price`, in order; refusals become statuses, never exceptions."""
    out = LoanResults.empty(len(portfolio))
    for i in range(len(portfolio)):
        try:
            quote = price(loan_request(portfolio, i, as_of), policy)
        except ProductNotFoundError:
            out.status[i] = PRODUCT_NOT_FOUND
            continue
        except IneligibleError as exc:
            out.status[i] = exc.reason
            continue
        except InvalidRequestError as exc:
            out.status[i] = INVALID
            out.invalid_fields[i] = ",".join(v.field for v in exc.violations)
            continue
        out.status[i] = PRICED
        out.tenor[i] = quote.tenor.value
        out.base_units[i] = bp_to_units(quote.base_bp)
        out.ordinary_units[i] = bp_to_units(quote.ordinary_bp)
        out.adjustment_units[i] = bp_to_units(_adjustment(quote))
        out.rate_units[i] = bp_to_units(quote.rate_bp)
        out.concession_units[i] = bp_to_units(quote.concession_bp)
        out.floor_binding[i] = quote.floor_binding
        out.cap_binding[i] = quote.cap_binding
        if quote.carbon is not None:
            out.carbon_grade[i] = quote.carbon.grade
            out.grade_computed[i] = quote.carbon.source == "computed"
        out.first_year_concession_fen[i] = quote.first_year_concession_fen
    return out
