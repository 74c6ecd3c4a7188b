"""Vectorised portfolio pricing: every loan at once, equal to the scalar engine on every column.

`price_portfolio` gives exactly what `reference.price_portfolio_scalar` gives
(each loan through `engine.price`), column by column, for every loan, at a
small fraction of the cost. How:

- The policy is turned into integers once (`policy_units`): rates in
  RATE_UNIT (0.0001 bp), thresholds as exact fractions or ceilings over the
  portfolio's integer units. A policy that cannot be held exactly that way is
  priced by the scalar reference instead (see policy_units.py).
- The rate factorises: the ordinary rate is a function of (fixing, rating,
  term), the product adjustment of (product, evidence), and the quoted rate is
  round_once(clamp(reference + adjustment)), where the reference is the raw
  ordinary rate or, for a product on `base` without spreads, the LPR
  (`_reference`, from PolicyUnits.on_lpr). All of it is int64 addition,
  comparison and one integer rounding (exact_int.round_to_step).
- Refusals follow the scalar engine's order: each check sees only the loans no
  earlier check refused (`_Verdicts`), so a loan gets the same first refusal.
- Comparisons of decimals (carbon K bounds, transition bands) are
  cross-multiplications, exact in int64 where the operands are provably small
  enough and in Python integers otherwise (exact_int.product_sign).
- The first-year concession is exact integer arithmetic for the linear
  repayment methods and a certified float candidate with an exact scalar
  fallback for equal instalments (concession.py).

Where the scalar reference cannot even build a request or finish a quote,
it raises (ValueError, or the lookup or arithmetic error it hits) and so does
this, with ValueError: an unknown repayment method, an industry outside the
enum on a loan with emissions, an evidence date outside years 1-9999 on
evidence the loan carries, and on a loan that reaches that step a mine score
above 100, a coal consumption "before" of 0 or an industry without a
benchmark in the policy.

The lower-level functions below (ordinary_units, final_rate_units, the
adjustment functions, first_year_concession_fen) are the same code, for
callers that re-price many scenarios of one portfolio (Monte Carlo,
calibration): compute the ordinary part once, vary adjustments, re-round.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from pricing_service.domain.engine import beijing_date
from pricing_service.domain.errors import NoFixingInForceError
from pricing_service.domain.policy import Policy
from pricing_service.simulate.concession import METHODS, first_year_concession_fen
from pricing_service.simulate.exact_int import fits, less_than, product_sign, round_to_step
from pricing_service.simulate.policy_units import (
    INDUSTRY_CODES,
    Benchmark,
    CarbonRules,
    MineRules,
    PolicyUnits,
    TransitionRules,
    UnitsUnavailableError,
    policy_units,
)
from pricing_service.simulate.portfolio import ABSENT, Portfolio
from pricing_service.simulate.reference import price_portfolio_scalar
from pricing_service.simulate.results import INVALID, PRICED, PRODUCT_NOT_FOUND, LoanResults

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Texts = npt.NDArray[np.object_]
Codes = npt.NDArray[np.int8]

# Status codes, positions in STATUS_NAMES; 0 is "not refused (yet)".
STATUS_NAMES = (
    PRICED,
    PRODUCT_NOT_FOUND,
    INVALID,
    "NO_FIXING_IN_FORCE",
    "EVIDENCE_TOO_OLD",
    "CARBON_GRADE_INELIGIBLE",
    "MANDATORY_INDICATOR_FAILED",
    "MINE_SCORE_BELOW_MINIMUM",
    "TRANSITION_KPI_BELOW_MINIMUM",
)
(
    _OPEN,
    _NOT_FOUND,
    _INVALID,
    _NO_FIXING,
    _TOO_OLD,
    _GRADE_INELIGIBLE,
    _MANDATORY_FAILED,
    _SCORE_BELOW,
    _KPI_BELOW,
) = range(len(STATUS_NAMES))

# Invalid-field codes: 1-15 are the term violations as bits (engine.term_violations
# lists them in this order), then one code per evidence field.
_TERM_FIELDS = ("credit_rating", "term_months", "principal_fen", "upfront_fee_fen")
_EVIDENCE_FIELDS = (
    "carbon_emissions",
    "carbon_grade",
    "carbon_grade.assessed_on",
    "carbon_emissions.period_end",
    "carbon_emissions.output_quantity",
    "carbon_emissions.value_added_10k_cny",
    "mine_score",
    "mine_score.accepted_on",
    "mine_score.construction_class",
    "transition_kpis",
    "transition_kpis.verified_on",
)
FIELD_NAMES = (
    "",
    *(
        ",".join(f for bit, f in enumerate(_TERM_FIELDS) if bits >> bit & 1)
        for bits in range(1, 1 << len(_TERM_FIELDS))
    ),
    *_EVIDENCE_FIELDS,
)
_FIELD = {name: code for code, name in enumerate(FIELD_NAMES) if code >= 1 << len(_TERM_FIELDS)}

_STATUS_ARRAY = np.array(STATUS_NAMES, dtype=object)
_FIELD_ARRAY = np.array(FIELD_NAMES, dtype=object)
_TENOR_ARRAY = np.array(["", "1Y", "5Y+"], dtype=object)
_REPAYMENT_CODES = {method.value: code for code, method in enumerate(METHODS)}

# Absent evidence dates become date.min in the reference (so they are too old).
_DAY_MIN = int(np.datetime64(date.min, "D").astype(np.int64))
_DAY_MAX = int(np.datetime64(date.max, "D").astype(np.int64))
_NAT = np.iinfo(np.int64).min
_MAX_SCORE_TENTHS = 1000
_CUT_SAFE = 2**62 - 1  # |before|, |after| within this: before - after fits int64


class _Verdicts:
    """Each loan's first refusal, in the scalar engine's order.

    A check refuses only loans still open, so whatever it finds on a loan an
    earlier check refused is ignored, as the scalar engine never reaches it.
    """

    __slots__ = ("field", "open", "status")

    def __init__(self, n: int) -> None:
        self.status: Codes = np.zeros(n, dtype=np.int8)
        self.field: Codes = np.zeros(n, dtype=np.int8)
        self.open: Bools = np.ones(n, dtype=np.bool_)

    def refuse(
        self, mask: Bools, status: int, field: int | Ints = 0, at: Ints | None = None
    ) -> None:
        """Refuse the open loans of `mask` (over all loans, or over the positions `at`)."""
        hit = mask & (self.open if at is None else self.open[at])
        if not hit.any():
            return
        rows = hit if at is None else at[hit]
        self.status[rows] = status
        self.field[rows] = field if isinstance(field, int) else field[hit]
        self.open[rows] = False


@dataclass(frozen=True, slots=True)
class _Adjusted:
    """What a product's rules gave the loans of one product (positions within that subset)."""

    verdicts: _Verdicts
    adjustment: Ints
    grade: Ints | None = None
    computed: Bools | None = None


