"""Carbon-efficiency grading: K = intensity ÷ industry benchmark -> grade 1-5."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pricing_service.domain.errors import FieldViolation, InvalidRequestError
from pricing_service.domain.evidence import Emissions
from pricing_service.domain.rates import CTX

K_DECIMALS = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Benchmark:
    """An industry's benchmark intensity, on output or on value added."""

    basis: str  # "output" or "value_added"
    unit: str
    benchmark: Decimal


@dataclass(frozen=True, slots=True)
class GradeResult:
    """A computed grade with its K (rounded for display) and level label."""

    grade: int
    k_display: Decimal
    level: str  # "低碳", "中碳", "高碳" or "" when not on value added
    intensity: Decimal


def grade_for(
    evidence: Emissions,
    benchmark: Benchmark,
    k_upper: Sequence[Decimal],
    level_upper: Sequence[Decimal],
) -> GradeResult:
    """Grade a borrower by its carbon efficiency against its industry.

    Boundaries are compared by cross-multiplication (emissions ≤ k × benchmark ×
    activity), so K = 0.6 exactly is grade 1 whatever the decimal expansion of
    the division would be. Every operation names CTX: the caller's decimal
    context does not matter.
    """
    if benchmark.basis == "output":
        activity, field = evidence.output_quantity, "carbon_emissions.output_quantity"
    else:
        activity, field = evidence.value_added_10k_cny, "carbon_emissions.value_added_10k_cny"
    if activity is None or activity <= 0:
        raise InvalidRequestError(
            [FieldViolation(field, f"required and > 0 for this industry ({benchmark.unit})")]
        )
    emissions = evidence.emissions_tco2
    grade = len(k_upper) + 1
    for i, upper in enumerate(k_upper):
        if emissions <= CTX.multiply(CTX.multiply(upper, benchmark.benchmark), activity):
            grade = i + 1
            break
    intensity = CTX.divide(emissions, activity)
    level = ""
    if benchmark.basis == "value_added":
        labels = ("低碳", "中碳", "高碳")
        level = labels[-1]
        for i, upper in enumerate(level_upper):
            if emissions <= CTX.multiply(upper, activity):
                level = labels[i]
                break
    k = CTX.divide(emissions, CTX.multiply(benchmark.benchmark, activity)).quantize(
        K_DECIMALS, context=CTX
    )
    return GradeResult(grade=grade, k_display=k, level=level, intensity=intensity)
