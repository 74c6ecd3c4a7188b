"""Repayment summaries, first-year interest and the annualised rate (IRR).

Amounts are exact decimals, rounded once to the fen at the end. The monthly
rate is the annual rate ÷ 12; the annualised rate is the monthly IRR × 12, as
PBoC Announcement [2021] No. 3 discloses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import (
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq

from pricing_service.domain.evidence import RepaymentMethod
from pricing_service.domain.rates import CTX, ONE, ZERO, exact, round_fen

TWELVE = Decimal(12)
HUNDRED = Decimal(100)
_1200 = Decimal(1200)
_QUANTA = tuple(Decimal(1).scaleb(-d) for d in range(7))  # 1, 0.1, ... 0.000001
# Products whose every digit must be kept (numerators of the linear amounts):
# a product too long for 60 digits raises instead of rounding.
_EXACT = Context(
    prec=60,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)


@dataclass(frozen=True, slots=True)
class RepaymentSummary:
    """First payment, totals and instalment count of a repayment plan, in fen."""

    method: RepaymentMethod
    installments: int
    first_payment_fen: int
    total_payment_fen: int
    total_interest_fen: int


@lru_cache(maxsize=4096)
def monthly_rate(annual_percent: Decimal) -> Decimal:
    """Annual percent -> monthly rate as a fraction (a function of the value: cached)."""
    return CTX.divide(annual_percent, _1200)


@lru_cache(maxsize=16384)
def _growth(r: Decimal, n: int) -> Decimal:
    """(1 + r)^n under CTX; a function of the values only, so it is cached."""
    return CTX.power(CTX.add(ONE, r), n)


def _annuity_payment(principal: Decimal, r: Decimal, n: int) -> Decimal:
    if r == ZERO:
        return CTX.divide(principal, Decimal(n))
    growth = _growth(r, n)
    return CTX.divide(CTX.multiply(CTX.multiply(principal, r), growth), CTX.subtract(growth, ONE))


def _linear_interest(
    p: Decimal, annual_percent: Decimal, n: int, method: RepaymentMethod, k: int
) -> Decimal:
    """Interest of the first k months for the methods where it is linear in the rate.

    Interest-only: P a k / 1200. Equal principal: the sum over j < k of
    (P - jP/n) a/1200 = P a (2nk - k(k-1)) / (2400 n). The numerator is an exact
    product and the one division is correctly rounded, so an amount with a short
    decimal form (every half-fen tie) is exact: dividing by 1200 first would put
    4.00%/12 = 0.00333... into it and push a tie like 9.5 fen a hair below .5.
    """
    times = k if method is RepaymentMethod.INTEREST_ONLY_BULLET else 2 * n * k - k * (k - 1)
    numerator = _EXACT.multiply(_EXACT.multiply(p, annual_percent), times)
    return CTX.divide(
        numerator, _1200 if method is RepaymentMethod.INTEREST_ONLY_BULLET else 2400 * n
    )


@lru_cache(maxsize=16384)
@exact
def summary(
    principal_fen: int, annual_percent: Decimal, term_months: int, method: RepaymentMethod
) -> RepaymentSummary:
    """The repayment summary of a loan at `annual_percent` for `term_months`."""
    return _summary(principal_fen, annual_percent, term_months, method)


@exact
def interest_first_months(
    principal_fen: int, annual_percent: Decimal, term_months: int, method: RepaymentMethod, k: int
) -> Decimal:
    """Exact interest paid in the first `k` months (k ≤ term)."""
    return _interest_first_months(principal_fen, annual_percent, term_months, method, k)


@lru_cache(maxsize=16384)
@exact
def first_year_concession_fen(
    principal_fen: int,
    ordinary_percent: Decimal,
    quoted_percent: Decimal,
    term_months: int,
    method: RepaymentMethod,
) -> int:
    """First-year interest saved at the quoted rate versus the ordinary rate."""
    return _first_year(principal_fen, ordinary_percent, quoted_percent, term_months, method)


@lru_cache(maxsize=16384)
@exact
def loan_figures(
    principal_fen: int,
    fee_fen: int,
    ordinary_percent: Decimal,
    quoted_percent: Decimal,
    term_months: int,
    method: RepaymentMethod,
    decimals: int,
) -> tuple[RepaymentSummary, int, Decimal]:
    """summary(), first_year_concession_fen() and annualised_percent() of one quote.

    One cache lookup and one decimal context for the three; each is a function of
    the values of its arguments (results are whole fen or quantized to
    `decimals`), so the Decimal exponents of the arguments do not matter.
    """
    return (
        _summary(principal_fen, quoted_percent, term_months, method),
        _first_year(principal_fen, ordinary_percent, quoted_percent, term_months, method),
        _annualised(principal_fen, fee_fen, quoted_percent, term_months, method, decimals),
    )


# The functions below assume CTX is the current context (the public ones set it).


def _summary(
    principal_fen: int, annual_percent: Decimal, term_months: int, method: RepaymentMethod
) -> RepaymentSummary:
    p = Decimal(principal_fen)
    n = Decimal(term_months)
    if method is RepaymentMethod.EQUAL_INSTALLMENT:
        a = _annuity_payment(p, monthly_rate(annual_percent), term_months)
        first, total = a, CTX.multiply(a, n)
    elif method is RepaymentMethod.EQUAL_PRINCIPAL:
        # P/n + P a/1200 = P (1200 + a n) / (1200 n), in one division (see _linear_interest).
        first = CTX.divide(
            _EXACT.multiply(p, _EXACT.fma(annual_percent, n, _1200)), _EXACT.multiply(_1200, n)
        )
        # P r (n + 1) / 2 is the interest of all n months.
        total = p + _linear_interest(p, annual_percent, term_months, method, term_months)
    else:
        interest = _linear_interest(p, annual_percent, term_months, method, term_months)
        monthly = _linear_interest(p, annual_percent, term_months, method, 1)
        first = monthly + p if term_months == 1 else monthly
        total = p + interest
    total_fen = round_fen(total)
    return RepaymentSummary(
        method=method,
        installments=term_months,
        first_payment_fen=round_fen(first),
        total_payment_fen=total_fen,
        total_interest_fen=total_fen - principal_fen,
    )


def _interest_first_months(
    principal_fen: int, annual_percent: Decimal, term_months: int, method: RepaymentMethod, k: int
) -> Decimal:
    p = Decimal(principal_fen)
    if method is not RepaymentMethod.EQUAL_INSTALLMENT:
        return _linear_interest(p, annual_percent, term_months, method, k)
    r = monthly_rate(annual_percent)
    if r == ZERO:
        return ZERO
    a = _annuity_payment(p, r, term_months)
    growth = _growth(r, k)
    balance = CTX.multiply(p, growth) - CTX.divide(CTX.multiply(a, growth - ONE), r)
    return CTX.multiply(a, Decimal(k)) - (p - balance)


def _first_year(
    principal_fen: int,
    ordinary_percent: Decimal,
    quoted_percent: Decimal,
    term_months: int,
    method: RepaymentMethod,
) -> int:
    if ordinary_percent == quoted_percent:
        return 0  # no concession (every standard loan): both formulas give exactly 0
    k = min(12, term_months)
    if method is not RepaymentMethod.EQUAL_INSTALLMENT:
        # Linear in the rate: the saving is the interest at the rate difference,
        # computed in one division so that a half-fen tie stays exact.
        delta = _EXACT.subtract(ordinary_percent, quoted_percent)
        saved = _linear_interest(Decimal(principal_fen), delta, term_months, method, k)
    else:
        saved = _interest_first_months(
            principal_fen, ordinary_percent, term_months, method, k
        ) - _interest_first_months(principal_fen, quoted_percent, term_months, method, k)
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


@lru_cache(maxsize=16384)
@exact
def annualised_percent(
    principal_fen: int,
    fee_fen: int,
    annual_percent: Decimal,
    term_months: int,
    method: RepaymentMethod,
    decimals: int,
) -> Decimal:
    """Annualised rate in percent including upfront fees, correctly rounded.

    The candidate is the IRR found in floating point; the Decimal present value
    then certifies the rounded answer (the true root lies within half a unit of
    it), so the disclosed figure never depends on float noise.
    """
    return _annualised(principal_fen, fee_fen, annual_percent, term_months, method, decimals)


def _annualised(
    principal_fen: int,
    fee_fen: int,
    annual_percent: Decimal,
    term_months: int,
    method: RepaymentMethod,
    decimals: int,
) -> Decimal:
    quantum = _QUANTA[decimals] if 0 <= decimals < len(_QUANTA) else ONE.scaleb(-decimals)
    if fee_fen == 0:
        # With no fee the cash flows discount at the contract rate exactly.
        return annual_percent.quantize(quantum)
    fast = _annualised_fast(principal_fen, fee_fen, annual_percent, term_months, method, quantum)
    if fast is not None:
        return fast
    return _annualised_reference(
        principal_fen, fee_fen, annual_percent, term_months, method, quantum
    )


def _annualised_reference(
    principal_fen: int,
    fee_fen: int,
    annual_percent: Decimal,
    term_months: int,
    method: RepaymentMethod,
    quantum: Decimal,
) -> Decimal:
    """The defining computation: brentq start, then the Decimal certification walk."""
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

    # The bracket [-0.99, 10] fails in two corners, where brentq raised
    # ValueError: a fee close to the principal puts the monthly IRR above 1000%
    # (widen upwards), and at -0.99 the discount factor 100^n overflows for
    # n >= 154, so a zero payment (interest-only at 0%) gives inf x 0 = NaN
    # (start at the contract rate instead, where the NPV is the fee, > 0).
    low, high = -0.99, 10.0
    if not npv(low) > 0:
        low = float(monthly_rate(annual_percent))
    while npv(high) > 0 and high < 1e15:
        high *= 10
    half = quantum / 2
    try:
        # Float noise can leave no sign change (a 1-fen fee on 10^16 fen): no start then.
        root = brentq(npv, low, high, xtol=1e-15, maxiter=500) if npv(high) <= 0 else None
    except ValueError:
        root = None
    if root is not None:
        candidate = Decimal(repr(root * 1200)).quantize(quantum)
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
    # A fee that leaves a sliver of the principal puts the IRR so high (1e15 % and
    # more) that a double cannot place it within 100 quanta, or brentq cannot
    # bracket it: decide it in Decimal alone, by bisection on the quantum grid.
    return _annualised_bisect(payments, received, annual_percent, quantum)


def _annualised_bisect(
    payments: list[Decimal], received: Decimal, annual_percent: Decimal, quantum: Decimal
) -> Decimal:
    """The least grid rate k x quantum whose upper half-quantum boundary has PV ≤ received.

    PV falls as the rate rises, so "PV at (k + 1/2) quantum ≤ received" is false
    below the answer and true from it on; at the answer the lower boundary's PV
    is above what was received: the rate the certification walk accepts.
    """
    half = quantum / 2

    def settled(k: int) -> bool:
        return _pv(payments, monthly_rate(CTX.multiply(Decimal(k), quantum) + half)) <= received

    # Below the contract rate the PV exceeds the principal, hence what was received.
    k_lo = int(CTX.divide(annual_percent, quantum).to_integral_value(rounding=ROUND_FLOOR)) - 1
    k_hi = max(k_lo + 1, int(CTX.divide(HUNDRED, quantum)))
    while not settled(k_hi):
        k_lo, k_hi = k_hi, 2 * k_hi
    while k_hi - k_lo > 1:
        mid = (k_lo + k_hi) // 2
        if settled(mid):
            k_hi = mid
        else:
            k_lo = mid
    return CTX.multiply(Decimal(k_hi), quantum)


# --- the fast path of the annualised rate ---------------------------------------------------
#
# The reference above answers one question per rounding boundary b: is the Decimal
# present value _pv(payments, b) above, below or equal to the amount received?
# A float present value with a proven error far below _FILTER x PV answers it
# whenever the two differ by more than that; only closer calls are decided by
# the Decimal _pv itself. From any start the walk ends at the one candidate whose
# two boundaries bracket the amount received, which is the reference's answer,
# unless a boundary's Decimal PV equals the amount exactly: then two candidates
# qualify, the start decides, and the fast path hands over to the reference.
#
# Error of the float PV, relative to the exact PV of the same payments: with
# x = -n log1p(i) <= 0, expm1(x) keeps its few-ulp accuracy (condition number at
# most 1 there) and exp(x) is within about |x| ulp; the float payments are within
# a few ulp of the Decimal ones. Measured against 60-digit sums over n 1-360,
# monthly i 1e-12-200 and rates to 30%: under 4e-16 for the closed form of equal
# instalments / interest-only, under 5e-13 for the equal-principal one (which
# cancels as n i -> 0, hence its term-by-term sum below n i = 1e-3). The filter,
# 1e-9, leaves three orders of magnitude and more.

_FILTER = 1e-9
_MAX_WALK = 8


def _pv_closed(first: float, last_extra: float, i: float, n: int) -> float:
    """PV of n equal payments `first`, the last one larger by `last_extra`."""
    if i == 0.0:
        return first * n + last_extra
    x = -n * math.log1p(i)
    annuity = -math.expm1(x) / i  # (1 - v^n) / i without cancellation
    return first * annuity + last_extra * math.exp(x)


def _annualised_fast(
    principal_fen: int,
    fee_fen: int,
    annual_percent: Decimal,
    n: int,
    method: RepaymentMethod,
    quantum: Decimal,
) -> Decimal | None:
    """The reference's answer, or None when only the reference can give it."""
    p = Decimal(principal_fen)
    received = p - Decimal(fee_fen)
    received_f = float(received)
    r = monthly_rate(annual_percent)
    pv: Callable[[float], float]
    if method is RepaymentMethod.EQUAL_PRINCIPAL:
        part = CTX.divide(p, Decimal(n))
        part_f, r_f = float(part), float(r)
        level = part_f + float(p) * r_f
        falling = part_f * r_f
        pay: npt.NDArray[np.float64] | None = None

        def pv(i: float) -> float:
            # Payment k (1..n) is level - falling (k - 1): PV = level a_n -
            # falling (a_n - n v^n) / i. The difference cancels as n i -> 0
            # (about 2/(n i) digits' worth); below n i = 1e-3 the PV is summed
            # term by term instead, where every term is positive.
            nonlocal pay
            if abs(n * i) >= 1e-3 and i > -0.5:
                x = -n * math.log1p(i)
                annuity = -math.expm1(x) / i
                return level * annuity - falling * (annuity - n * math.exp(x)) / i
            if pay is None:
                pay = part_f + (float(p) - part_f * _arange(n)) * r_f
            return float(np.dot(pay, np.power(1.0 / (1.0 + i), _arange(n) + 1.0)))

        duration = (n + 1) / 2
    elif method is RepaymentMethod.EQUAL_INSTALLMENT:
        a = float(_annuity_payment(p, r, n))

        def pv(i: float) -> float:
            return _pv_closed(a, 0.0, i, n)

        duration = (n + 1) / 2
    else:
        interest = CTX.multiply(p, r)
        interest_f, principal_f = float(interest), float(p)

        def pv(i: float) -> float:
            return _pv_closed(interest_f, principal_f, i, n)

        duration = float(n)

    # Secant from the contract rate. PV is convex and falling in the rate, so
    # from two points left of the root every secant step stays left of it and
    # the iterates rise to it. The second start is a Newton step with a
    # duration no shorter than the true one: also left of the root.
    # Iterates converge superlinearly, so once a step moves the annual rate by less
    # than 1e-4 of the quantum the candidate is settled (the walk below corrects
    # the rare one that a boundary closer than that puts on the wrong side).
    settled = float(quantum) * 1e-4 / 1200
    i0 = float(r)
    f0 = pv(i0) - received_f
    i1 = i0 + float(fee_fen) / (float(p) * duration)
    f1 = pv(i1) - received_f
    for _ in range(100):
        if not (math.isfinite(f1) and math.isfinite(i1)) or i1 <= -0.99:
            return None
        if f1 == f0 or abs(i1 - i0) <= settled:
            break
        i0, i1, f0 = i1, i1 - f1 * (i1 - i0) / (f1 - f0), f1
        f1 = pv(i1) - received_f
    else:
        return None
    candidate = Decimal(repr(i1 * 1200)).quantize(quantum)
    half = quantum / 2
    payments: list[Decimal] = []

    def side(boundary: Decimal) -> int | None:
        """Sign of _pv(payments, boundary) - received; None when not decidable here."""
        i = float(boundary) / 1200
        if i <= -0.99:
            return None
        approx = pv(i)
        if not math.isfinite(approx):
            return None
        margin = _FILTER * max(approx, received_f)
        if approx - received_f > margin:
            return 1
        if received_f - approx > margin:
            return -1
        if not payments:
            payments.extend(_payments(p, annual_percent, n, method))
        exact_pv = _pv(payments, monthly_rate(boundary))
        if exact_pv == received:
            return None  # a tie: the reference's start decides
        return 1 if exact_pv > received else -1

    for _ in range(_MAX_WALK):
        lo = side(candidate - half)
        if lo is None:
            return None
        if lo < 0:
            candidate -= quantum
            continue
        hi = side(candidate + half)
        if hi is None:
            return None
        if hi > 0:
            candidate += quantum
            continue
        return candidate
    return None


@lru_cache(maxsize=512)
def _arange(n: int) -> npt.NDArray[np.float64]:
    """0.0, 1.0, ... n - 1 (shared, never written to)."""
    out = np.arange(n, dtype=np.float64)
    out.flags.writeable = False
    return out