@dataclass(frozen=True, slots=True)
class OrdinaryUnits:
    """The ordinary-rate part of each loan, in RATE_UNIT.

    `known` is False where the rating is not in the policy or the term is
    outside its range (those loans are refused; their other values are
    meaningless). `raw` is base + spread + term spread before rounding: the
    quoted rate is final_rate_units(raw, adjustment), not a function of `rate`.
    """

    base: Ints
    raw: Ints
    rate: Ints
    five_year: Bools  # the 5Y+ LPR applies (term above the policy's split)
    known: Bools


# --- reusable building blocks -------------------------------------------------------------


def ordinary_units(portfolio: Portfolio, policy: Policy, as_of: datetime) -> OrdinaryUnits:
    """Each loan's ordinary rate at the instant `as_of`, as the engine computes it.

    Raises NoFixingInForceError when no LPR fixing was published by `as_of`,
    UnitsUnavailableError for a policy the integer engine cannot hold exactly.
    """
    units = policy_units(policy)
    fixing = policy.fixings.index_in_force(_aware(as_of))
    rating = _codes(portfolio.credit_rating, units.ratings, len(units.ratings))
    term = portfolio.term_months
    return _ordinary(units, fixing, rating, term, _known(units, rating, term))


def reference_units(portfolio: Portfolio, policy: Policy, as_of: datetime) -> Ints:
    """The rate each loan's product adjustment is added to, in RATE_UNIT, at `as_of`.

    The raw ordinary rate (OrdinaryUnits.raw), or the LPR of the tenor
    (OrdinaryUnits.base) for a product whose reference is `base` without spreads;
    the quoted rate is final_rate_units(reference, adjustment). A loan of an
    unknown product gets the raw ordinary rate (it is refused anyway).
    """
    units = policy_units(policy)
    product = _codes(portfolio.product_id, units.products, -1)
    return _reference(units, product, ordinary_units(portfolio, policy, as_of))


