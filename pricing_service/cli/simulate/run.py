"""`pricing simulate [run] PORTFOLIO`: price a book under one policy."""

from __future__ import annotations

import argparse

from pricing_service.cli.simulate.common import (
    BAD_ROW_HEADERS,
    EXIT_OK,
    ClientFactory,
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
    write_json,
    write_report,
)
from pricing_service.simulate.portfolio_io import write_results
from pricing_service.simulate.report import simulation_report
from pricing_service.simulate.summary import summarise


def cmd_run(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    """Price a portfolio under one policy; write loans, summary, charts and the report."""
    as_of = parse_as_of(args.as_of)
    loaded = load_policy(args.policy, as_of, args, client_factory)
    load = read_book(args)
    out = out_dir(args)
    with progress_bar(show_progress(args), "pricing") as tick:
        results = price_in_chunks(load.portfolio, loaded.policy, as_of, tick)
    policy = loaded.policy
    summary = summarise(
        load.portfolio,
        results,
        policy_version=policy.version,
        policy_digest=policy.digest,
        as_of=as_of,
    )
    loans_path = out / f"loans.{args.format}"
    write_results(load.portfolio, results, loans_path)
    remove_stale(out, f"loans.{other_format(args.format)}")
    write_json(out / "summary.json", summary.to_json())
    write_bad_rows(out, load)
    run = run_facts(args, policy, load, as_of, extra=(("Policy source", loaded.source),))
    report = simulation_report(
        summary,
        load.portfolio,
        results,
        run,
        policy=policy,
        bad_rows=bad_rows(load),
        bad_row_headers=BAD_ROW_HEADERS,
    )
    write_report(report, out)
    if args.json:
        print_json(summary.to_json())
    else:
        print(summary.to_text(width=width()))
        print_written(out, [loans_path.name, "summary.json", "report.html", "charts/"], load)
    return EXIT_OK
