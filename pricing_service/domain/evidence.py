"""Evidence a product needs, and the enums shared by requests and quotes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from decimal import Decimal


class RepaymentMethod(enum.Enum):
    """How the loan is repaid."""

    EQUAL_INSTALLMENT = "equal_installment"  # 等额本息
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金
    INTEREST_ONLY_BULLET = "interest_only_bullet"  # 按月付息、到期还本


class Industry(enum.Enum):
    """Industries with a carbon benchmark in the policy."""

    POWER = "power"
    ELECTROLYTIC_ALUMINIUM = "electrolytic_aluminium"
    CHEMICALS = "chemicals"
    PETROCHEMICALS = "petrochemicals"
    COKING = "coking"
    OTHER = "other"


class ProductKind(enum.Enum):
    """What a product adjusts the ordinary-loan rate by."""

    STANDARD = "standard"
    CARBON_ACCOUNT = "carbon_account"
    MINE_SCORE = "mine_score"
    TRANSITION = "transition"


class Reference(enum.Enum):
    """What a product's adjustment is taken from (the policy's `reference`)."""

    ORDINARY = "ordinary"  # the ordinary-loan rate: LPR + rating and term spreads (default)
    BASE = "base"  # the LPR of the loan's tenor ("LPR 减 N 个基点")


class Tenor(enum.Enum):
    """LPR tenors."""

    ONE_YEAR = "1Y"
    FIVE_YEAR_PLUS = "5Y+"


@dataclass(frozen=True, slots=True)
class GivenGrade:
    """A carbon-account grade assessed by a platform."""

    grade: int
    assessed_on: date
    platform_id: str


@dataclass(frozen=True, slots=True)
class Emissions:
    """Emissions and activity from which the grade is computed."""

    industry: Industry
    emissions_tco2: Decimal
    output_quantity: Decimal | None
    value_added_10k_cny: Decimal | None
    period_end: date
    platform_id: str


@dataclass(frozen=True, slots=True)
class MineAcceptance:
    """A coal mine's intelligentization acceptance result."""

    score: Decimal
    construction_class: int
    mandatory_indicators_passed: bool
    accepted_on: date


@dataclass(frozen=True, slots=True)
class TransitionKpis:
    """Verified KPIs of a transition project."""

    annual_tco2_reduced: Decimal
    coal_g_per_kwh_before: Decimal
    coal_g_per_kwh_after: Decimal
    verified_on: date
