"""`make run`'s launcher: the server, not make, receives the terminal's Ctrl-C.

A Ctrl-C goes to the terminal's whole foreground process group, make included, and make answers
it by dying of the signal (the shell then sees a failed command) even though the server drained
and exited 0. Run in its own process group that owns the terminal, the server alone gets the
Ctrl-C, drains, exits 0, and make finishes with that status. SIGTERM and SIGHUP sent to this
launcher (make passes SIGTERM on to its child) are forwarded to the server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys


def _give_terminal(pgrp: int) -> None:
    # A process outside the foreground group that calls tcsetpgrp gets SIGTTOU unless it
    # ignores it; the launcher is such a process when it takes the terminal back.
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(sys.stdin.fileno(), pgrp)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def _owns_terminal() -> bool:
    try:
        return os.isatty(sys.stdin.fileno()) and os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except OSError:
        return False


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: run_foreground.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    foreground = _owns_terminal()
    child = subprocess.Popen(argv, process_group=0 if foreground else None)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, lambda s, _f: child.send_signal(s))
    if foreground:
        _give_terminal(child.pid)
    try:
        return child.wait()
    finally:
        if foreground:
            with contextlib.suppress(OSError):
                _give_terminal(os.getpgrp())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
