"""`pricing simulate whatif LOGDIR --draft POLICY`: logged binding requests under a draft."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pricing_service.api.incoming import decode_document
from pricing_service.audit.reader import LogFormatError, iter_records, log_bytes
from pricing_service.cli.simulate.common import (
    EXIT_FAILED,
    EXIT_OK,
    ClientFactory,
    LoadedPolicy,
    SimulateUsageError,
    command_line,
    load_policy,
    out_dir,
    print_json,
    print_written,
    progress_bar,
    remove_stale,
    show_progress,
    write_csv,
    write_json,
    write_report,
)
from pricing_service.quoting.replay import ReplayFilter
from pricing_service.simulate.reports.whatif import WHATIF_HEADERS, whatif_report, whatif_row
from pricing_service.simulate.summary import cny, plain_table, tables_text
from pricing_service.simulate.whatif import WhatIf, whatif


def cmd_whatif(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    """Re-price the logged binding requests under a draft; compare with what they got."""
    logdir: Path = args.logdir
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise SimulateUsageError(f"--from {args.date_from} is after --to {args.date_to}")
    if not (logdir / "segments").is_dir():
        raise SimulateUsageError(f"{logdir} is not an audit log directory (no segments/)")
    draft = load_policy(args.draft, datetime.now(UTC), args, client_factory)
    out = out_dir(args)
    total = log_bytes(logdir)
    try:
        result = _reprice(args, logdir, draft, total)
    except LogFormatError as exc:
        print(f"error: {exc} (run `pricing audit verify` to locate damage)", file=sys.stderr)
        return EXIT_FAILED
    write_csv(out / "whatif.csv", WHATIF_HEADERS, (whatif_row(r) for r in result.rows))
    write_json(out / "whatif.json", result.to_json())
    remove_stale(out, "bad_rows.csv")  # a what-if reads no portfolio
    report = whatif_report(
        result,
        command=command_line(),
        audit_log=str(logdir),
        draft=draft.policy,
        draft_source=draft.source,
    )
    write_report(report, out)
    if args.json:
        print_json(result.to_json())
    else:
        _print_summary(result.to_json(), draft)
        print_written(out, ["whatif.csv", "whatif.json", "report.html", "charts/"])
    return EXIT_OK


def _reprice(args: argparse.Namespace, logdir: Path, draft: LoadedPolicy, total: int) -> WhatIf:
    """whatif() over the log, with progress in bytes of the `total` read."""
    selection = ReplayFilter(args.date_from, args.date_to, args.product, args.borrower)
    done = [0]
    with progress_bar(show_progress(args), "re-pricing the log (bytes)") as tick:

        def on_record(rec: Any) -> None:
            done[0] += len(rec.raw) + 1
            if rec.seq % 1000 == 0:
                tick(done[0], total)

        result = whatif(
            iter_records(logdir), draft.policy, selection, on_record, decode=decode_document
        )
        tick(total, total)
    return result


def _print_summary(summary: dict[str, Any], draft: LoadedPolicy) -> None:
    cost = summary["first_year_concession_fen"]
    rows = [[k.replace("_", " "), f"{v:,}"] for k, v in summary.items() if isinstance(v, int)]
    rows.append(["first-year concession, actual CNY", cny(cost["actual"])])
    rows.append(["first-year concession, draft CNY", cny(cost["draft"])])
    rows.append(["first-year concession, change CNY", cny(cost["change"])])
    title = f"What-if under {draft.policy.version}"
    print(tables_text([plain_table(title, ("what", "value"), rows)], 100))
