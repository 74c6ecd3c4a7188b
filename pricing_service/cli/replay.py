"""`pricing audit replay`: re-price every logged request under its recorded policy."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from pricing_service.api.incoming import decode_document
from pricing_service.audit.reader import LogFormatError, log_bytes
from pricing_service.cli.byte_progress import SubParsers, progress_bar
from pricing_service.cli.log_target import LOGDIR_HELP, log_target, on_a_directory
from pricing_service.quoting.replay import ReplayFilter, ReplayReport
from pricing_service.quoting.replay_jobs import default_jobs, replay_log

MAX_TEXT_DIFFERENCES = 200


def add_replay_command(commands: SubParsers[argparse.ArgumentParser]) -> None:
    """Add `replay` to the `audit` command group."""
    replay = commands.add_parser(
        "replay",
        help="re-price every logged request under its recorded policy and diff",
        description=(
            "Re-price each selected record of LOGDIR under the policy version it recorded "
            "(from the log's policy archive) and compare with the recorded response field "
            "by field; refusals must be refused again alike. Exit 0 when every record "
            "replays identically, 1 on any difference."
        ),
    )
    replay.add_argument("logdir", type=log_target, metavar="LOGDIR", help=LOGDIR_HELP)
    replay.add_argument(
        "--from",
        dest="date_from",
        type=date.fromisoformat,
        metavar="DATE",
        help="first Beijing pricing date (YYYY-MM-DD)",
    )
    replay.add_argument(
        "--to",
        dest="date_to",
        type=date.fromisoformat,
        metavar="DATE",
        help="last Beijing pricing date (YYYY-MM-DD)",
    )
    replay.add_argument("--product", help="only this product id")
    replay.add_argument("--borrower", help="only this borrower id")
    replay.add_argument(
        "--jobs",
        type=_positive,
        default=None,
        metavar="N",
        help="processes to replay in (default: the cores available); same report for any N",
    )
    replay.add_argument("--json", action="store_true", help="print the report as JSON")
    replay.add_argument("--progress", action="store_true", help="show progress on stderr")
    replay.set_defaults(func=on_a_directory(_replay))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _replay(args: argparse.Namespace) -> int:
    logdir: Path = args.logdir
    if not (logdir / "segments").is_dir():
        print(f"error: {logdir} is not an audit log directory (no segments/)", file=sys.stderr)
        return 1
    selection = ReplayFilter(args.date_from, args.date_to, args.product, args.borrower)
    total = log_bytes(logdir)
    done = [0]
    try:
        with progress_bar(args.progress or sys.stderr.isatty(), total, "replay") as tick:

            def on_bytes(size: int) -> None:
                done[0] += size
                if tick is not None:
                    tick(done[0])

            def on_share_done(share: ReplayReport) -> None:
                # Several shares finish together: progress moves once, at the end.
                if tick is not None:
                    tick(total)

            jobs: int = args.jobs or default_jobs()
            # One process or several, the same path (the fast path, then today's
            # judgement for every record it does not vouch for) and the same report.
            report = replay_log(
                logdir,
                selection,
                decode=decode_document,
                jobs=jobs,
                on_share_done=on_share_done if jobs > 1 else None,
                on_bytes=on_bytes,
            )
    except LogFormatError as exc:
        print(f"error: {exc} (run `pricing audit verify` to locate damage)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2, default=str))
    else:
        _print_text(report)
    return 0 if not report.differences else 1


def _print_text(report: ReplayReport) -> None:
    print(
        f"records {report.records}, selected {report.selected} "
        f"({report.quotes} quotes, {report.refusals} refusals), "
        f"policies {len(report.policies)}"
    )
    if report.denials or report.policy_switches:
        print(f"not re-priced: {report.denials} denials, {report.policy_switches} policy switches")
    print(f"identical {report.matched}, with differences {report.mismatched_records}")
    for d in report.differences[:MAX_TEXT_DIFFERENCES]:
        print(
            f"  {d.segment}:{d.line} seq {d.seq} {d.quote_id or '(refusal)'} {d.field}: "
            f"recorded {d.recorded!r} replayed {d.replayed!r}"
        )
    hidden = len(report.differences) - MAX_TEXT_DIFFERENCES
    if hidden > 0:
        print(f"  ... {hidden} more (use --json for all)")
    print(
        "OK: every selected record replays identically"
        if not report.differences
        else "DIFFERENCES FOUND"
    )
