"""Constants and types shared by the integration tests (imported as a plain module).

Kept out of conftest.py because several test directories have a conftest.py, and
`import conftest` would resolve to whichever one was loaded last.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog
from ecoloan_client import Backoff

from pricing_service.audit.sink import AuditEvent, AuditPosition
from pricing_service.bootstrap import (
    Components,
    SyncServer,
    build_components,
    start_aio_server,
    start_sync_server,
)
from pricing_service.config import load_config

# 2026-11-20 10:00 Beijing time: the 2025-05-20 LPR fixing (1Y 3.00 %, 5Y+ 3.50 %) is in force.
FIXED_NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

# Short backoff so retry paths cost milliseconds, not seconds.
FAST_BACKOFF = Backoff(initial=0.01, multiplier=2.0, maximum=0.05)


@dataclass
class LiveServer:
    """A started server and the address to reach it."""

    running: SyncServer
    target: str


@contextmanager
def server_in_mode(directory: Path, mode: str) -> Iterator[str]:
    """A server of `mode` ("sync" or "aio") on 127.0.0.1, port 0, fixed clock; its target.

    The aio server runs on its own event loop thread, so blocking clients can call it.
    """
    config = load_config(
        env={}, listen="127.0.0.1:0", audit_dir=str(directory), server_mode=mode, grace_seconds=1
    )
    # The server's lines go to a file beside its log, not into the test output.
    previous = structlog.get_config()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory.parent / f"{directory.name}-server.log").open("w") as log_file:
        structlog.configure(logger_factory=structlog.WriteLoggerFactory(file=log_file))
        try:
            with _serving(build_components(config, clock=lambda: FIXED_NOW), mode) as target:
                yield target
        finally:
            structlog.configure(**previous)


@contextmanager
def _serving(components: Components, mode: str) -> Iterator[str]:
    if mode == "sync":
        running = start_sync_server(components)
        try:
            yield f"127.0.0.1:{running.port}"
        finally:
            running.stop(grace=1)
        return
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="aio-server", daemon=True)
    thread.start()
    aio = asyncio.run_coroutine_threadsafe(start_aio_server(components), loop).result(10)
    try:
        yield f"127.0.0.1:{aio.port}"
    finally:
        asyncio.run_coroutine_threadsafe(aio.stop(1), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


class GatedSink:
    """An audit sink that holds every acknowledgement until the test opens the gate, so
    calls are provably in flight (priced, waiting on the log) while the test acts."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.events: list[AuditEvent] = []
        self.lock = threading.Lock()

    def register_policy(self, digest: str, canonical: bytes) -> None:
        del digest, canonical

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        with self.lock:
            self.events.append(event)
            seq = len(self.events) - 1
        done: Future[AuditPosition] = Future()

        def release() -> None:
            self.gate.wait(20)
            done.set_result(AuditPosition("test", seq, ""))

        threading.Thread(target=release, daemon=True).start()
        return done

    def close(self) -> None:
        self.gate.set()
