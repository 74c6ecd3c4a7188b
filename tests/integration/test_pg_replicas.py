"""Two real servers (replicas) sharing one PostgreSQL audit log started for this module.

A retry that lands on the other replica gets the original quote; the same request id
sent to both replicas at the same instant yields one binding quote, every time; either
replica reads and proves the other's quotes; a lost database is UNAVAILABLE and the
replicas resume when it returns; the auditor's commands take the database's address as
they take a directory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import PricingClient, PricingClientError, carbon_grade
from ecoloan_client import quote_request as make_request
from live_support import FAST_BACKOFF
from pg_support import replicas_on, start_postgres

from deploy.local.postgres import PgServer
from pricing_service.audit.keys import load_verifier, write_keypair
from pricing_service.audit.merkle import leaf_hash, verify_inclusion
from pricing_service.audit.note import verify_checkpoint
from pricing_service.audit.pgstore.schema import migrate
from pricing_service.bootstrap import SyncServer
from pricing_service.cli.main import main

ORIGIN = "changji.example/pricing-audit/pg"


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = start_postgres()
    try:
        with psycopg.connect(server.dsn) as conn:
            migrate(conn)
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_keypair(ORIGIN, tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def replicas(
    pg: PgServer, keys: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[SyncServer]]:
    with replicas_on(pg, ORIGIN, keys[0], tmp_path_factory.mktemp("replicas")) as running:
        yield running


def _client(server: SyncServer, attempts: int = 4) -> PricingClient:
    return PricingClient(f"127.0.0.1:{server.port}", max_attempts=attempts, backoff=FAST_BACKOFF)


def _request(rid: str, principal_fen: int = 1_000_000_00) -> pb.CreateQuoteRequest:
    return make_request(
        product_id="lvtanrong",
        borrower_id="XJ-CJ-ALU-0001",
        credit_rating="AA",
        term_months=12,
        repayment="equal-installment",
        principal_fen=principal_fen,
        request_id=rid,
        pricing_time="2026-11-20T10:00:00+08:00",
        carbon_grade=carbon_grade(1, "2026-09-30", "changji-carbon-account"),
    )


def test_a_retry_on_the_other_replica_gets_the_original_quote(replicas: list[SyncServer]) -> None:
    a, b = replicas
    with _client(a) as ca, _client(b) as cb:
        first = ca.create_quote(_request("pg-retry-1"))
        again = cb.create_quote(_request("pg-retry-1"))
        assert first.quote.annual_rate == "1.30"  # 1Y LPR 3.00 + 30 bp (AA) - 200 bp
        assert again.quote.quote_id == first.quote.quote_id
        assert again.audit_position == first.audit_position
        assert cb.get_quote(first.quote.quote_id).quote == first.quote
        with pytest.raises(PricingClientError) as reused:
            cb.create_quote(_request("pg-retry-1", principal_fen=2_000_000_00))
        assert reused.value.code.name == "ALREADY_EXISTS"  # another request under the id


def test_one_request_id_sent_to_both_replicas_at_once_is_one_quote(
    pg: PgServer, replicas: list[SyncServer]
) -> None:
    a, b = replicas
    rounds = 25
    with _client(a) as ca, _client(b) as cb:
        for n in range(rounds):
            rid = f"pg-race-{n}"
            start = threading.Barrier(2)
            got: dict[str, str] = {}

            def send(
                name: str,
                client: PricingClient,
                rid: str = rid,
                start: threading.Barrier = start,
                got: dict[str, str] = got,
            ) -> None:
                start.wait()
                got[name] = client.create_quote(_request(rid)).quote.quote_id

            threads = [
                threading.Thread(target=send, args=("a", ca)),
                threading.Thread(target=send, args=("b", cb)),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert got["a"] == got["b"]
    with psycopg.connect(pg.dsn) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM audit_records"
            " WHERE kind = 'quote' AND request_id LIKE 'pg-race-%'"
        ).fetchone()
    assert row == (rounds, rounds)


def test_either_replica_proves_a_quote_with_the_logs_key(
    replicas: list[SyncServer], keys: tuple[Path, Path]
) -> None:
    a, b = replicas
    with _client(a) as ca, _client(b) as cb:
        quote = ca.create_quote(_request("pg-proof-1")).quote
        proof = cb.get_quote_proof(quote.quote_id)
    # Signed with the log's one key, whichever replica sequenced or answers.
    checkpoint = verify_checkpoint(proof.checkpoint, load_verifier(keys[1]))
    assert proof.tree_size == checkpoint.size > proof.audit_position.sequence
    verify_inclusion(
        leaf_hash(proof.record),
        proof.audit_position.sequence,
        proof.tree_size,
        list(proof.inclusion_proof),
        checkpoint.root_hash,
    )


def test_a_lost_database_is_unavailable_then_the_replicas_resume(
    pg: PgServer, replicas: list[SyncServer]
) -> None:
    a, b = replicas
    pg.stop("immediate")
    try:
        with _client(a, attempts=1) as ca, pytest.raises(PricingClientError) as lost:
            ca.create_quote(_request("pg-lost-1"))
        assert lost.value.code.name == "UNAVAILABLE"
    finally:
        pg.start()
    with _client(b) as cb:
        assert cb.create_quote(_request("pg-lost-2")).quote.annual_rate == "1.30"


def test_the_auditors_commands_take_the_database(
    pg: PgServer,
    replicas: list[SyncServer],
    keys: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with _client(replicas[0]) as ca:
        ca.create_quote(_request("pg-audit-1"))
    capsys.readouterr()
    assert main(["audit", "verify", pg.dsn, "--public-key", str(keys[1])]) == 0
    assert capsys.readouterr().out.startswith(f"OK: {ORIGIN}: ")
    assert main(["audit", "replay", pg.dsn]) == 0
    capsys.readouterr()
    out = tmp_path / "exported"
    assert main(["audit", "export", pg.dsn, str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"exported {ORIGIN}: ")
    assert main(["audit", "verify", str(out), "--public-key", str(keys[1])]) == 0
    assert (out / "audit.vkey").read_text() == keys[1].read_text()
    assert not list(out.rglob("*.skey"))
