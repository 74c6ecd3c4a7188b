"""Progress of a pass over a log's bytes on stderr, and argparse's sub-command type:
what the audit commands share (verify and replay), kept apart so neither imports the other."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

SubParsers = argparse._SubParsersAction  # argparse's type for add_subparsers()' result


@contextmanager
def progress_bar(enabled: bool, total: int, what: str) -> Iterator[Callable[[int], None] | None]:
    """A progress callback on stderr: a rich bar on a TTY, plain lines when forced."""
    if not enabled or total <= 0:
        yield None
        return
    if sys.stderr.isatty():
        from rich.console import Console  # noqa: PLC0415 - only when a bar is shown
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = (
            "{task.description}",
            BarColumn(),
            "{task.percentage:>5.1f}%",
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(what, total=total)
            yield lambda done: bar.update(task, completed=done)
        return
    step = max(total // 20, 1)
    last = [0]

    def report(done: int, out: TextIO = sys.stderr) -> None:
        if done - last[0] >= step or done >= total:
            last[0] = done
            print(f"{what}: {100 * done / total:5.1f}%", file=out, flush=True)

    yield report
