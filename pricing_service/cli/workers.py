"""`pricing-service serve --workers N`: N server processes on one port (SO_REUSEPORT).

grpcio's own multiprocessing example: the processes are forked *before* anything of
gRPC starts (a fork after gRPC's threads exist is undefined), each then builds its own
server, audit connection pool and writer, and the kernel spreads new connections over
them. They are replicas of one service, so they need a log they can share: the PostgreSQL
store (`audit_dsn`). The file log has one writer per directory (its lock), so with it
`--workers` above 1 is refused with that reason rather than half-working.

The parent only supervises: it passes SIGTERM, SIGINT and SIGHUP on to every worker,
starts a worker again if one dies (after a second, so a worker that cannot start does not
spin), and exits 0 once every worker has drained and exited 0.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace

import structlog

from pricing_service.config import ServiceConfig

RESTART_DELAY_SECONDS = 1.0
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def check_workers(config: ServiceConfig, workers: int) -> str | None:
    """Why `config` cannot run `workers` processes, or None if it can."""
    if workers < 1:
        return f"--workers must be at least 1, got {workers}"
    if workers == 1:
        return None
    if not config.audit_dsn:
        return (
            "--workers above 1 needs audit_dsn (the PostgreSQL audit store): the file log "
            "has one writer per directory, so the processes could not share it"
        )
    if config.metrics_listen:
        return "--workers above 1 cannot share one metrics_listen port: scrape each replica"
    if config.listen.rsplit(":", 1)[-1] == "0":
        return "--workers above 1 needs a fixed port, not 0"
    return None


def run_workers(config: ServiceConfig, workers: int, serve: Callable[[ServiceConfig], int]) -> int:
    """Fork `workers` processes that each run `serve(config)` on one port; supervise them."""
    log = structlog.get_logger("pricing_service")
    config = replace(config, so_reuseport=True)
    children: dict[int, int] = {}  # pid -> worker number
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if signum != signal.SIGHUP:
            stopping.append(signum)
        for pid in children:
            os.kill(pid, signum)

    def spawn(number: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: default signal handling, then a server of its own
            for sig in _FORWARDED:
                signal.signal(sig, signal.SIG_DFL)
            code = 1
            try:
                code = serve(config)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = number

    for sig in _FORWARDED:
        signal.signal(sig, forward)
    for number in range(workers):
        spawn(number)
    log.info("workers_started", workers=workers, pids=sorted(children), address=config.listen)
    failed = 0
    while children:
        try:
            pid, status = os.wait()
        except InterruptedError:  # pragma: no cover - PEP 475 retries os.wait
            continue
        number = children.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            failed |= code != 0
            continue
        log.warning("worker_died", worker=number, pid=pid, exit_code=code, restart_in=1.0)
        time.sleep(RESTART_DELAY_SECONDS)
        if not stopping:
            spawn(number)
    log.info("workers_stopped", clean=not failed)
    return 1 if failed else 0
