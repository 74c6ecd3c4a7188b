"""Repayment summaries, first-year interest and the annualised rate (IRR).

Amounts are exact decimals, rounded once to the fen at the end. The monthly
rate is the annual rate ÷ 12; the annualised rate is the monthly IRR × 12, as
PBoC Announcement [2021] No. 3 discloses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from scipy.optimize import brentq

from pricing_service.domain.evidence import RepaymentMethod
from pricing_service.domain.rates import CTX, ONE, ZERO, round_fen

TWELVE = Decimal(12)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class RepaymentSummary:
    """First payment, totals and instalment count of a repayment plan, in fen."""

    method: RepaymentMethod
    installments: int
    first_payment_fen: int
    total_payment_fen: int
    total_interest_fen: int


def monthly_rate(annual_percent: Decimal) -> Decimal:
    """Annual percent -> monthly rate as a fraction."""
    return CTX.divide(annual_percent, Decimal(1200))


def _annuity_payment(principal: Decimal, r: Decimal, n: int) -> Decimal:
    if r == ZERO:
        return CTX.divide(principal, Decimal(n))
    growth = CTX.power(ONE + r, n)
    return CTX.divide(CTX.multiply(CTX.multiply(principal, r), growth), growth - ONE)


def summary(
    principal_fen: int, annual_percent: Decimal, term_months: int, method: RepaymentMethod
) -> RepaymentSummary:
    """The repayment summary of a loan at `annual_percent` for `term_months`."""
    p = Decimal(principal_fen)
    r = monthly_rate(annual_percent)
    n = Decimal(term_months)
    if method is RepaymentMethod.EQUAL_INSTALLMENT:
        a = _annuity_payment(p, r, term_months)
        first, total = a, CTX.multiply(a, n)
    elif method is RepaymentMethod.EQUAL_PRINCIPAL:
        first = CTX.divide(p, n) + CTX.multiply(p, r)
        interest = CTX.divide(CTX.multiply(CTX.multiply(p, r), n + ONE), Decimal(2))
        total = p + interest
    else:
        monthly = CTX.multiply(p, r)
        first = monthly + (p if term_months == 1 else ZERO)
        total = p + CTX.multiply(monthly, n)
    total_fen = round_fen(total)
    return RepaymentSummary(
        method=method,
        installments=term_months,
        first_payment_fen=round_fen(first),
        total_payment_fen=total_fen,
        total_interest_fen=total_fen - principal_fen,
    )


def interest_first_months(
    principal_fen: int, annual_percent: Decimal, term_months: int, method: RepaymentMethod, k: int
) -> Decimal:
    """Exact interest paid in the first `k` months (k ≤ term)."""
    p = Decimal(principal_fen)
    r = monthly_rate(annual_percent)
    kd = Decimal(k)
    if method is RepaymentMethod.INTEREST_ONLY_BULLET:
        return CTX.multiply(CTX.multiply(p, r), kd)
    if method is RepaymentMethod.EQUAL_PRINCIPAL:
        n = Decimal(term_months)
        # sum over j < k of (P - jP/n) r = P r (k - k(k-1)/(2n))
        return CTX.multiply(CTX.multiply(p, r), kd - CTX.divide(kd * (kd - ONE), Decimal(2) * n))
    a = _annuity_payment(p, r, term_months)
    if r == ZERO:
        return ZERO
    growth = CTX.power(ONE + r, k)
    balance = CTX.multiply(p, growth) - CTX.divide(CTX.multiply(a, growth - ONE), r)
    return CTX.multiply(a, kd) - (p - balance)


def first_year_concession_fen(
    principal_fen: int,
    ordinary_percent: Decimal,
    quoted_percent: Decimal,
    term_months: int,
    method: RepaymentMethod,
) -> int:
    """First-year interest saved at the quoted rate versus the ordinary rate."""
    k = min(12, term_months)
    saved = interest_first_months(
        principal_fen, ordinary_percent, term_months, method, k
    ) - interest_first_months(principal_fen, quoted_percent, term_months, method, k)
    return round_fen(saved)


def _payments(
    principal: Decimal, annual_percent: Decimal, n: int, method: RepaymentMethod
) -> list[Decimal]:
    r = monthly_rate(annual_percent)
    if method is RepaymentMethod.EQUAL_INSTALLMENT:
        return [_annuity_payment(principal, r, n)] * n
    if method is RepaymentMethod.EQUAL_PRINCIPAL:
        part = CTX.divide(principal, Decimal(n))
        return [part + CTX.multiply(principal - part * Decimal(j), r) for j in range(n)]
    interest = CTX.multiply(principal, r)
    return [interest] * (n - 1) + [interest + principal]


def _pv(payments: list[Decimal], i: Decimal) -> Decimal:
    total, discount, factor = ZERO, ONE, CTX.divide(ONE, ONE + i)
    for payment in payments:
        discount = CTX.multiply(discount, factor)
        total += CTX.multiply(payment, discount)
    return total


@lru_cache(maxsize=4096)
def annualised_percent(
    principal_fen: int,
    fee_fen: int,
    annual_percent: Decimal,
    term_months: int,
    method: RepaymentMethod,
    decimals: int,
) -> Decimal:
    """Annualised rate in percent including upfront fees, correctly rounded.

    scipy's brentq finds the IRR in floating point; the Decimal present value
    then certifies the rounded answer (the true root lies within half a unit of
    it), so the disclosed figure never depends on float noise.
    """
    quantum = Decimal(1).scaleb(-decimals)
    if fee_fen == 0:
        # With no fee the cash flows discount at the contract rate exactly.
        return annual_percent.quantize(quantum)
    p = Decimal(principal_fen)
    payments = _payments(p, annual_percent, term_months, method)
    received = p - Decimal(fee_fen)
    floats = [float(x) for x in payments]

    def npv(monthly: float) -> float:
        d, total = 1.0, 0.0
        for x in floats:
            d /= 1.0 + monthly
            total += x * d
        return total - float(received)

    root = brentq(npv, -0.99, 10.0, xtol=1e-15, maxiter=500)
    candidate = Decimal(repr(root * 1200)).quantize(quantum)
    half = quantum / 2
    for _ in range(100):
        lo = _pv(payments, monthly_rate(candidate - half))
        hi = _pv(payments, monthly_rate(candidate + half))
        # PV falls as the rate rises; the root is bracketed when lo ≥ received ≥ hi.
        if lo < received:
            candidate -= quantum
        elif hi > received:
            candidate += quantum
        else:
            return candidate
    raise ArithmeticError("annualised rate did not converge")  # pragma: no cover
