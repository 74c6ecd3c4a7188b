"""The PostgreSQL store under trouble, for real: a database restarted mid-load, and an
insider's edits to the database caught by the auditor's commands.

PostgreSQL is stopped with ``-m immediate`` (a crash: no shutdown checkpoint, WAL replayed
at the next start) while clients with retries load two replicas. Every quote a client
received is in the log once, with its request id; calls that met the dead database were
UNAVAILABLE with a RetryInfo, then succeeded on a retry. An edited record row is a fork
that `pricing audit verify` names by sequence number; a log rolled back with its own head
and checkpoints is a truncation once the auditor shows a checkpoint kept from before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import Backoff, PricingClient, PricingClientError, carbon_grade
from ecoloan_client import quote_request as make_request
from pg_support import replicas_on, start_postgres

from deploy.local.postgres import PgServer
from pricing_service.audit.keys import write_keypair
from pricing_service.audit.pgstore.schema import migrate
from pricing_service.bootstrap import SyncServer
from pricing_service.cli.main import main

ORIGIN = "changji.example/pricing-audit/pg-durability"
CLIENTS = 4
PER_CLIENT = 40


@pytest.fixture
def pg() -> Iterator[PgServer]:
    server = start_postgres()
    try:
        with psycopg.connect(server.dsn) as conn:
            migrate(conn)
        yield server
    finally:
        server.close()


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return write_keypair(ORIGIN, tmp_path / "keys")


@pytest.fixture
def replicas(pg: PgServer, keys: tuple[Path, Path], tmp_path: Path) -> Iterator[list[SyncServer]]:
    # Every batch's checkpoint kept, so a rollback has the checkpoint of any size to fake.
    with replicas_on(pg, ORIGIN, keys[0], tmp_path, audit_checkpoint_interval_ms=0) as running:
        yield running


def _request(c: int, n: int) -> pb.CreateQuoteRequest:
    return make_request(
        product_id="lvtanrong",
        borrower_id=f"D-{c}-{n}",
        credit_rating="AA",
        term_months=12 + n % 36,
        repayment="equal-installment",
        principal_fen=1_000_000_00 + n,
        request_id=f"durable-{c}-{n}",
        pricing_time="2026-11-20T10:00:00+08:00",
        carbon_grade=carbon_grade(1 + n % 3, "2026-09-30", "changji-carbon-account"),
    )


def test_a_database_crash_mid_load_loses_no_acknowledged_quote(
    pg: PgServer, replicas: list[SyncServer], keys: tuple[Path, Path]
) -> None:
    received: dict[str, str] = {}
    unavailable: list[tuple[str, float | None]] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        server = replicas[c % 2]
        backoff = Backoff(initial=0.2, multiplier=2.0, maximum=2.0)
        with (
            PricingClient(f"127.0.0.1:{server.port}", max_attempts=1) as once,
            PricingClient(f"127.0.0.1:{server.port}", max_attempts=10, backoff=backoff) as patient,
        ):
            for n in range(PER_CLIENT):
                try:
                    reply = once.create_quote(_request(c, n))
                except PricingClientError as exc:
                    with lock:
                        unavailable.append((exc.code.name, exc.retry_delay))
                    reply = patient.create_quote(_request(c, n))  # the same request id
                with lock:
                    received[f"durable-{c}-{n}"] = reply.quote.quote_id

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(received) < 40:
        time.sleep(0.01)
    pg.stop("immediate")
    time.sleep(1.0)
    pg.start()
    for t in threads:
        t.join(timeout=120)

    assert len(received) == CLIENTS * PER_CLIENT
    assert unavailable  # some calls met the dead database: UNAVAILABLE, told when to retry
    assert all(code == "UNAVAILABLE" and (delay or 0) > 0 for code, delay in unavailable)
    with psycopg.connect(pg.dsn) as conn:
        rows = conn.execute(
            "SELECT request_id, quote_id FROM audit_records WHERE kind = 'quote'"
        ).fetchall()
    assert len(rows) == len({rid for rid, _ in rows})  # one quote per request id
    assert dict(rows) == received  # every acknowledged quote, and no other
    assert main(["audit", "verify", pg.dsn, "--public-key", str(keys[1])]) == 0


def _quote_a_few(replicas: list[SyncServer], count: int) -> None:
    with PricingClient(f"127.0.0.1:{replicas[0].port}") as client:
        for n in range(count):
            client.create_quote(_request(9, n))


def test_an_edited_record_row_is_a_fork_verify_names(
    pg: PgServer,
    replicas: list[SyncServer],
    keys: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _quote_a_few(replicas, 5)
    with psycopg.connect(pg.dsn) as conn:
        conn.execute(
            "UPDATE audit_records SET record = replace(convert_from(record, 'UTF8'),"
            ' \'"annual_rate":"\', \'"annual_rate":"0\')::bytea WHERE seq = 2'
        )
    capsys.readouterr()
    assert main(["audit", "verify", pg.dsn, "--public-key", str(keys[1])]) == 1
    out = capsys.readouterr().out
    assert "seq 2: fork: record differs from the one checkpoint" in out


def test_a_rolled_back_database_is_a_truncation_against_a_kept_checkpoint(
    pg: PgServer,
    replicas: list[SyncServer],
    keys: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _quote_a_few(replicas, 6)
    with psycopg.connect(pg.dsn) as conn:
        (head,) = conn.execute("SELECT checkpoint FROM audit_log").fetchone() or ("",)
        kept = tmp_path / "kept.note"
        kept.write_text(head)  # what an auditor kept from an earlier visit
        # The insider's rollback to 3 records, head and checkpoints included: consistent.
        (note3,) = conn.execute("SELECT note FROM audit_checkpoints WHERE size = 3").fetchone() or (
            "",
        )
        conn.execute("DELETE FROM audit_records WHERE seq >= 3")
        conn.execute("DELETE FROM audit_checkpoints WHERE size > 3")
        conn.execute("UPDATE audit_log SET size = 3, checkpoint = %s", (note3,))
    capsys.readouterr()
    assert main(["audit", "verify", pg.dsn, "--public-key", str(keys[1])]) == 0
    capsys.readouterr()
    args = ["audit", "verify", pg.dsn, "--public-key", str(keys[1]), "--checkpoint", str(kept)]
    assert main(args) == 1
    assert "truncation: the log ends after 3 records" in capsys.readouterr().out
