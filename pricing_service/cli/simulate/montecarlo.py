"""`pricing simulate montecarlo PORTFOLIO`: grade migration and score drift over many paths."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pricing_service.cli.simulate.common import (
    EXIT_OK,
    ClientFactory,
    LoadedPolicy,
    SimulateUsageError,
    load_policy,
    out_dir,
    parse_as_of,
    print_json,
    print_written,
    progress_bar,
    read_book,
    run_facts,
    show_progress,
    width,
    write_bad_rows,
    write_csv,
    write_json,
    write_report,
)
from pricing_service.policy.document import parse_document
from pricing_service.simulate.montecarlo import (
    GradeTransitions,
    MigrationModelError,
    MonteCarloResult,
    ScoreDrift,
    default_migration,
    load_migration,
    migration_from_document,
    run_montecarlo,
)
from pricing_service.simulate.reports.montecarlo import montecarlo_summary_report
from pricing_service.simulate.reports.text import cny_text, interval_text, pct_text
from pricing_service.simulate.summary import plain_table, tables_text

PATHS_HEADERS = ("path", "year", "average_rate", "concession_fen")
BY_YEAR_HEADERS = (
    "year",
    "loans",
    "expected concession CNY",
    "baseline CNY",
    "avg rate p5 %",
    "p50 %",
    "p95 %",
)


def cmd_montecarlo(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    """Grades migrate and scores drift each year; loans re-price at each annual reset."""
    if args.years < 1 or args.paths < 1 or args.seed < 0:
        raise SimulateUsageError("--years and --paths must be at least 1, --seed at least 0")
    as_of = parse_as_of(args.as_of)
    loaded = load_policy(args.policy, as_of, args, client_factory)
    transitions, drift, migration_source = _load_migration(args, loaded)
    load = read_book(args)
    out = out_dir(args)
    with progress_bar(show_progress(args), "paths") as tick:
        result = run_montecarlo(
            load.portfolio,
            loaded.policy,
            as_of,
            years=args.years,
            paths=args.paths,
            seed=args.seed,
            transitions=transitions,
            score_drift=drift,
            progress=tick,
        )
    summary = result.summary()
    write_json(out / "montecarlo.json", summary)
    write_csv(out / "paths.csv", PATHS_HEADERS, _path_rows(result))
    write_bad_rows(out, load)
    run = run_facts(args, loaded.policy, load, as_of)
    write_report(montecarlo_summary_report(summary, run, migration_source), out)
    if args.json:
        print_json(summary)
        return EXIT_OK
    _print_summary(summary, result)
    print_written(out, ["montecarlo.json", "paths.csv", "report.html", "charts/"], load)
    return EXIT_OK


def _load_migration(
    args: argparse.Namespace, loaded: LoadedPolicy
) -> tuple[GradeTransitions, ScoreDrift, str]:
    """--transitions FILE, else the policy's [simulation] section, else the shipped default."""
    if args.transitions:
        source = str(args.transitions)
        try:
            return (*load_migration(args.transitions), source)
        except MigrationModelError as exc:
            problems = "\n  ".join(exc.problems)
            raise SimulateUsageError(f"--transitions {source}:\n  {problems}") from None
    section = parse_document(loaded.raw).get("simulation")
    if section is not None:
        try:
            model = migration_from_document(section, "simulation.")
        except MigrationModelError as exc:
            problems = "\n  ".join(exc.problems)
            raise SimulateUsageError(
                f"policy {loaded.source}, [simulation]:\n  {problems}"
            ) from None
        return (*model, f"the policy's [simulation] section ({loaded.source})")
    return (*default_migration(), "default (synthetic, unconfirmed)")


def _path_rows(result: MonteCarloResult) -> Iterator[tuple[int, int, str, int]]:
    """paths.csv: every path's yearly average rate (exact percent) and concession (fen)."""
    for path in range(result.paths):
        for year in range(result.years):
            yield (
                path + 1,
                year + 1,
                pct_text(int(result.path_rate_units[path, year])),
                int(result.path_concession_fen[path, year]),
            )


def _pct4(percent: str) -> str:
    # Display like the summaries: 0.0001 percentage points, half-even (montecarlo.json is exact).
    return format(Decimal(percent).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN), "f")


def _print_summary(summary: Mapping[str, Any], result: MonteCarloResult) -> None:
    life = summary["lifetime_concession"]
    rows = [
        ["expected lifetime concession CNY", cny_text(life["expected_cny"])],
        [
            f"{life['confidence_level']} interval of the expectation (estimate)",
            interval_text(life["ci_cny_estimate"]),
        ],
        [
            "2.5% .. 97.5% of the path totals",
            " .. ".join(cny_text(v) for v in life["empirical_cny"]),
        ],
        ["no-migration baseline CNY", cny_text(life["baseline_cny"])],
    ]
    per_year = [
        [
            str(y["year"]),
            str(y["loans_outstanding"]),
            cny_text(y["expected_concession_cny"]),
            cny_text(y["baseline_concession_cny"]),
            _pct4(y["rate_percent"]["p5"]),
            _pct4(y["rate_percent"]["p50"]),
            _pct4(y["rate_percent"]["p95"]),
        ]
        for y in summary["per_year"]
    ]
    title = f"Monte Carlo: {result.paths:,} paths x {result.years} years, seed {result.seed}"
    tables = [
        plain_table(title, ("figure", "value"), rows),
        plain_table("By year", BY_YEAR_HEADERS, per_year),
    ]
    print(tables_text(tables, width()))
