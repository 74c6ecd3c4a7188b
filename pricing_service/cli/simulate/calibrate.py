"""`pricing simulate calibrate PORTFOLIO --target-cost CNY --param PATH`: solve for a budget."""

from __future__ import annotations

import argparse
import re
import sys

from pricing_service.cli.simulate.common import (
    BAD_ROW_HEADERS,
    EXIT_OK,
    ClientFactory,
    SimulateUsageError,
    bad_rows,
    load_policy,
    out_dir,
    parse_as_of,
    print_json,
    print_written,
    read_book,
    run_facts,
    write_bad_rows,
    write_json,
    write_report,
)
from pricing_service.policy.document import parse_document
from pricing_service.simulate.calibrate import CalibrationError, calibrate
from pricing_service.simulate.reports.calibration import calibration_report, calibration_rows
from pricing_service.simulate.summary import plain_table, tables_text

_PLAIN_CNY = re.compile(r"[0-9]{1,15}(\.[0-9]{1,2})?")
WRITTEN = ["calibrated-policy.toml", "calibration.json", "report.html", "charts/"]


def target_fen(text: str) -> int:
    """--target-cost: a plain CNY amount (at most 2 decimals, separators allowed) -> fen."""
    plain = text.replace(",", "")
    if not _PLAIN_CNY.fullmatch(plain):
        raise SimulateUsageError(
            f"--target-cost {text!r}: a plain CNY amount like 120000000.00 (no exponent)"
        )
    whole, _, cents = plain.partition(".")
    return int(whole) * 100 + int(cents.ljust(2, "0"))


def cmd_calibrate(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    """Solve a policy parameter for a first-year concession budget; write the draft."""
    as_of = parse_as_of(args.as_of)
    target = target_fen(args.target_cost)
    loaded = load_policy(args.policy, as_of, args, client_factory)
    load = read_book(args)
    out = out_dir(args)
    try:
        result = calibrate(
            load.portfolio,
            parse_document(loaded.raw),
            args.param,
            target,
            as_of,
            lo=args.lo,
            hi=args.hi,
        )
    except CalibrationError as exc:
        raise SimulateUsageError(str(exc)) from None
    result.write_draft(out / "calibrated-policy.toml")
    write_json(out / "calibration.json", result.to_json())
    write_bad_rows(out, load)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    run = run_facts(args, loaded.policy, load, as_of)
    report = calibration_report(
        result, run, bad_rows=bad_rows(load), bad_row_headers=BAD_ROW_HEADERS
    )
    write_report(report, out)
    if args.json:
        print_json(result.to_json())
    else:
        table = plain_table("Calibration", ("what", "value"), calibration_rows(result))
        print(tables_text([table], 120))
        print_written(out, WRITTEN, load)
    return EXIT_OK
