"""`pricing-service serve --workers N`: N processes on one port, sharing the PostgreSQL log.

The installed command, for real: two workers answer on one port, a worker killed with
SIGKILL is started again by the supervisor, SIGTERM drains them all and exits 0; with the
file log, more than one worker is refused with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from ecoloan_client import PricingClient, PricingClientError, quote_request

from deploy.local.postgres import PgServer, PostgresUnavailableError
from pricing_service.audit.keys import write_keypair
from pricing_service.audit.pgstore.schema import migrate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

BIN = Path(sys.executable).parent
ORIGIN = "changji.example/pricing-audit/workers"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pg() -> Iterator[PgServer]:
    try:
        server = PgServer()
    except PostgresUnavailableError as exc:
        pytest.skip(str(exc))
    try:
        with psycopg.connect(server.dsn) as conn:
            migrate(conn)
        yield server
    finally:
        server.close()


def _serving_pids(log: Path) -> list[int]:
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    return [int(x["pid"]) for x in lines if x.get("event") == "serving"]


def _wait(predicate: object, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


def test_workers_share_a_port_are_restarted_and_drain(pg: PgServer, tmp_path: Path) -> None:
    skey, _ = write_keypair(ORIGIN, tmp_path / "keys")
    port = _free_port()
    log = tmp_path / "server.log"
    env = dict(os.environ)
    env.update(
        PRICING_AUDIT_DSN=pg.dsn,
        PRICING_AUDIT_SIGNER_KEY=str(skey),
        PRICING_AUDIT_ORIGIN=ORIGIN,
        PRICING_LOG_FORMAT="json",
        PRICING_SHUTDOWN_NOTICE_SECONDS="0",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "pricing-service"), "serve", "--workers", "2",
             "--listen", f"127.0.0.1:{port}", "--audit-dir", str(tmp_path / "unused")],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait(lambda: len(_serving_pids(log)) == 2, "two workers serving")
        first = _serving_pids(log)
        assert proc.pid not in first
        quote_ids = set()
        for n in range(20):  # a channel per call: the kernel spreads connections
            with PricingClient(f"127.0.0.1:{port}") as client:
                reply = client.create_quote(
                    quote_request(
                        product_id="standard", borrower_id=f"W-{n}", credit_rating="AA",
                        term_months=12, repayment="equal-installment",
                        principal_fen=1_000_000_00, request_id=f"workers-{n}",
                    )
                )  # fmt: skip
                quote_ids.add(reply.quote.quote_id)
        assert len(quote_ids) == 20
        os.kill(first[0], signal.SIGKILL)
        _wait(lambda: len(_serving_pids(log)) == 3, "the killed worker started again")
        with PricingClient(f"127.0.0.1:{port}") as client:
            assert client.health() == "SERVING"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    events = [json.loads(x).get("event") for x in log.read_text().splitlines() if x.startswith("{")]
    assert code == 0, log.read_text()[-2000:]
    assert events.count("worker_died") == 1
    assert events.count("stopped") == 2  # both workers drained
    assert events[-1] == "workers_stopped"
    with psycopg.connect(pg.dsn) as conn:
        row = conn.execute("SELECT count(*) FROM audit_records").fetchone()
    assert row == (20,)
    gone = PricingClient(f"127.0.0.1:{port}", max_attempts=1, default_timeout=1)
    with gone as client, pytest.raises(PricingClientError):
        client.health()


def test_more_than_one_worker_needs_the_database_log(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "pricing-service"), "serve", "--workers", "2",
         "--listen", f"127.0.0.1:{_free_port()}", "--audit-dir", str(tmp_path / "audit")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "pricing-service: --workers above 1 needs audit_dsn (the PostgreSQL audit store): the "
        "file log has one writer per directory, so the processes could not share it\n"
    )
