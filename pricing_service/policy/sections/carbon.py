"""[carbon]: the K bounds of the five carbon grades, the level bounds, the industry benchmarks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pricing_service.domain.evidence import Industry
from pricing_service.domain.grading import Benchmark
from pricing_service.policy.checker import Checker


@dataclass(frozen=True, slots=True)
class Carbon:
    """The good bounds and benchmarks (a problem recorded for each bad one)."""

    grade_k_upper: list[Decimal]
    level_upper: list[Decimal]
    industries: dict[Industry, Benchmark]


def build_carbon(c: Checker, document: Mapping[str, Any]) -> Carbon:
    """The grade K bounds, the level bounds, then a benchmark for every industry."""
    carbon = c.table(document, "carbon", "")
    # An empty list is no bounds at all, as much a problem as too few.
    k_raw = c.get(carbon, "grade_k_upper", "carbon")
    k_upper = c.each(k_raw, "carbon.grade_k_upper", c.measure)
    if isinstance(k_raw, list) and (
        len(k_upper) != 4 or k_upper != sorted(set(k_upper)) or k_upper[0] <= 0
    ):
        c.problem("carbon.grade_k_upper", "needs four increasing positive K bounds (grades 1-4)")
    level_raw = c.get(carbon, "level_upper", "carbon")
    level_upper = c.each(level_raw, "carbon.level_upper", c.measure)
    if isinstance(level_raw, list) and (
        len(level_upper) != 2 or level_upper != sorted(set(level_upper))
    ):
        c.problem("carbon.level_upper", "needs two increasing bounds (低碳, 中碳)")
    return Carbon(k_upper, level_upper, _industries(c, carbon))


def _industries(c: Checker, carbon: Mapping[str, Any]) -> dict[Industry, Benchmark]:
    industries: dict[Industry, Benchmark] = {}
    ind_t = c.table(carbon, "industries", "carbon")
    for name, item in ind_t.items():
        path = f"carbon.industries.{name}"
        try:
            industry = Industry(name)
        except ValueError:
            c.problem(path, f"unknown industry; one of {', '.join(i.value for i in Industry)}")
            continue
        benchmark = _benchmark(c, item, path)
        if benchmark is not None:
            industries[industry] = benchmark
    for industry in Industry:
        # An empty table too: the engine looks a borrower's industry up unchecked.
        if isinstance(carbon.get("industries"), dict) and industry.value not in ind_t:
            c.problem(f"carbon.industries.{industry.value}", "missing benchmark")
    return industries


def _benchmark(c: Checker, item: Any, path: str) -> Benchmark | None:
    if not isinstance(item, dict):
        c.problem(path, "must be a table")
        return None
    basis = c.typed(c.get(item, "basis", path), f"{path}.basis", str, "a string")
    if basis is not None and basis not in ("output", "value_added"):
        c.problem(f"{path}.basis", "must be 'output' or 'value_added'")
    unit = c.typed(c.get(item, "unit", path), f"{path}.unit", str, "a string")
    bench = c.measure(c.get(item, "benchmark", path), f"{path}.benchmark")
    if bench is not None and bench <= 0:
        c.problem(f"{path}.benchmark", "must be > 0")
    if basis and unit is not None and bench is not None:
        return Benchmark(basis, unit, bench)
    return None
