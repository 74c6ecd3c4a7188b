"""The first-year concession in fen over many loans, equal to schedule.first_year_concession_fen.

The concession is the interest of the first min(12, n) months at the ordinary
rate minus that at the quoted rate, rounded half-even to the fen once.

Interest-only and equal-principal loans: the interest is linear in the rate,
so the concession is P x D x times / den for integers (D the rate difference in
units, den = 1200e6 or 2400e6 x n) and is computed exactly with one rounding
(exact_int.mul_div_round, exact though P x D x times overflows int64). The
scalar engine divides the same exact numerator once at 34 digits before
rounding to the fen, which cannot move the result: the quotient is a multiple
of 1/den (den <= 2^42 here), so when it is not a half-fen tie it is at least
1/(2 den) > 10^-13 away from one, while 34-digit rounding of a quotient below
2^54 moves it by less than 10^-17; a tie has a short decimal form and divides
exactly. Rows beyond those sizes go to the scalar function.

Equal-instalment (等额本息) loans: the scalar engine computes with 34-digit
Decimal powers. Here a float64 candidate is computed from a formula without
cancellation, with a proven error bound (see _annuity_candidate); where the
candidate is farther than the bound from every half-fen boundary, the exact
value and the scalar's value round to the same fen as the candidate does.
Every other row, and every loan outside the bound's assumptions, goes to the
scalar function itself. No float ever becomes an amount unless certified.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from pricing_service.domain import schedule
from pricing_service.domain.evidence import RepaymentMethod
from pricing_service.simulate.exact_int import HALF_EVEN, mul_div_round
from pricing_service.simulate.results import units_to_percent

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

METHODS = tuple(RepaymentMethod)  # a repayment code is a position in this tuple
EQUAL_INSTALLMENT = METHODS.index(RepaymentMethod.EQUAL_INSTALLMENT)
EQUAL_PRINCIPAL = METHODS.index(RepaymentMethod.EQUAL_PRINCIPAL)
INTEREST_ONLY = METHODS.index(RepaymentMethod.INTEREST_ONLY_BULLET)

UNITS_PER_PERCENT = 1_000_000  # rate units (0.0001 bp) per percent
_IO_DEN = 1200 * UNITS_PER_PERCENT  # P a k / 1200, a in percent
_EP_DEN = 2400 * UNITS_PER_PERCENT  # P a (2nk - k(k-1)) / (2400 n), times n per row
_MAX_EP_TERM = 1832  # keeps the denominator 2400e6 x n within 2**42 (mul_div_round)
_UNITS_PER_UNIT_MONTHLY = 1200 * UNITS_PER_PERCENT  # a monthly rate r of 1 (1200 %/year)
_U = 2.0**-53  # unit roundoff of float64
_SAFETY = 16.0
# The float candidate's assumptions: the principal is exact in float64, rates
# are 0-100% a year, terms at most this many months.
_MAX_FLOAT_PRINCIPAL = 2**53
_MAX_FLOAT_UNITS = 100 * UNITS_PER_PERCENT
_MAX_FLOAT_TERM = 10**6


def first_year_concession_fen(
    principal_fen: Ints, term_months: Ints, method: Ints, ordinary_units: Ints, rate_units: Ints
) -> Ints:
    """schedule.first_year_concession_fen for each loan, exactly.

    Rates are in RATE_UNIT (the ordinary rate and the quoted one); `method` is
    each loan's position in METHODS (RepaymentMethod order). Terms of at least
    one month; any principal (the result must fit int64, as the scalar's must
    fit the results column).
    """
    out = np.zeros(len(principal_fen), dtype=np.int64)
    delta = ordinary_units - rate_units
    # An equal rate saves exactly nothing (the scalar subtracts two equal amounts).
    for code, fill in (
        (INTEREST_ONLY, _linear),
        (EQUAL_PRINCIPAL, _linear),
        (EQUAL_INSTALLMENT, _annuity),
    ):
        rows = np.flatnonzero((method == code) & (delta != 0))
        if len(rows):
            out[rows] = fill(
                code, principal_fen[rows], term_months[rows], ordinary_units[rows], rate_units[rows]
            )
    return out


def _scalar(code: int, principal: Ints, term: Ints, ordinary: Ints, rate: Ints) -> Ints:
    """The defining scalar function, loan by loan (it is cached by its arguments)."""
    method = METHODS[code]
    return np.array(
        [
            schedule.first_year_concession_fen(
                int(p), units_to_percent(int(o)), units_to_percent(int(r)), int(n), method
            )
            for p, n, o, r in zip(principal, term, ordinary, rate, strict=True)
        ],
        dtype=np.int64,
    )


def _linear(code: int, principal: Ints, term: Ints, ordinary: Ints, rate: Ints) -> Ints:
    k = np.minimum(term, 12)
    if code == INTEREST_ONLY:
        times = k
        den = np.full(len(term), _IO_DEN, dtype=np.int64)
    else:
        short = np.minimum(term, _MAX_EP_TERM)
        times = 2 * short * k - k * (k - 1)
        den = np.where(term <= _MAX_EP_TERM, _EP_DEN * short, 0)
    out, done = mul_div_round(principal, ordinary - rate, times, den, HALF_EVEN)
    rest = np.flatnonzero(~done | (term < 1))
    if len(rest):
        out[rest] = _scalar(code, principal[rest], term[rest], ordinary[rest], rate[rest])
    return out


def _annuity(code: int, principal: Ints, term: Ints, ordinary: Ints, rate: Ints) -> Ints:
    eligible = (
        (np.abs(principal) <= _MAX_FLOAT_PRINCIPAL)
        & (ordinary >= 0)
        & (ordinary <= _MAX_FLOAT_UNITS)
        & (rate >= 0)
        & (rate <= _MAX_FLOAT_UNITS)
        & (term >= 1)
        & (term <= _MAX_FLOAT_TERM)
    )
    out = np.empty(len(principal), dtype=np.int64)
    candidate, bound = _annuity_candidate(principal, term, ordinary, rate)
    # Distance to the nearest half-fen boundary; both subtractions are exact.
    distance = np.abs(candidate - np.floor(candidate) - 0.5)
    certified = eligible & np.isfinite(candidate) & (distance > bound)
    out[certified] = np.rint(candidate[certified]).astype(np.int64)
    rest = np.flatnonzero(~certified)
    if len(rest):
        out[rest] = _scalar(code, principal[rest], term[rest], ordinary[rest], rate[rest])
    return out


def _annuity_candidate(
    principal: Ints, term: Ints, ordinary: Ints, rate: Ints
) -> tuple[Floats, Floats]:
    """A float64 first-year concession of equal-instalment loans and a bound on its error.

    With r the monthly rate, E_j = (1 + r)^j - 1 and k = min(12, n), the
    interest of the first k months is P r (k - S / E_n), S = E_1 + ... + E_{k-1}
    (the balance after j payments is P (E_n - E_j) / E_n), and S = r x the sum
    over i = 2..k of C(k, i) r^(i-2). Every term is positive and
    S / E_n <= (k - 1) / 2, so nothing cancels: the concession is
    P (r_o B_o - r_q B_q) with B = k - S / E_n.

    Float error, with u = 2^-53 and x = n log1p(r) (libm log1p and expm1 within
    4u): E_n = expm1(x) within (10 + 6x)u (condition of expm1 at most 1 + x);
    S by Horner over positive terms within (2k + 2)u <= 26u, plus at most
    k u from r itself being rounded (allowing 52u covers both); S / E_n
    within (63 + 6x)u; B within k (64 + 6x)u absolutely;
    r B within r k (66 + 6x)u, plus r k (2 + x)u from r itself being rounded
    (r dB/dr is at most k (1 + x)). So each rate contributes at most
    r k (80 + 8x)u, the final difference and product u each of at most
    |P| k max(r). That total is multiplied by 16 for second-order terms.

    The scalar engine's own value differs from the exact one too: it computes at
    34 digits (relative 5e-34 a step, powers within a few thousand of that), and
    its cancellations (1 + r)^j - 1 lose at most a factor 1 / (j r). Its error
    is below |P| (1 + 1 / r) 1e-28 per positive rate, added to the bound.
    """
    p = principal.astype(np.float64)
    k = np.minimum(term, 12)
    n = term.astype(np.float64)
    value_o, error_o = _rate_part(ordinary, n, k)
    value_q, error_q = _rate_part(rate, n, k)
    r_max = np.maximum(ordinary, rate) / float(_UNITS_PER_UNIT_MONTHLY)
    candidate = p * (value_o - value_q)
    float_error = np.abs(p) * (error_o + error_q + 2.0 * _U * k * r_max)
    scalar_error = np.abs(p) * 1e-28 * (_inverse_or_zero(ordinary) + _inverse_or_zero(rate))
    return candidate, _SAFETY * float_error + scalar_error


def _inverse_or_zero(units: Ints) -> Floats:
    """1 + 1/r for a positive monthly rate r, 0 for a zero rate (whose interest is exactly 0)."""
    r = np.maximum(units, 1) / float(_UNITS_PER_UNIT_MONTHLY)
    return np.where(units > 0, 1.0 + 1.0 / r, 0.0)


def _rate_part(units: Ints, n: Floats, k: Ints) -> tuple[Floats, Floats]:
    """(r B, its error bound) per loan for the annual rate `units`; 0 for a zero rate."""
    positive = units > 0
    # A zero rate computes with r = 1 and is masked: the scalar engine returns 0 there.
    r = np.where(positive, units, _UNITS_PER_UNIT_MONTHLY) / float(_UNITS_PER_UNIT_MONTHLY)
    x = n * np.log1p(r)
    with np.errstate(over="ignore"):
        e_n = np.expm1(x)  # inf past 709: S / E_n is then 0, true to far below the bound
    s = r * _binomial_tail(r, k)
    value = r * (k - s / e_n)
    error = r * k * (80.0 + 8.0 * x) * _U
    return np.where(positive, value, 0.0), np.where(positive, error, 0.0)


def _binomial_tail(r: Floats, k: Ints) -> Floats:
    """S / r = sum over i = 2..k of C(k, i) r^(i-2), for each row's k (mostly 12)."""
    out = _horner(r, 12)
    short = np.flatnonzero(k < 12)
    for kk in np.unique(k[short]):
        rows = short[k[short] == kk]
        out[rows] = _horner(r[rows], int(kk))
    return out


def _horner(r: Floats, k: int) -> Floats:
    """sum over i = 2..k of C(k, i) r^(i-2) by Horner: positive terms, no cancellation."""
    acc = np.full(len(r), float(math.comb(k, k)) if k >= 2 else 0.0)
    for i in range(k - 1, 1, -1):
        acc *= r
        acc += math.comb(k, i)
    return acc


__all__ = [
    "EQUAL_INSTALLMENT",
    "EQUAL_PRINCIPAL",
    "INTEREST_ONLY",
    "METHODS",
    "first_year_concession_fen",
]
