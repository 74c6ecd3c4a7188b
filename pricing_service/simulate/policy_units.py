"""A policy's numbers as exact integers, the form the vectorised engine computes in.

Rates become int64 counts of RATE_UNIT (0.0001 bp); decimal thresholds become
fractions or ceilings over the portfolio's integer units (micro, tenths), so
that every comparison the scalar engine makes on Decimals is the same
comparison on integers.

Some policies cannot be held this way: a rate finer than RATE_UNIT, a number
so long that the scalar engine's 34-digit products round (then the scalar
comparison is against a rounded value, and only the scalar engine reproduces
it), a table with a sparse key range. `policy_units` refuses those with
UnitsUnavailableError; `vector.price_portfolio` then prices with the scalar
reference instead.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from pricing_service.domain.evidence import Industry, ProductKind
from pricing_service.domain.policy import Policy, Product
from pricing_service.simulate.exact_int import HALF_EVEN, HALF_UP, scaled_ceiling, scaled_exact
from pricing_service.simulate.portfolio import MICRO
from pricing_service.simulate.results import UNITS_PER_BP

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# Every policy rate, in units, is at most this in magnitude. Sums of four stay
# below 2**52: exact in int64 and in float64 (the concession's candidate), and
# small enough that the scalar's 34-digit division by the rounding step is
# exact wherever it matters (see round_step_units in vector.py).
RATE_LIMIT = 2**50
# Digits of an int64 (a micro value's Decimal has at most this many).
INT64_DIGITS = 19
DECIMAL_DIGITS = 34  # precision of the scalar engine's context (rates.CTX)
_MAX_TABLE_SPAN = 4096
_MEMO_KEY = ("simulate.policy_units",)


class UnitsUnavailableError(ValueError):
    """The policy holds a number the integer engine cannot reproduce exactly."""


@dataclass(frozen=True, slots=True)
class IntTable:
    """A mapping of small integer keys (grades, classes) to rate units, as arrays."""

    low: int
    values: Ints
    present: Bools

    @classmethod
    def of(cls, mapping: Mapping[int, int], what: str) -> IntTable:
        """The table of `mapping` (its keys must span at most a few thousand)."""
        if not mapping:
            return cls(0, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.bool_))
        low, high = min(mapping), max(mapping)
        if high - low >= _MAX_TABLE_SPAN:
            raise UnitsUnavailableError(f"{what}: keys {low}..{high} span too wide a range")
        values = np.zeros(high - low + 1, dtype=np.int64)
        present = np.zeros(high - low + 1, dtype=np.bool_)
        for key, value in mapping.items():
            values[key - low] = value
            present[key - low] = True
        return cls(low, values, present)

    def lookup(self, keys: Ints) -> tuple[Ints, Bools]:
        """(value, whether the key is in the mapping) per key; value 0 where it is not."""
        if not len(self.values):
            return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=np.bool_)
        high = self.low + len(self.values) - 1
        # clip() first: keys - low could wrap for keys near the int64 limits.
        position = np.clip(keys, self.low, high) - self.low
        inside = (keys >= self.low) & (keys <= high) & self.present[position]
        return np.where(inside, self.values[position], 0), np.asarray(inside, dtype=np.bool_)


@dataclass(frozen=True, slots=True)
class CarbonRules:
    """A carbon-account product: adjustment units by eligible grade."""

    grades: IntTable


@dataclass(frozen=True, slots=True)
class MineRules:
    """A mine-score product in integer form."""

    min_tenths: int  # a score in tenths below this is below the policy minimum
    curve: Ints  # adjustment units by score in tenths, 0..1000
    classes: IntTable


@dataclass(frozen=True, slots=True)
class Band:
    """A transition band: cut x 100 x den >= num x before (micro) earns `adjust` units."""

    num: int
    den: int
    adjust: int


@dataclass(frozen=True, slots=True)
class TransitionRules:
    """A transition product in integer form."""

    min_annual_micro: int  # annual reduction (micro) below this is below the minimum
    bands: tuple[Band, ...]


Rules = CarbonRules | MineRules | TransitionRules | None


@dataclass(frozen=True, slots=True)
class ProductUnits:
    """One product: its kind and its rules in integer form (None for standard)."""

    product_id: str
    kind: ProductKind
    rules: Rules


@dataclass(frozen=True, slots=True)
class Benchmark:
    """An industry benchmark: grade bound i holds when emissions x den_i <= num_i x activity."""

    on_output: bool
    bounds: tuple[tuple[int, int], ...]  # (num, den) of k_upper[i] x benchmark


@dataclass(frozen=True, slots=True)
class PolicyUnits:
    """Every number of a policy the vectorised engine uses, as exact integers."""

    ratings: Mapping[str, int]  # rating -> code; an unknown rating codes as len(ratings)
    spread: Ints  # by rating code, with a trailing 0 for unknown ratings
    tenor_split_months: int
    tenor_max_months: Ints  # increasing band ends
    tenor_add: Ints  # by band, with a trailing 0 past the last band
    base: Ints  # shape (fixings, 2): [1Y, 5Y+] units of each fixing
    floor: int
    cap: int
    step: int
    mode: str
    min_term_months: int
    max_term_months: int
    max_principal_fen: int
    evidence_max_age_days: int
    industries: Mapping[str, Benchmark]  # by Industry value
    products: Mapping[str, int]  # product id -> code
    product_units: tuple[ProductUnits, ...]  # by code
    # By product code, with a trailing False for an unknown product (code -1): the
    # adjustment is added to the LPR alone, not to LPR + spreads (Product.adds_spreads).
    on_lpr: Bools
    # Tables derived from these numbers alone (the ordinary rate by rating and
    # term for a fixing), built on first use by the engine.
    memo: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)


def rate_units(bp: Decimal, what: str) -> int:
    """A policy rate in bp as units, refused when finer than a unit or out of range."""
    units = scaled_exact(bp, UNITS_PER_BP)
    if units is None:
        raise UnitsUnavailableError(f"{what} = {bp} bp is finer than 0.0001 bp")
    if abs(units) > RATE_LIMIT:
        raise UnitsUnavailableError(f"{what} = {bp} bp is beyond the engine's range")
    return units


def _digits(value: Decimal) -> int:
    return len(value.as_tuple().digits)


def _benchmarks(policy: Policy) -> dict[str, Benchmark]:
    out: dict[str, Benchmark] = {}
    for industry, bench in policy.industries.items():
        if bench.benchmark < Decimal("1e-10"):
            # K = emissions / (benchmark x activity) is quantized to 0.0001 by the
            # scalar engine; past 34 digits that raises there.
            raise UnitsUnavailableError(f"benchmark of {industry.value} is too small")
        bounds = []
        pb, qb = bench.benchmark.as_integer_ratio()
        for upper in policy.grade_k_upper:
            # A product has at most the digits of its factors together: within 34,
            # the scalar's k x benchmark x activity is exact and so is this comparison.
            if _digits(upper) + _digits(bench.benchmark) + INT64_DIGITS > DECIMAL_DIGITS:
                raise UnitsUnavailableError(
                    f"grade bound {upper} x benchmark {bench.benchmark} has too many digits"
                )
            pu, qu = upper.as_integer_ratio()
            bounds.append((pu * pb, qu * qb))
        out[industry.value] = Benchmark(bench.basis == "output", tuple(bounds))
    return out


def _carbon(product: Product) -> CarbonRules:
    adjust = {
        grade: rate_units(bp, f"{product.product_id} grade {grade}")
        for grade, bp in product.grade_adjust_bp.items()
    }
    return CarbonRules(IntTable.of(adjust, f"{product.product_id} grades"))


def _mine(product: Product) -> MineRules:
    if product.curve is None:
        raise UnitsUnavailableError(f"{product.product_id} has no score curve")
    curve = np.array(
        [rate_units(bp, f"{product.product_id} curve") for bp in product.curve.table],
        dtype=np.int64,
    )
    classes = {
        cls: rate_units(bp, f"{product.product_id} class {cls}")
        for cls, bp in product.class_adjust_bp.items()
    }
    return MineRules(
        # score < min_score <=> tenths < min_score x 10 <=> tenths < ceil(min_score x 10)
        min_tenths=scaled_ceiling(product.min_score, 10),
        curve=curve,
        classes=IntTable.of(classes, f"{product.product_id} classes"),
    )


def _transition(product: Product) -> TransitionRules:
    bands = []
    for band in product.bands:
        if _digits(band.min_reduction_pct) + INT64_DIGITS > DECIMAL_DIGITS:
            raise UnitsUnavailableError(
                f"{product.product_id} band {band.min_reduction_pct}% has too many digits"
            )
        num, den = band.min_reduction_pct.as_integer_ratio()
        bands.append(Band(num, den, rate_units(band.adjust_bp, f"{product.product_id} band")))
    return TransitionRules(
        min_annual_micro=scaled_ceiling(product.min_annual_tco2_reduced, MICRO),
        bands=tuple(bands),
    )


def _product(product: Product) -> ProductUnits:
    rules: Rules = None
    if product.kind is ProductKind.CARBON_ACCOUNT:
        rules = _carbon(product)
    elif product.kind is ProductKind.MINE_SCORE:
        rules = _mine(product)
    elif product.kind is ProductKind.TRANSITION:
        rules = _transition(product)
    return ProductUnits(product.product_id, product.kind, rules)


def _tenor(policy: Policy) -> tuple[Ints, Ints]:
    ends = [band.max_months for band in policy.tenor_spreads]
    if ends != sorted(set(ends)):
        raise UnitsUnavailableError("tenor bands are not in increasing order")
    adds = [rate_units(band.add_bp, "tenor spread") for band in policy.tenor_spreads]
    return np.array(ends, dtype=np.int64), np.array([*adds, 0], dtype=np.int64)


def _build(policy: Policy) -> PolicyUnits:
    if policy.rounding_mode not in (HALF_EVEN, HALF_UP):
        raise UnitsUnavailableError(f"unknown rounding mode {policy.rounding_mode!r}")
    step = rate_units(policy.rounding_step_bp, "rounding step")
    if step <= 0:
        raise UnitsUnavailableError("rounding step must be positive")
    tenor_max, tenor_add = _tenor(policy)
    base = np.array(
        [
            [rate_units(f.lpr_1y_bp, "LPR 1Y"), rate_units(f.lpr_5y_bp, "LPR 5Y+")]
            for f in policy.fixings.fixings
        ],
        dtype=np.int64,
    ).reshape(-1, 2)
    ratings = {rating: code for code, rating in enumerate(policy.spreads_bp)}
    spread = [rate_units(bp, f"spread {rating}") for rating, bp in policy.spreads_bp.items()]
    return PolicyUnits(
        ratings=ratings,
        spread=np.array([*spread, 0], dtype=np.int64),
        tenor_split_months=policy.tenor_split_months,
        tenor_max_months=tenor_max,
        tenor_add=tenor_add,
        base=base,
        floor=rate_units(policy.floor_bp, "floor"),
        cap=rate_units(policy.cap_bp, "cap"),
        step=step,
        mode=policy.rounding_mode,
        min_term_months=policy.min_term_months,
        max_term_months=policy.max_term_months,
        max_principal_fen=policy.max_principal_fen,
        evidence_max_age_days=policy.evidence_max_age_days,
        industries=_benchmarks(policy),
        products={pid: code for code, pid in enumerate(policy.products)},
        product_units=tuple(_product(p) for p in policy.products.values()),
        on_lpr=np.array(
            [not p.adds_spreads for p in policy.products.values()] + [False], dtype=np.bool_
        ),
    )


def policy_units(policy: Policy) -> PolicyUnits:
    """The integer form of `policy`, built once and kept in its memo.

    Raises UnitsUnavailableError when the policy has a number that the integer
    form cannot reproduce exactly (see the module docstring).
    """
    cached = policy.memo.get(_MEMO_KEY)
    if cached is None:
        try:
            cached = _build(policy)
        except UnitsUnavailableError as exc:
            cached = str(exc)
        # A function of the policy alone, like the engine's own memo entries.
        policy.memo[_MEMO_KEY] = cached
    if isinstance(cached, str):
        raise UnitsUnavailableError(cached)
    assert isinstance(cached, PolicyUnits)
    return cached


INDUSTRY_CODES = {industry.value: code for code, industry in enumerate(Industry)}

__all__ = [
    "INDUSTRY_CODES",
    "RATE_LIMIT",
    "Band",
    "Benchmark",
    "CarbonRules",
    "IntTable",
    "MineRules",
    "PolicyUnits",
    "ProductUnits",
    "TransitionRules",
    "UnitsUnavailableError",
    "policy_units",
    "rate_units",
]
