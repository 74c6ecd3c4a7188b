"""SIGTERM drains: in-flight quotes complete, health leaves SERVING, exit code 0.

Runs the server as a real process on a free loopback port with a temp audit dir. The
drain test uses tests/e2e/slow_audit_serve.py (the real serve entry point with audit
acknowledgements held for a second) so the quotes are provably in flight when the
signal arrives; the idle test runs the installed `pricing-service` script unchanged.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import (
    Cancelled,
    PricingClient,
    PricingClientError,
    Unavailable,
    carbon_grade,
    quote_request,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
IN_FLIGHT = 4


@dataclass
class ServerProcess:
    """A server subprocess whose JSON log lines (stderr) are collected as they come."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    def pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw.append(line)
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                self.lines.put(record)

    def wait_for(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        """The next log record with this event name (earlier ones are kept in `seen`)."""
        deadline = time.monotonic() + timeout
        for record in self.seen:
            if record.get("event") == event:
                self.seen.remove(record)
                return record
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tail = "".join(line[:300] for line in self.raw[-20:])
                raise AssertionError(f"no {event!r} log line in {timeout} s; log tail:\n{tail}")
            try:
                record = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if record.get("event") == event:
                return record
            self.seen.append(record)

    def events(self) -> list[str]:
        return [str(json.loads(line).get("event")) for line in self.raw if line.startswith("{")]


def start(
    argv: list[str], tmp_path: Path, extra: tuple[str, ...] = ()
) -> Iterator[tuple[ServerProcess, str]]:
    env = {
        **os.environ,
        "PRICING_LOG_FORMAT": "json",
        "PRICING_GRACE_SECONDS": "10",
        "E2E_AUDIT_DELAY_SECONDS": "1.0",
    }
    env.pop("PRICING_CONFIG", None)
    proc = subprocess.Popen(
        [
            *argv,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--audit-dir",
            str(tmp_path / "audit"),
            *extra,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    server = ServerProcess(proc)
    pump = threading.Thread(target=server.pump, name="server-log", daemon=True)
    pump.start()
    try:
        serving = server.wait_for("serving")
        yield server, f"127.0.0.1:{serving['port']}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        pump.join(5)  # reads to the end of the dead server's stderr, then the pipe can close
        assert proc.stderr is not None
        proc.stderr.close()


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    yield from start([sys.executable, str(HERE / "slow_audit_serve.py")], tmp_path)


@pytest.fixture
def plain_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    exe = shutil.which("pricing-service", path=str(BIN))
    assert exe is not None
    yield from start([exe], tmp_path)


def lvtanrong(request_id: str) -> pb.CreateQuoteRequest:
    return quote_request(
        request_id=request_id,
        product_id="lvtanrong",
        borrower_id=f"B-{request_id}",
        credit_rating="AA",
        principal_cny="1000000",
        term_months=12,
        repayment="equal-installment",
        pricing_time="2026-11-20T10:00:00+08:00",
        carbon_grade=carbon_grade(1, "2026-09-30", "changji-carbon-account"),
    )


def health_or_error(target: str) -> str:
    """The health status, or the status code of the failed check (a draining server
    cancels new RPCs; a stopped one refuses the connection)."""
    with PricingClient(target, default_timeout=1.0, max_attempts=1) as client:
        try:
            return client.health()
        except (Unavailable, Cancelled) as exc:
            return exc.code.name


def test_sigterm_drains_in_flight_quotes_then_exits_0(
    slow_server: tuple[ServerProcess, str],
) -> None:
    server, target = slow_server
    with PricingClient(target, default_timeout=5.0) as client:
        assert client.health() == "SERVING"

    # One attempt each: a drained call must succeed on its own, not through a retry.
    def create(i: int) -> pb.CreateQuoteResponse:
        with PricingClient(target, default_timeout=15.0, max_attempts=1) as c:
            return c.create_quote(lvtanrong(f"sigterm-{i}"))

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        calls = [pool.submit(create, i) for i in range(IN_FLIGHT)]
        for _ in range(IN_FLIGHT):  # every call has reached the audit log and is held there
            server.wait_for("e2e_audit_held")
        assert not any(c.done() for c in calls)
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for("draining")

        statuses = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            status = health_or_error(target)
            statuses.append(status)
            if status != "SERVING":
                break
            time.sleep(0.05)
        assert statuses[-1] in ("NOT_SERVING", "CANCELLED", "UNAVAILABLE"), statuses

        results = []
        for call in calls:
            try:
                results.append(call.result(timeout=20))
            except PricingClientError as exc:  # pragma: no cover - the failure to report
                pytest.fail(f"in-flight CreateQuote failed during drain: {exc}")
    assert [r.quote.annual_rate for r in results] == ["1.30"] * IN_FLIGHT
    assert len({r.quote.quote_id for r in results}) == IN_FLIGHT

    assert server.proc.wait(timeout=20) == 0
    events = server.events()
    assert events.index("serving") < events.index("draining") < events.index("stopped")
    assert health_or_error(target) == "UNAVAILABLE"


def test_sigterm_on_idle_installed_server_exits_0(
    plain_server: tuple[ServerProcess, str],
) -> None:
    server, target = plain_server
    assert health_or_error(target) == "SERVING"
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=20) == 0
    server.wait_for("draining")
    server.wait_for("stopped")
    assert health_or_error(target) == "UNAVAILABLE"
