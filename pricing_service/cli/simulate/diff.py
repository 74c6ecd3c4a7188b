"""`pricing simulate diff PORTFOLIO --base POLICY --draft POLICY`: what a draft changes."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pricing_service.cli.simulate.common import (
    BAD_ROW_HEADERS,
    EXIT_OK,
    ClientFactory,
    LoadedPolicy,
    bad_rows,
    load_policy,
    other_format,
    out_dir,
    parse_as_of,
    price_in_chunks,
    print_json,
    print_written,
    progress_bar,
    read_book,
    remove_stale,
    run_facts,
    show_progress,
    width,
    write_bad_rows,
    write_csv,
    write_json,
    write_report,
)
from pricing_service.simulate.portfolio_io import PortfolioLoad, write_results
from pricing_service.simulate.report import diff_report
from pricing_service.simulate.results import LoanResults
from pricing_service.simulate.summary import DiffSummary, diff_summary

CHANGE_FIELDS = (
    "loan_id",
    "product_id",
    "base_status",
    "draft_status",
    "base_rate_percent",
    "draft_rate_percent",
    "rate_delta_bp",
    "concession_delta_bp",
    "first_year_delta_fen",
)


def cmd_diff(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    """Price a portfolio under a base and a draft policy; write what changes."""
    as_of = parse_as_of(args.as_of)
    base = load_policy(args.base, as_of, args, client_factory)
    draft = load_policy(args.draft, as_of, args, client_factory)
    load = read_book(args)
    out = out_dir(args)
    base_results = _price(args, load, base, as_of, "pricing base")
    draft_results = _price(args, load, draft, as_of, "pricing draft")
    diff = diff_summary(
        load.portfolio,
        base_results,
        draft_results,
        base_version=base.policy.version,
        base_digest=base.policy.digest,
        draft_version=draft.policy.version,
        draft_digest=draft.policy.digest,
        as_of=as_of,
    )
    # Machine-readable like loans.csv: exact percent and bp text, whole fen.
    write_csv(out / "changes.csv", CHANGE_FIELDS, _change_rows(diff))
    write_results(load.portfolio, base_results, out / f"base_loans.{args.format}")
    write_results(load.portfolio, draft_results, out / f"draft_loans.{args.format}")
    other = other_format(args.format)
    remove_stale(out, f"base_loans.{other}", f"draft_loans.{other}")
    write_json(out / "diff.json", diff.to_json(loan_limit=0))
    write_bad_rows(out, load)
    sources = (("Base policy source", base.source), ("Draft policy source", draft.source))
    run = run_facts(args, base.policy, load, as_of, extra=sources)
    write_report(
        diff_report(diff, run, bad_rows=bad_rows(load), bad_row_headers=BAD_ROW_HEADERS), out
    )
    if args.json:
        print_json(diff.to_json(loan_limit=0))
    else:
        print(diff.to_text(width=width()))
        _print_files(out, args.format, load)
    return EXIT_OK


def _price(
    args: argparse.Namespace,
    load: PortfolioLoad,
    loaded: LoadedPolicy,
    as_of: datetime,
    what: str,
) -> LoanResults:
    with progress_bar(show_progress(args), what) as tick:
        return price_in_chunks(load.portfolio, loaded.policy, as_of, tick)


def _change_rows(diff: DiffSummary) -> Iterator[list[object]]:
    for c in diff.changes():
        data = c.to_json()
        yield ["" if data[k] is None else data[k] for k in CHANGE_FIELDS]


def _print_files(out: Path, fmt: str, load: PortfolioLoad) -> None:
    names = ["changes.csv", f"base_loans.{fmt}", f"draft_loans.{fmt}"]
    print_written(out, [*names, "diff.json", "report.html", "charts/"], load)
