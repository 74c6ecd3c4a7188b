"""The policy as the engine sees it: validated numbers, no file format."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from pricing_service.domain.curve import ScoreCurve
from pricing_service.domain.evidence import Industry, ProductKind, Reference, Tenor
from pricing_service.domain.grading import Benchmark
from pricing_service.domain.lpr import FixingTable


@dataclass(frozen=True, slots=True)
class TenorSpread:
    """Extra spread for terms up to `max_months`."""

    max_months: int
    add_bp: Decimal


@dataclass(frozen=True, slots=True)
class TransitionBand:
    """Adjustment when the coal-consumption cut reaches `min_reduction_pct`."""

    min_reduction_pct: Decimal
    adjust_bp: Decimal


@dataclass(frozen=True, slots=True)
class Product:
    """A product of the policy; only the fields of its kind are set.

    `reference` is what the adjustment is taken from: the ordinary-loan rate (the
    seeds' "2 points below ordinary loans", the default) or the LPR of the tenor
    ("LPR - N bp"); under `base`, `with_spreads` says whether the rating and term
    spreads still apply on top of the LPR.
    """

    product_id: str
    kind: ProductKind
    name_zh: str
    name_en: str
    grade_adjust_bp: Mapping[int, Decimal] = field(default_factory=dict)
    min_score: Decimal = Decimal(0)
    curve: ScoreCurve | None = None
    class_adjust_bp: Mapping[int, Decimal] = field(default_factory=dict)
    min_annual_tco2_reduced: Decimal = Decimal(0)
    bands: tuple[TransitionBand, ...] = ()
    reference: Reference = Reference.ORDINARY
    with_spreads: bool = False

    @property
    def adds_spreads(self) -> bool:
        """Whether the adjustment is added to LPR + spreads (else to the LPR alone).

        The one statement of the reference rule: the engine and the compiled
        policy both read it.
        """
        return self.reference is Reference.ORDINARY or self.with_spreads

    @property
    def required_evidence(self) -> tuple[str, ...]:
        """Evidence fields of the request this product needs."""
        return {
            ProductKind.STANDARD: (),
            ProductKind.CARBON_ACCOUNT: ("carbon_grade|carbon_emissions",),
            ProductKind.MINE_SCORE: ("mine_score",),
            ProductKind.TRANSITION: ("transition_kpis",),
        }[self.kind]


@dataclass(frozen=True, slots=True)
class Policy:
    """One effective-dated policy version with every number the engine uses."""

    version: str
    effective_from: date
    digest: str
    description: str
    fixings: FixingTable
    tenor_split_months: int
    lpr_confirmed_through: date
    spreads_bp: Mapping[str, Decimal]
    tenor_spreads: tuple[TenorSpread, ...]
    floor_bp: Decimal
    cap_bp: Decimal
    rounding_step_bp: Decimal
    rounding_mode: str
    annualised_decimals: int
    validity_hours: int
    min_term_months: int
    max_term_months: int
    max_principal_fen: int
    evidence_max_age_days: int
    grade_k_upper: tuple[Decimal, ...]
    level_upper: tuple[Decimal, ...]
    industries: Mapping[Industry, Benchmark]
    products: Mapping[str, Product]
    # The engine's cache of values derived from this version alone (ordinary-rate
    # parts, fixed breakdown steps): not part of the policy, its equality or repr.
    memo: dict[Hashable, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def tenor_for(self, term_months: int) -> Tenor:
        """1Y LPR up to the split, 5Y+ above it."""
        return Tenor.ONE_YEAR if term_months <= self.tenor_split_months else Tenor.FIVE_YEAR_PLUS

    def tenor_spread_bp(self, term_months: int) -> Decimal:
        """The extra spread of the first tenor band covering the term."""
        for band in self.tenor_spreads:
            if term_months <= band.max_months:
                return band.add_bp
        return Decimal(0)
