"""Loan-year weights: what one rounding step of concession saves in each year of a loan, exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from pricing_service.domain.evidence import RepaymentMethod
from pricing_service.domain.rates import CTX
from pricing_service.simulate.exact_int import round_half_even_objects

Ints = npt.NDArray[np.int64]
Int32s = npt.NDArray[np.int32]
Signed = npt.NDArray[np.signedinteger[Any]]

_UNITS_PER_PERCENT = 1_000_000
# One month's interest in fen = balance_fen x rate_units / this (12 months, 100 percent,
# 10^6 rate units per percent).
_MONTH_INTEREST_DEN = 12 * 100 * _UNITS_PER_PERCENT


@dataclass(frozen=True, slots=True)
class Weights:
    """Per priced loan and year (rows: years 1..Y): what one rounding step saves, and the volume.

    A concession of d rate units saves d x N_t / 1.2e9 fen in loan-year t, N_t the
    year's fen-months (equal principal: n times them over a denominator n times
    larger, to stay exact). For d = m rounding steps that is m x (q_t x den + r_t)
    / den, split so that the hot loop's products stay small.
    """

    q: Ints
    r: Ints
    den: Ints
    volume: Ints  # fen-months outstanding in the year (rounded half-even to the fen-month)
    months: Ints  # months of the year before maturity (0 after)


def concession_fen(m: Signed, q: Ints, r: Ints, den: Ints) -> Ints:
    """round_half_even(m x (q x den + r) / den) elementwise, exactly, in int64.

    m is a concession in rounding steps; (q, r) split one step's exact saving in
    a loan-year, q x den + r over den fen, so that no product overflows (the
    caller checks m x r and m x q against the int64 range).
    """
    am = np.abs(m).astype(np.int64)
    x = am * r
    whole = x // den
    rem = x - whole * den
    base = am * q + whole
    twice = 2 * rem
    up = (twice > den) | ((twice == den) & ((base & 1) == 1))
    out = base + up
    # Half-even is symmetric, so a negative concession is the negated positive one.
    return np.asarray(np.where(m < 0, -out, out), dtype=np.int64)


def nonnegative_fen(m: Int32s, q: Ints, r: Ints, den: Ints) -> Ints:
    """concession_fen() for m >= 0, in place where it can: the hot loop's case."""
    x = np.multiply(m, r, dtype=np.int64)
    whole = x // den
    x -= whole * den  # the remainder
    x <<= 1
    out = np.multiply(m, q, dtype=np.int64)
    out += whole
    # A half-fen tie is rare: round those to even apart, after rounding the rest up
    # when the remainder is over half.
    tie = np.flatnonzero(x == den)
    out += x > den
    if tie.size:
        flat = out.reshape(-1)
        flat[tie] += flat[tie] & 1
    return out


def _annuity_ratios(ordinary_units: int, n: int, years: int) -> list[Fraction]:
    """Per year, the sum over its months of the ordinary-rate annuity balance / principal.

    The balance after j months of an annuity over n months at monthly rate r is
    P (g^n - g^j) / (g^n - 1) with g = 1 + r; summed over j = a..a+k-1 that is
    P (k g^n - g^a (g^k - 1) / r) / (g^n - 1), evaluated under CTX.
    """
    out = []
    with localcontext(CTX):
        r = Decimal(ordinary_units) / (1200 * _UNITS_PER_PERCENT)
        g = 1 + r
        gn = g**n
        for t in range(years):
            a = 12 * t
            k = max(0, min(12, n - a))
            if k == 0:
                out.append(Fraction(0))
            elif r == 0:
                out.append(Fraction(2 * k * (n - a) - k * (k - 1), 2 * n))
            else:
                total = (k * gn - g**a * (g**k - 1) / r) / (gn - 1)
                out.append(Fraction(total))
    return out


def loan_year_weights(
    principal: Ints,
    term: Ints,
    method: npt.NDArray[np.object_],
    ordinary: Ints,
    years: int,
    step: int,
) -> Weights:
    """The weights of each loan (columns) in each year (rows), for concessions in `step` units."""
    # Python integers (object arrays) throughout: a principal of 5e11 fen times a
    # 34-digit annuity ratio is far beyond int64; the results are checked into it.
    n_loans = len(principal)
    gcd = math.gcd(step, _MONTH_INTEREST_DEN)
    mult, base_den = step // gcd, _MONTH_INTEREST_DEN // gcd
    p = principal.astype(object)
    n = term.astype(np.int64)
    bullet = method == RepaymentMethod.INTEREST_ONLY_BULLET.value
    linear = method == RepaymentMethod.EQUAL_PRINCIPAL.value
    annuity = ~(bullet | linear)
    den = np.where(linear, base_den * n, base_den).astype(np.int64)
    # Annuity balances depend on (ordinary rate, term) and scale with the principal.
    keys = np.stack([ordinary, n], axis=1)[annuity]
    groups, group_of = np.unique(keys, axis=0, return_inverse=True)
    ratios = [_annuity_ratios(int(o), int(m), years) for o, m in groups]
    q = np.zeros((years, n_loans), dtype=np.int64)
    r = np.zeros((years, n_loans), dtype=np.int64)
    volume = np.zeros((years, n_loans), dtype=np.int64)
    months = np.zeros((years, n_loans), dtype=np.int64)
    for t in range(years):
        a = 12 * t
        k = np.clip(n - a, 0, 12)
        months[t] = k
        # Equal principal: the balance before month j (0-based) is P (n - j) / n; over
        # the year's months that sums to P (k (n - a) - k (k - 1) / 2) / n, the
        # schedule's first-year formula (2nk - k(k-1) halves) moved to year t.
        linear_sum = p * (k * (n - a) - k * (k - 1) // 2)
        num = np.where(bullet, p * k, np.where(linear, linear_sum, 0))
        vol = np.where(
            linear, round_half_even_objects(linear_sum, np.maximum(n, 1).astype(object)), num
        )
        if annuity.any():
            index = group_of.reshape(-1)
            ratio_num = np.array([x[t].numerator for x in ratios], dtype=object)[index]
            ratio_den = np.array([x[t].denominator for x in ratios], dtype=object)[index]
            fen_months = round_half_even_objects(p[annuity] * ratio_num, ratio_den)
            num[annuity] = fen_months
            vol[annuity] = fen_months
        scaled = num * mult
        whole = scaled // den.astype(object)
        q[t] = whole.astype(np.int64)
        r[t] = (scaled - whole * den.astype(object)).astype(np.int64)
        volume[t] = vol.astype(np.int64)
    return Weights(q, r, den, volume, months)