def _reference(units: PolicyUnits, product: Ints, ordinary: OrdinaryUnits) -> Ints:
    """reference_units for product codes (-1 for an unknown product)."""
    return np.asarray(np.where(units.on_lpr[product], ordinary.base, ordinary.raw), dtype=np.int64)


def _known(units: PolicyUnits, rating: Ints, term: Ints) -> Bools:
    """Rating in the policy and term within its range: the ordinary rate is meaningful."""
    in_range = (term >= units.min_term_months) & (term <= units.max_term_months)
    return np.asarray((rating < len(units.ratings)) & in_range, dtype=np.bool_)


def final_rate_units(
    reference_units: Ints, adjustment_units: Ints, policy: Policy
) -> tuple[Ints, Bools, Bools]:
    """The quoted rate from the reference rate and the product adjustment, in RATE_UNIT.

    The reference is the raw ordinary rate (OrdinaryUnits.raw) for a product on
    the ordinary rate, the LPR for one on `base` without spreads: reference_units().

    Returns (rate, floor_binding, cap_binding) per loan: the sum is clamped to
    the policy's floor and cap and rounded once to its step by its mode, as
    engine.price does. Inputs must be within +-2**52 units (any rate a policy
    can produce is). Exact: integer arithmetic only.
    """
    return _final(policy_units(policy), reference_units + adjustment_units)


def carbon_grade_adjustment_units(
    policy: Policy, product_id: str, grades: Ints
) -> tuple[Ints, Bools]:
    """(adjustment units, eligible) of a carbon-account product for each grade.

    A grade the product does not list is ineligible (adjustment 0): the engine
    refuses it with CARBON_GRADE_INELIGIBLE.
    """
    rules = _rules(policy, product_id, CarbonRules)
    return rules.grades.lookup(grades)


def computed_carbon_grades(
    policy: Policy, industry: str, emissions_micro: Ints, activity_micro: Ints
) -> Ints:
    """The grade the engine computes from emissions and activity (micro units), per loan.

    `activity_micro` is the output quantity or value added, whichever the
    industry's benchmark is on. Activity <= 0 is refused by the engine
    (INVALID_ARGUMENT); it gives grade -1 here.
    """
    bench = policy_units(policy).industries[industry]
    grade = _grade(bench, emissions_micro, activity_micro)
    return np.where(activity_micro > 0, grade, -1)


def mine_score_adjustment_units(
    policy: Policy, product_id: str, score_tenths: Ints, construction_class: Ints
) -> tuple[Ints, Bools]:
    """(adjustment units, eligible) of a mine-score product per (score in tenths, class).

    Eligible: score 0-100 and at least the product's minimum, class listed by
    the product. Evidence age and the mandatory indicators are the caller's
    (the engine checks them first).
    """
    rules = _rules(policy, product_id, MineRules)
    in_range = (score_tenths >= 0) & (score_tenths <= _MAX_SCORE_TENTHS)
    class_units, class_ok = rules.classes.lookup(construction_class)
    ok = in_range & class_ok & ~less_than(score_tenths, rules.min_tenths)
    curve = rules.curve[np.clip(score_tenths, 0, _MAX_SCORE_TENTHS)]
    return np.where(ok, curve + class_units, 0), ok


