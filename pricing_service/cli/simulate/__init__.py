"""`pricing simulate ...`: indicative pricing over portfolios, policy diffs, what-if, Monte Carlo,
calibration. Every run writes its files and a self-contained HTML report to --out; nothing
here writes to an audit log or asks a server for a binding quote.

One module per command; what they share (flags, policy, portfolio, output files) is in
common.py, and the what-if, Monte Carlo and calibration reports are built in
simulate/reports/. cli/simulate_args.py holds the arguments and imports this package only
when a command runs: numpy, scipy, matplotlib and pyarrow load here, not for `pricing --help`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pricing_service.cli.simulate.calibrate import cmd_calibrate
from pricing_service.cli.simulate.common import ClientFactory, SimulateUsageError, parse_as_of
from pricing_service.cli.simulate.diff import cmd_diff
from pricing_service.cli.simulate.montecarlo import cmd_montecarlo
from pricing_service.cli.simulate.run import cmd_run
from pricing_service.cli.simulate.whatif import cmd_whatif

HANDLERS: dict[str, Callable[[argparse.Namespace, ClientFactory], int]] = {
    "run": cmd_run,
    "diff": cmd_diff,
    "whatif": cmd_whatif,
    "montecarlo": cmd_montecarlo,
    "calibrate": cmd_calibrate,
}


def run_command(
    name: str,
    args: argparse.Namespace,
    client_factory: ClientFactory,
    usage_error: type[Exception],
) -> int:
    """Run `pricing simulate NAME`; a SimulateUsageError becomes the CLI's `usage_error`."""
    try:
        return HANDLERS[name](args, client_factory)
    except SimulateUsageError as exc:
        raise usage_error(str(exc)) from None


__all__ = ["HANDLERS", "SimulateUsageError", "parse_as_of", "run_command"]
