"""The report of `pricing simulate montecarlo`, from the run's summary (montecarlo.json)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from pricing_service.simulate import charts
from pricing_service.simulate.report import Report, RunFacts, montecarlo_report
from pricing_service.simulate.reports.text import cny_text, interval_text

PERCENTILES = (5, 25, 50, 75, 95)
_KEYS = tuple(f"p{p}" for p in PERCENTILES)


def _bands(
    per_year: Sequence[Mapping[str, Any]], field: str, scale: Callable[[Any], Decimal]
) -> list[list[Decimal]]:
    """One row per percentile, one value per year, of a per-year percentile field."""
    return [[scale(y[field][k]) for y in per_year] for k in _KEYS]


def _fen_to_cny(value: Any) -> Decimal:
    return Decimal(int(value)) / 100


def _notes(summary: Mapping[str, Any]) -> list[str]:
    life = summary["lifetime_concession"]
    return [
        f"Expected lifetime concession {cny_text(life['expected_cny'])} CNY; "
        f"{life['confidence_level']} interval (estimate) "
        + interval_text(life["ci_cny_estimate"])
        + f"; no-migration baseline {cny_text(life['baseline_cny'])} CNY.",
        "Grades migrate by the transition matrix and mine scores drift each year; each loan "
        "re-prices at its anniversary with the LPR held at the as-of fixing.",
    ]


def montecarlo_summary_report(
    summary: Mapping[str, Any], run: RunFacts, migration_source: str
) -> Report:
    """Rate and concession fan charts by year, with the run's paths, seed and migration model.

    `summary` is MonteCarloResult.summary(); `run` describes the portfolio and policy, to
    which the paths, the seed and `migration_source` are added.
    """
    per_year = summary["per_year"]
    years = [y["year"] for y in per_year]
    run = replace(
        run,
        extra=(
            *run.extra,
            ("Paths x years", f"{summary['paths']:,} x {summary['years']}"),
            ("Seed", str(summary["seed"])),
            ("Migration model", migration_source),
        ),
    )
    report = montecarlo_report(
        run,
        years=years,
        percentiles=list(PERCENTILES),
        bands=_bands(per_year, "rate_percent", Decimal),
        baseline=[Decimal(y["baseline_rate_percent"]) for y in per_year],
        quantity="Volume-weighted average quoted rate (%)",
        notes=_notes(summary),
    )
    report.chart(
        "Concession by year",
        charts.fan_chart(
            years,
            list(PERCENTILES),
            _bands(per_year, "concession_fen", _fen_to_cny),
            baseline=[Decimal(y["baseline_concession_cny"]) for y in per_year],
            baseline_label="no migration",
            title="Concession cost by year (CNY)",
            ylabel="CNY",
        ),
        "Percentile bands over the paths of the year's concession cost; the line without "
        "migration for comparison.",
    )
    return report
