"""The arguments of `pricing simulate ...`; the commands themselves are in cli/simulate/
(a module per command), imported only when one runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

COMMANDS = ("run", "diff", "whatif", "montecarlo", "calibrate")
ClientFactory = Callable[[argparse.Namespace], Any]


# -- parser ------------------------------------------------------------------------------


def _common(
    p: argparse.ArgumentParser, *, portfolio: bool = True, per_loan_file: bool = False
) -> None:
    if portfolio:
        p.add_argument("portfolio", type=Path, metavar="PORTFOLIO", help=".csv or .parquet file")
        p.add_argument(
            "--strict", action="store_true", help="stop at the first bad row (default: skip it)"
        )
        p.add_argument(
            "--as-of",
            metavar="WHEN",
            help="pricing instant: RFC 3339, or YYYY-MM-DD (noon Beijing time); default now",
        )
    if per_loan_file:
        p.add_argument(
            "--format",
            choices=("csv", "parquet"),
            default="csv",
            help="per-loan output format (csv)",
        )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--progress", action="store_true", help="show progress on stderr")


POLICY_HELP = "default (shipped), live (fetched from --target), or a policy file/directory"


def add_simulate_commands(
    sub: Any,
    conn: argparse.ArgumentParser,
    client_factory: ClientFactory,
    usage_error: type[Exception],
) -> None:
    """Add `simulate` and its subcommands to the `pricing` parser."""
    sim = sub.add_parser(
        "simulate",
        help="indicative pricing over portfolios, diffs, what-if, Monte Carlo, calibration",
        description="Indicative simulations: never binding, never written to an audit log. "
        "`pricing simulate PORTFOLIO ...` is short for `pricing simulate run PORTFOLIO ...`.",
    )
    ssub = sim.add_subparsers(dest="simulate_command", required=True, metavar="ACTION")

    def bind(name: str) -> Callable[[argparse.Namespace], int]:
        def run(args: argparse.Namespace) -> int:
            # numpy, scipy, matplotlib and pyarrow load only when a simulation runs:
            # `pricing quote` should start fast.
            from pricing_service.cli import simulate  # noqa: PLC0415

            return simulate.run_command(name, args, client_factory, usage_error)

        return run

    run = ssub.add_parser(
        "run", parents=[conn], help="price a portfolio under one policy (the default action)"
    )
    _common(run, per_loan_file=True)
    run.add_argument("--policy", default="default", metavar="POLICY", help=POLICY_HELP)
    run.set_defaults(func=bind("run"))

    diff = ssub.add_parser(
        "diff", parents=[conn], help="price a portfolio under a base and a draft policy"
    )
    _common(diff, per_loan_file=True)
    diff.add_argument("--base", default="default", metavar="POLICY", help=POLICY_HELP)
    diff.add_argument("--draft", required=True, metavar="POLICY", help=POLICY_HELP)
    diff.set_defaults(func=bind("diff"))

    wi = ssub.add_parser(
        "whatif",
        parents=[conn],
        help="re-price an audit log's binding requests under a draft policy",
    )
    wi.add_argument("logdir", type=Path, metavar="LOGDIR")
    wi.add_argument("--draft", required=True, metavar="POLICY", help=POLICY_HELP)
    wi.add_argument("--from", dest="date_from", type=date.fromisoformat, metavar="DATE")
    wi.add_argument("--to", dest="date_to", type=date.fromisoformat, metavar="DATE")
    wi.add_argument("--product", help="only this product id")
    wi.add_argument("--borrower", help="only this borrower id")
    _common(wi, portfolio=False)
    wi.set_defaults(func=bind("whatif"))

    mc = ssub.add_parser(
        "montecarlo",
        parents=[conn],
        help="grade migration and score drift with annual re-pricing, over many paths",
    )
    _common(mc)
    mc.add_argument("--policy", default="default", metavar="POLICY", help=POLICY_HELP)
    mc.add_argument("--years", type=int, default=5, metavar="N", help="annual resets (5)")
    mc.add_argument("--paths", type=int, default=1000, metavar="M", help="paths (1000)")
    mc.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (0)")
    mc.add_argument(
        "--transitions",
        type=Path,
        metavar="FILE",
        help="migration model TOML (grade matrix, score drift); default: the shipped one",
    )
    mc.set_defaults(func=bind("montecarlo"))

    cal = ssub.add_parser(
        "calibrate",
        parents=[conn],
        help="solve a policy parameter for a first-year concession budget",
    )
    _common(cal)
    cal.add_argument("--policy", default="default", metavar="POLICY", help=POLICY_HELP)
    cal.add_argument(
        "--target-cost", required=True, metavar="CNY", help="first-year concession budget, CNY"
    )
    cal.add_argument(
        "--param",
        required=True,
        metavar="PATH",
        help="products.<id>.grade_adjust_bp[.<grade>] | products.<id>.curve_scale | "
        "products.<id>.bands.<i>.adjust_bp",
    )
    cal.add_argument("--lo", metavar="VALUE", help="lower end of the values tried")
    cal.add_argument("--hi", metavar="VALUE", help="upper end of the values tried")
    cal.set_defaults(func=bind("calibrate"))


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """`simulate PORTFOLIO ...` -> `simulate run PORTFOLIO ...` (the default action).

    Also `simulate --as-of DATE PORTFOLIO ...` (options first), unless it asks for
    help or names an action later on.
    """
    args = list(argv)
    if args[:1] == ["simulate"] and len(args) > 1:
        first = args[1]
        if first.startswith("-"):
            if first not in ("-h", "--help") and not set(args[2:]) & set(COMMANDS):
                args.insert(1, "run")
        elif first not in COMMANDS:
            args.insert(1, "run")
    return args


__all__ = ["COMMANDS", "add_simulate_commands", "normalise_argv"]
