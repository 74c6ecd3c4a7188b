"""Carbon-efficiency grading: K = intensity ÷ industry benchmark, at each boundary.

Grades (Huzhou 碳效码): 1 when K ≤ 0.6, 2 when ≤ 0.8, 3 when ≤ 1.2, 4 when ≤ 2.0,
otherwise 5. Level by intensity per 万元 value added: 低碳 ≤ 0.6 < 中碳 ≤ 2.0 < 高碳.
Emissions below are exact multiples of the benchmark so that K sits exactly on a
boundary; "just above" adds 0.0001 tCO2.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from pricing_builders import output_emissions, value_added_emissions

from pricing_service.domain.errors import InvalidRequestError
from pricing_service.domain.evidence import Emissions, Industry
from pricing_service.domain.grading import Benchmark, GradeResult, grade_for
from pricing_service.domain.policy import Policy


def grade(policy: Policy, industry: Industry, ev: Emissions) -> GradeResult:
    return grade_for(ev, policy.industries[industry], policy.grade_k_upper, policy.level_upper)


# power: benchmark 0.877 tCO2/MWh, output 1000 MWh -> K = emissions / 877.
@pytest.mark.parametrize(
    ("emissions", "expected_grade", "k"),
    [
        ("0", 1, "0.0000"),
        ("526.2", 1, "0.6000"),  # K = 0.6 exactly
        ("526.2001", 2, "0.6000"),  # just above 0.6 (K shown rounded)
        ("701.6", 2, "0.8000"),  # K = 0.8
        ("701.6001", 3, "0.8000"),
        ("1052.4", 3, "1.2000"),  # K = 1.2
        ("1052.4001", 4, "1.2000"),
        ("1754", 4, "2.0000"),  # K = 2.0
        ("1754.0001", 5, "2.0000"),
        ("8770", 5, "10.0000"),
    ],
)
def test_output_based_grade_at_each_k_boundary(
    policy: Policy, emissions: str, expected_grade: int, k: str
) -> None:
    result = grade(policy, Industry.POWER, output_emissions(emissions, output="1000"))
    assert result.grade == expected_grade
    assert str(result.k_display) == k
    assert result.level == ""  # levels are only defined on value added


# chemicals: benchmark 2.50 tCO2/万元, value added 1000 万元 -> K = emissions / 2500.
@pytest.mark.parametrize(
    ("emissions", "expected_grade", "k"),
    [
        ("1500", 1, "0.6000"),
        ("1500.0001", 2, "0.6000"),
        ("2000", 2, "0.8000"),
        ("2000.0001", 3, "0.8000"),
        ("3000", 3, "1.2000"),
        ("3000.0001", 4, "1.2000"),
        ("5000", 4, "2.0000"),
        ("5000.0001", 5, "2.0000"),
    ],
)
def test_value_added_based_grade_at_each_k_boundary(
    policy: Policy, emissions: str, expected_grade: int, k: str
) -> None:
    result = grade(policy, Industry.CHEMICALS, value_added_emissions(emissions, "1000"))
    assert result.grade == expected_grade
    assert str(result.k_display) == k


def test_electrolytic_aluminium_grade_uses_its_9_1132_per_tonne_benchmark(policy: Policy) -> None:
    # 200 t of aluminium: K = 0.8 exactly at 1458.112 tCO2.
    at = output_emissions("1458.112", "200", Industry.ELECTROLYTIC_ALUMINIUM)
    above = output_emissions("1458.1121", "200", Industry.ELECTROLYTIC_ALUMINIUM)
    assert grade(policy, Industry.ELECTROLYTIC_ALUMINIUM, at).grade == 2
    assert grade(policy, Industry.ELECTROLYTIC_ALUMINIUM, above).grade == 3


def test_k_boundary_is_exact_where_the_decimal_division_is_not(policy: Policy) -> None:
    # K = 0.6 with a benchmark and activity whose quotient is a repeating decimal
    # (output 3 MWh): emissions 1.5786 = 0.6 x 0.877 x 3.
    at = grade(policy, Industry.POWER, output_emissions("1.5786", "3"))
    assert at.grade == 1
    assert grade(policy, Industry.POWER, output_emissions("1.57860001", "3")).grade == 2


# chemicals again, value added 1000 万元: intensity L = emissions / 1000.
@pytest.mark.parametrize(
    ("emissions", "level", "expected_grade"),
    [
        ("0", "低碳", 1),
        ("600", "低碳", 1),  # L = 0.6 exactly
        ("600.001", "中碳", 1),
        ("2000", "中碳", 2),  # L = 2.0 exactly (and K = 0.8)
        ("2000.001", "高碳", 3),
        ("9000", "高碳", 5),
    ],
)
def test_level_at_each_intensity_boundary(
    policy: Policy, emissions: str, level: str, expected_grade: int
) -> None:
    result = grade(policy, Industry.CHEMICALS, value_added_emissions(emissions, "1000"))
    assert result.level == level
    assert result.grade == expected_grade
    assert result.intensity == Decimal(emissions) / 1000


def test_level_and_grade_are_independent_scales(policy: Policy) -> None:
    # "other" industry average L is 0.60: L = 0.9 is 中碳 but K = 1.5 -> grade 4.
    result = grade(policy, Industry.OTHER, value_added_emissions("900", "1000", Industry.OTHER))
    assert (result.level, result.grade, str(result.k_display)) == ("中碳", 4, "1.5000")


def test_k_display_is_rounded_half_even_to_four_decimals() -> None:
    bench = Benchmark("output", "MWh", Decimal("1"))
    k_upper = (Decimal("0.6"), Decimal("0.8"), Decimal("1.2"), Decimal("2.0"))
    tie_even = output_emissions("0.70125", "1")  # 0.70125 -> 0.7012
    tie_odd = output_emissions("0.70135", "1")  # 0.70135 -> 0.7014
    assert str(grade_for(tie_even, bench, k_upper, ()).k_display) == "0.7012"
    assert str(grade_for(tie_odd, bench, k_upper, ()).k_display) == "0.7014"


def test_output_industry_without_output_quantity_is_an_invalid_request(policy: Policy) -> None:
    ev = value_added_emissions("100", "1000", Industry.POWER)  # power needs output
    with pytest.raises(InvalidRequestError) as info:
        grade(policy, Industry.POWER, ev)
    assert [v.field for v in info.value.violations] == ["carbon_emissions.output_quantity"]


def test_value_added_industry_with_zero_value_added_is_an_invalid_request(policy: Policy) -> None:
    ev = value_added_emissions("100", "0", Industry.COKING)
    with pytest.raises(InvalidRequestError) as info:
        grade(policy, Industry.COKING, ev)
    assert [v.field for v in info.value.violations] == ["carbon_emissions.value_added_10k_cny"]
