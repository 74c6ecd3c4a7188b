"""The PostgreSQL audit store against a real PostgreSQL started for this module.

Two `PgAuditLog`s on one database are two replicas: their batches interleave into one
sequence and one tree, each acknowledged record inside a signed checkpoint; the database
binds a request id to one quote whichever replica asks first; a lost database fails
batches with AuditUnavailableError and the store resumes when it returns; the export
verifies with the log's key.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import psycopg
import pytest
from pg_support import start_postgres

from deploy.local.postgres import PgServer
from pricing_service.audit.errors import AuditLogCorruptError
from pricing_service.audit.keys import load_verifier
from pricing_service.audit.merkle import leaf_hash, verify_inclusion
from pricing_service.audit.note import Signer, generate_key, verify_checkpoint
from pricing_service.audit.pgstore.export import export_log
from pricing_service.audit.pgstore.schema import applied, migrate
from pricing_service.audit.pgstore.store import PgAuditLog
from pricing_service.audit.sink import (
    AuditEvent,
    AuditPosition,
    AuditUnavailableError,
    DuplicateRequestError,
)
from pricing_service.audit.verify import verify_log

ORIGIN = "changji.example/pricing-audit/pg"
SKEY, VKEY = generate_key(ORIGIN)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def dsn(pg: PgServer) -> str:
    pg.reset()
    with psycopg.connect(pg.dsn) as conn:
        migrate(conn)
    return pg.dsn


def _signer() -> Signer:
    return Signer.from_skey(SKEY)


def _store(dsn: str, **kw: object) -> PgAuditLog:
    return PgAuditLog(dsn, ORIGIN, _signer(), code_version="0.1.0", **kw)  # type: ignore[arg-type]


def _quote(i: int, rid: str | None = None, prints: tuple[int, ...] = (1, 2)) -> AuditEvent:
    return AuditEvent(
        kind="quote",
        request={"request_id": rid if rid is not None else f"r{i}", "principal_fen": str(i)},
        response={"quote_id": f"q_{i:032x}", "annual_rate": "1.30"},
        error=None,
        caller="bank-a",
        policy_digest="ab" * 32,
        time="2026-11-20T02:00:00Z",
        peer="ipv4:127.0.0.1:50000",
        request_prints=prints,
    )


def test_migrations_apply_once(pg: PgServer) -> None:
    pg.reset()
    with psycopg.connect(pg.dsn) as conn:
        assert applied(conn) == []
        assert migrate(conn) == ["0001_audit_log.sql"]
        assert migrate(conn) == []
        assert applied(conn) == [1]


def test_two_replicas_share_one_sequence_and_every_ack_is_signed(dsn: str, tmp_path: Path) -> None:
    a, b = _store(dsn), _store(dsn)
    try:
        futures: list[Future[AuditPosition]] = []

        def replica(store: PgAuditLog, start: int) -> None:
            for i in range(start, start + 60):
                futures.append(store.submit(_quote(i)))

        threads = [threading.Thread(target=replica, args=(s, n)) for s, n in ((a, 0), (b, 60))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        positions = [f.result(timeout=30) for f in futures]
        assert sorted(p.sequence for p in positions) == list(range(120))
        stats = (a.stats(), b.stats())
        assert [s.records for s in stats] == [60, 60]
        assert sum(s.batches for s in stats) == sum(len(s.batch_sizes) for s in stats)
        assert sum(sum(s.batch_sizes) for s in stats) == 120
        note = a.latest_checkpoint()
        assert note is not None
        assert verify_checkpoint(note, _signer().verifier()).size == 120
        proof = b.prove_quote(f"q_{7:032x}")
        cp = verify_checkpoint(proof.checkpoint, _signer().verifier())
        verify_inclusion(
            leaf_hash(proof.record),
            proof.position.sequence,
            cp.size,
            list(proof.proof),
            cp.root_hash,
        )
    finally:
        a.close()
        b.close()
    out = tmp_path / "export"
    result = export_log(dsn, out)
    assert (result.origin, result.records) == (ORIGIN, 120)
    (out / "pub.vkey").write_text(VKEY + "\n")
    report = verify_log(out, load_verifier(out / "pub.vkey"))
    assert (report.ok, report.records, report.verified_size, report.uncovered) == (
        True,
        120,
        120,
        0,
    )
    assert (out / "audit.vkey").read_text() == VKEY + "\n"


def test_one_request_id_binds_one_quote_whichever_replica_asks(dsn: str) -> None:
    a, b = _store(dsn), _store(dsn)
    try:
        for round_ in range(20):
            rid = f"same-{round_}"
            start = threading.Barrier(2)
            got: dict[str, Future[AuditPosition]] = {}

            def send(
                name: str,
                store: PgAuditLog,
                i: int,
                rid: str = rid,
                start: threading.Barrier = start,
                got: dict[str, Future[AuditPosition]] = got,
            ) -> None:
                start.wait()
                got[name] = store.submit(_quote(i, rid))

            threads = [
                threading.Thread(target=send, args=("a", a, 1000 + 2 * round_)),
                threading.Thread(target=send, args=("b", b, 1001 + 2 * round_)),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            outcomes: dict[str, AuditPosition | DuplicateRequestError] = {}
            for name, future in got.items():
                try:
                    outcomes[name] = future.result(timeout=30)
                except DuplicateRequestError as dup:
                    outcomes[name] = dup
            won = [o for o in outcomes.values() if isinstance(o, AuditPosition)]
            lost = [o for o in outcomes.values() if isinstance(o, DuplicateRequestError)]
            assert (len(won), len(lost)) == (1, 1)
            assert lost[0].position == won[0]
            assert lost[0].request_prints == (1, 2)
            assert a.quote_of_request(rid) == (lost[0].quote_id, (1, 2), won[0].sequence)
    finally:
        a.close()
        b.close()
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM audit_records"
        ).fetchone()
    assert rows == (20, 20)


def test_the_database_itself_refuses_a_second_quote_for_a_request_id(dsn: str) -> None:
    store = _store(dsn)
    store.submit(_quote(1, "only-once")).result(timeout=30)
    store.close()
    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO audit_records (seq, record, leaf_hash, kind, request_id)"
            " VALUES (99, 'x', 'x', 'quote', 'only-once')"
        )


def test_a_lost_database_fails_batches_then_the_store_resumes(pg: PgServer, dsn: str) -> None:
    store = _store(dsn, connect_timeout_s=2.0)
    try:
        assert store.submit(_quote(0)).result(timeout=30).sequence == 0
        pg.stop("immediate")  # like a crash: no shutdown checkpoint
        with pytest.raises(AuditUnavailableError, match="unavailable"):
            store.submit(_quote(1)).result(timeout=60)
        pg.start()
        # Nothing of the failed batch was committed: its record is not in the log.
        assert store.submit(_quote(2)).result(timeout=60).sequence == 1
        assert store.find_quote(f"q_{1:032x}") is None
        assert store.size == 2
        assert (store.stats().records, store.stats().failed_batches) == (2, 1)
    finally:
        store.close()


def test_a_database_of_another_origin_or_key_is_refused(dsn: str) -> None:
    _store(dsn).close()
    other_skey, _ = generate_key(ORIGIN)
    with pytest.raises(AuditLogCorruptError, match="another key"):
        PgAuditLog(dsn, ORIGIN, Signer.from_skey(other_skey))
    with pytest.raises(AuditLogCorruptError, match=r"not 'other\.example/log'"):
        PgAuditLog(dsn, "other.example/log", _signer())


def test_a_database_that_refuses_a_query_is_unavailable_not_an_internal_error(
    dsn: str,
) -> None:
    store = _store(dsn)
    try:
        store.submit(_quote(0)).result(timeout=30)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("ALTER TABLE audit_records RENAME COLUMN quote_id TO renamed")
        with pytest.raises(AuditUnavailableError, match="the audit database refused"):
            store.find_quote(f"q_{0:032x}")
    finally:
        store.close()