def transition_adjustment_units(
    policy: Policy, product_id: str, coal_before_micro: Ints, coal_after_micro: Ints
) -> tuple[Ints, Bools]:
    """(adjustment units, eligible) of a transition product per (coal g/kWh before, after).

    Eligible: some band's reduction is met (exact cross-multiplication).
    The minimum annual reduction and evidence age are the caller's. A
    "before" of 0 is not meaningful (the engine divides by it).
    """
    rules = _rules(policy, product_id, TransitionRules)
    return _bands(rules, coal_before_micro, coal_after_micro)


__all__ = [
    "FIELD_NAMES",
    "STATUS_NAMES",
    "OrdinaryUnits",
    "UnitsUnavailableError",
    "carbon_grade_adjustment_units",
    "computed_carbon_grades",
    "final_rate_units",
    "first_year_concession_fen",
    "mine_score_adjustment_units",
    "ordinary_units",
    "price_portfolio",
    "reference_units",
    "transition_adjustment_units",
]


_R = TypeVar("_R", CarbonRules, MineRules, TransitionRules)


def _rules(policy: Policy, product_id: str, kind: type[_R]) -> _R:
    units = policy_units(policy)
    code = units.products.get(product_id)
    rules = None if code is None else units.product_units[code].rules
    if not isinstance(rules, kind):
        raise ValueError(f"{product_id!r} is not a {kind.__name__[:-5].lower()} product")
    return rules


def _aware(as_of: datetime) -> datetime:
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be an aware datetime")
    return as_of


def _codes(column: Texts, table: Mapping[str, int], missing: int) -> Ints:
    """Each text of `column` as its code in `table`, `missing` where it has none."""
    return np.fromiter(
        map(table.get, column, itertools.repeat(missing)), dtype=np.int64, count=len(column)
    )


def _ordinary(
    units: PolicyUnits, fixing: int, rating: Ints, term: Ints, known: Bools
) -> OrdinaryUnits:
    """The ordinary part of each loan; `known` is passed through (see OrdinaryUnits)."""
    five = term > units.tenor_split_months
    base = units.base[fixing][five.astype(np.intp)]
    grid = _ordinary_grid(units, fixing)
    if grid is None:
        raw = _ordinary_raw(units, fixing, rating, term)
        rate = round_to_step(raw, units.step, units.mode)
    else:
        # Terms outside the policy's range are refused: clipping only keeps them in the table.
        cell = rating * (units.max_term_months + 1) + np.clip(term, 0, units.max_term_months)
        raw, rate = grid[0][cell], grid[1][cell]
    return OrdinaryUnits(base, raw, rate, five, known)


def _ordinary_raw(units: PolicyUnits, fixing: int, rating: Ints, term: Ints) -> Ints:
    """The LPR of the term's tenor + the rating's spread + the term's band spread."""
    base = units.base[fixing][(term > units.tenor_split_months).astype(np.intp)]
    band = np.searchsorted(units.tenor_max_months, term, side="left")  # ends increase
    return np.asarray(base + units.spread[rating] + units.tenor_add[band], dtype=np.int64)


_GRID_LIMIT = 1 << 20


def _ordinary_grid(units: PolicyUnits, fixing: int) -> tuple[Ints, Ints] | None:
    """(raw, rounded) ordinary rate by rating code x term 0..max, for one fixing (memoised).

    The same function as per loan, evaluated once per (rating, term): a
    portfolio then reads it with one index. None when the table would be huge.
    """
    terms = units.max_term_months + 1
    if len(units.spread) * terms > _GRID_LIMIT:
        return None
    key = ("ordinary", fixing)
    grid: tuple[Ints, Ints] | None = units.memo.get(key)
    if grid is None:
        rating = np.repeat(np.arange(len(units.spread), dtype=np.int64), terms)
        term = np.tile(np.arange(terms, dtype=np.int64), len(units.spread))
        raw = _ordinary_raw(units, fixing, rating, term)
        grid = (raw, round_to_step(raw, units.step, units.mode))
        units.memo[key] = grid
    return grid


def _final(units: PolicyUnits, raw: Ints) -> tuple[Ints, Bools, Bools]:
    floor_binding = raw < units.floor
    cap_binding = raw > units.cap
    # The engine takes the floor first (elif): kept even for a floor above the cap.
    bounded = np.where(floor_binding, units.floor, np.where(cap_binding, units.cap, raw))
    # round_to_step divides at 34 digits in the scalar engine: for |raw| < 2**52
    # units and a step <= 2**50 units the quotient is below 10^16 and a non-tie
    # is at least 1/(2 step) > 10^-16 from a tie, while 34-digit rounding moves
    # it by under 10^-17: the integer rounding here gives the same multiple.
    rate = round_to_step(bounded, units.step, units.mode)
    return rate, floor_binding, cap_binding


def _grade(bench: Benchmark, emissions: Ints, activity: Ints) -> Ints:
    """The first grade i + 1 whose bound emissions <= k_i x benchmark x activity holds."""
    grade = np.full(len(emissions), len(bench.bounds) + 1, dtype=np.int64)
    for i in reversed(range(len(bench.bounds))):
        num, den = bench.bounds[i]
        within = product_sign(emissions, den, activity, num) <= 0
        grade = np.where(within, i + 1, grade)
    return grade


def _bands(rules: TransitionRules, before: Ints, after: Ints) -> tuple[Ints, Bools]:
    """The first band whose cut x 100 >= min% x before holds, exactly."""
    if fits(before, _CUT_SAFE).all() and fits(after, _CUT_SAFE).all():
        cut: Ints | npt.NDArray[np.object_] = before - after
    else:
        cut = before.astype(object) - after.astype(object)
    adjustment = np.zeros(len(before), dtype=np.int64)
    matched = np.zeros(len(before), dtype=np.bool_)
    for band in rules.bands:
        meets = (product_sign(cut, 100 * band.den, before, band.num) >= 0) & ~matched
        adjustment[meets] = band.adjust
        matched |= meets
    return adjustment, matched


def _days(column: npt.NDArray[np.datetime64]) -> Ints:
    """Day numbers of a date column; an absent date (NaT) is date.min, as in the reference."""
    days = _day_numbers(column)
    return np.where(days == _NAT, _DAY_MIN, days)


def _day_numbers(column: npt.NDArray[np.datetime64]) -> Ints:
    """Days since 1970-01-01 (NaT as int64 min), without a copy for a datetime64[D] column."""
    if column.dtype != np.dtype("datetime64[D]"):
        column = column.astype("datetime64[D]")
    return column.view(np.int64)


def _check_age(
    verdicts: _Verdicts, days: Ints, pricing_day: int, max_age: int, field: int | Ints
) -> None:
    verdicts.refuse(days > pricing_day, _INVALID, field)
    verdicts.refuse(pricing_day - days > max_age, _TOO_OLD)


# --- the product rules, over the loans of one product ---------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    portfolio: Portfolio
    units: PolicyUnits
    pricing_day: int


def _carbon(ctx: _Context, rules: CarbonRules, rows: Ints) -> _Adjusted:
    p = ctx.portfolio
    v = _Verdicts(len(rows))
    given = p.carbon_grade[rows]
    emissions = p.emissions_tco2[rows]
    has_grade = given != ABSENT
    has_emissions = emissions != ABSENT
    v.refuse(has_grade & has_emissions, _INVALID, _FIELD["carbon_emissions"])
    v.refuse(~has_grade & ~has_emissions, _INVALID, _FIELD["carbon_grade"])
    days = np.where(
        has_grade, _days(p.carbon_assessed_on[rows]), _days(p.emissions_period_end[rows])
    )
    field = np.where(
        has_grade, _FIELD["carbon_grade.assessed_on"], _FIELD["carbon_emissions.period_end"]
    )
    _check_age(v, days, ctx.pricing_day, ctx.units.evidence_max_age_days, field)
    grade = given.copy()
    computing = np.flatnonzero(v.open & has_emissions)
    if len(computing):
        grade[computing] = _computed_grades(ctx, v, rows, computing)
    adjustment, eligible = rules.grades.lookup(grade)
    v.refuse(~eligible, _GRADE_INELIGIBLE)
    return _Adjusted(v, adjustment, grade, has_emissions)


def _computed_grades(ctx: _Context, v: _Verdicts, rows: Ints, computing: Ints) -> Ints:
    """Grades of the loans at `computing` (positions in `rows`), refusing bad activity."""
    p = ctx.portfolio
    loans = rows[computing]
    benches = list(ctx.units.industries.values())
    industry = _codes(
        p.industry[loans], {name: code for code, name in enumerate(ctx.units.industries)}, -1
    )
    if (industry < 0).any():
        missing = p.industry[loans][industry < 0][0]
        raise ValueError(f"industry {missing!r} has no benchmark in the policy")
    on_output = np.array([b.on_output for b in benches], dtype=np.bool_)[industry]
    activity = np.where(on_output, p.output_quantity[loans], p.value_added_10k_cny[loans])
    field = np.where(
        on_output,
        _FIELD["carbon_emissions.output_quantity"],
        _FIELD["carbon_emissions.value_added_10k_cny"],
    )
    # Absent activity is ABSENT (-1): "required and > 0" covers both.
    v.refuse(activity <= 0, _INVALID, field, at=computing)
    emissions = p.emissions_tco2[loans]
    grade = np.full(len(loans), -1, dtype=np.int64)
    for code in np.unique(industry):
        sel = industry == code
        grade[sel] = _grade(benches[code], emissions[sel], activity[sel])
    return grade


def _mine(ctx: _Context, rules: MineRules, rows: Ints) -> _Adjusted:
    p = ctx.portfolio
    v = _Verdicts(len(rows))
    tenths = p.mine_score_tenths[rows]
    v.refuse(tenths == ABSENT, _INVALID, _FIELD["mine_score"])
    days = _days(p.mine_accepted_on[rows])
    _check_age(
        v, days, ctx.pricing_day, ctx.units.evidence_max_age_days, _FIELD["mine_score.accepted_on"]
    )
    v.refuse(~p.mandatory_passed[rows], _MANDATORY_FAILED)
    v.refuse(less_than(tenths, rules.min_tenths), _SCORE_BELOW)
    class_units, class_ok = rules.classes.lookup(p.construction_class[rows])
    v.refuse(~class_ok, _INVALID, _FIELD["mine_score.construction_class"])
    # The engine indexes its 1001-entry table by the score in tenths, as a Python
    # list: a negative index wraps, one past either end raises.
    size = len(rules.curve)
    reach = v.open & ((tenths < -size) | (tenths >= size))
    if reach.any():
        raise ValueError(f"mine score {tenths[reach][0] / 10} is outside the curve (0-100)")
    curve = rules.curve[np.where(v.open, tenths, 0)]
    return _Adjusted(v, curve + class_units)


def _transition(ctx: _Context, rules: TransitionRules, rows: Ints) -> _Adjusted:
    p = ctx.portfolio
    v = _Verdicts(len(rows))
    annual = p.annual_tco2_reduced[rows]
    v.refuse(annual == ABSENT, _INVALID, _FIELD["transition_kpis"])
    days = _days(p.kpis_verified_on[rows])
    _check_age(
        v,
        days,
        ctx.pricing_day,
        ctx.units.evidence_max_age_days,
        _FIELD["transition_kpis.verified_on"],
    )
    v.refuse(less_than(annual, rules.min_annual_micro), _KPI_BELOW)
    before = p.coal_g_per_kwh_before[rows]
    if (v.open & (before == 0)).any():
        raise ValueError("coal_g_per_kwh_before is 0: the engine divides by it")
    adjustment, matched = _bands(rules, before, p.coal_g_per_kwh_after[rows])
    v.refuse(~matched, _KPI_BELOW)
    return _Adjusted(v, adjustment)


# --- the portfolio ----------------------------------------------------------------------------


def _check_requests(portfolio: Portfolio) -> Ints:
    """What the reference's loan_request() would raise on; returns the repayment codes."""
    p = portfolio
    method = _codes(p.repayment, _REPAYMENT_CODES, -1)
    if (method < 0).any():
        raise ValueError(f"{p.repayment[method < 0][0]!r} is not a valid RepaymentMethod")
    has_emissions = p.emissions_tco2 != ABSENT
    if has_emissions.any():
        industries = p.industry[has_emissions]
        unknown = _codes(industries, INDUSTRY_CODES, -1) < 0
        if unknown.any():
            raise ValueError(f"{industries[unknown][0]!r} is not a valid Industry")
    for dates, evidence in (
        (p.carbon_assessed_on, p.carbon_grade),
        (p.emissions_period_end, p.emissions_tco2),
        (p.mine_accepted_on, p.mine_score_tenths),
        (p.kpis_verified_on, p.annual_tco2_reduced),
    ):
        days = _day_numbers(dates)
        # Only NaT (int64 min) may lie below date.min: counting is cheaper than masking.
        below = np.count_nonzero(days < _DAY_MIN) - np.count_nonzero(days == _NAT)
        if below or days.max(initial=_DAY_MIN) > _DAY_MAX:
            outside = (days != _NAT) & ((days < _DAY_MIN) | (days > _DAY_MAX))
            if (outside & (evidence != ABSENT)).any():
                raise ValueError("an evidence date is outside years 1-9999")
    return method


def _term_bits(units: PolicyUnits, p: Portfolio, rating: Ints) -> Ints:
    """engine.term_violations as bits, in its order."""
    term, principal = p.term_months, p.principal_fen
    bits = (rating == len(units.ratings)).astype(np.int64)
    bits |= ((term < units.min_term_months) | (term > units.max_term_months)) << 1
    bits |= (principal > units.max_principal_fen) << 2
    bits |= ((p.upfront_fee_fen >= principal) & (principal > 0)) << 3
    return np.asarray(bits, dtype=np.int64)


def _apply_products(ctx: _Context, product: Ints, v: _Verdicts) -> tuple[Ints, Ints, Bools]:
    """Adjustment, carbon grade and grade-computed of each loan (0, -1, False if none)."""
    n = len(product)
    adjustment = np.zeros(n, dtype=np.int64)
    grade = np.full(n, -1, dtype=np.int64)
    computed = np.zeros(n, dtype=np.bool_)
    for code, pu in enumerate(ctx.units.product_units):
        rules = pu.rules
        if rules is None:
            continue  # a standard product: no adjustment, no evidence
        rows = np.flatnonzero((product == code) & v.open).astype(np.int64)
        if not len(rows):
            continue
        if isinstance(rules, CarbonRules):
            done = _carbon(ctx, rules, rows)
        elif isinstance(rules, MineRules):
            done = _mine(ctx, rules, rows)
        else:
            assert isinstance(rules, TransitionRules)
            done = _transition(ctx, rules, rows)
        v.status[rows] = done.verdicts.status
        v.field[rows] = done.verdicts.field
        v.open[rows] = done.verdicts.open
        adjustment[rows] = done.adjustment
        if done.grade is not None and done.computed is not None:
            grade[rows] = done.grade
            computed[rows] = done.computed
    return adjustment, grade, computed


@dataclass(frozen=True, slots=True)
class _Quote:
    """Everything of the priced loans, over all loans (refused rows hold leftovers)."""

    ordinary: OrdinaryUnits
    adjustment: Ints
    rate: Ints
    floor_binding: Bools
    cap_binding: Bools
    grade: Ints
    computed: Bools
    fen: Ints


def price_portfolio(portfolio: Portfolio, policy: Policy, as_of: datetime) -> LoanResults:
    """Price every loan of `portfolio` under `policy` at the instant `as_of` (aware).

    Equal, column by column, to reference.price_portfolio_scalar. A policy the
    integer engine cannot hold exactly (policy_units.UnitsUnavailableError) is
    priced by that scalar reference instead.
    """
    _aware(as_of)
    try:
        units = policy_units(policy)
    except UnitsUnavailableError:
        return price_portfolio_scalar(portfolio, policy, as_of)
    return _price(portfolio, policy, units, as_of)


def _price(p: Portfolio, policy: Policy, units: PolicyUnits, as_of: datetime) -> LoanResults:
    method = _check_requests(p)
    product = _codes(p.product_id, units.products, -1)
    rating = _codes(p.credit_rating, units.ratings, len(units.ratings))
    v = _Verdicts(len(p))
    v.refuse(product < 0, _NOT_FOUND)
    bits = _term_bits(units, p, rating)
    v.refuse(bits != 0, _INVALID, bits)
    try:
        fixing = policy.fixings.index_in_force(as_of)
    except NoFixingInForceError:
        v.refuse(v.open, _NO_FIXING)
        return _results(v, None)
    ordinary = _ordinary(units, fixing, rating, p.term_months, _known(units, rating, p.term_months))
    pricing_day = int(np.datetime64(beijing_date(as_of), "D").astype(np.int64))
    adjustment, grade, computed = _apply_products(_Context(p, units, pricing_day), product, v)
    reference = _reference(units, product, ordinary)
    rate, floor_binding, cap_binding = _final(units, reference + adjustment)
    priced = np.flatnonzero(v.open)
    fen = np.zeros(len(p), dtype=np.int64)
    fen[priced] = first_year_concession_fen(
        p.principal_fen[priced],
        p.term_months[priced],
        method[priced],
        ordinary.rate[priced],
        rate[priced],
    )
    quote = _Quote(ordinary, adjustment, rate, floor_binding, cap_binding, grade, computed, fen)
    return _results(v, quote)


def _results(v: _Verdicts, quote: _Quote | None) -> LoanResults:
    status = _STATUS_ARRAY[v.status]
    fields = _FIELD_ARRAY[v.field]
    if quote is None:
        empty = LoanResults.empty(len(v.open))
        return dataclasses.replace(empty, status=status, invalid_fields=fields)
    priced = v.open
    refused = np.flatnonzero(~priced)
    o = quote.ordinary
    concession = o.rate - quote.rate
    tenor = o.five_year.astype(np.int8) + 1
    # Every array here is this call's own: refused loans are zeroed in place.
    for values in (o.base, o.rate, quote.adjustment, quote.rate, concession, tenor):
        values[refused] = 0
    quote.grade[refused] = -1
    return LoanResults(
        status=status,
        invalid_fields=fields,
        tenor=_TENOR_ARRAY[tenor],
        base_units=o.base,
        ordinary_units=o.rate,
        adjustment_units=quote.adjustment,
        rate_units=quote.rate,
        concession_units=concession,
        floor_binding=priced & quote.floor_binding,
        cap_binding=priced & quote.cap_binding,
        carbon_grade=quote.grade,
        grade_computed=priced & quote.computed,
        first_year_concession_fen=quote.fen,
    )
