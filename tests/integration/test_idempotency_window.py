"""The idempotency window bounds memory, not idempotency: ids older than the window are
found in the log's request-id index on disk, which a restart repairs or rebuilds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from live_support import FIXED_NOW

from pricing_service.api.incoming import PbIncoming, decode_document
from pricing_service.audit.request_index import INDEX_FILE
from pricing_service.config import load_config
from pricing_service.domain.errors import RequestIdReusedError
from pricing_service.policy.store import default_policies
from pricing_service.quoting.idempotency import RecentIds, Used
from pricing_service.quoting.service import QuoteService
from pricing_service.quoting.service_log import open_service_log

WINDOW = 2


def loan(rid: str, principal_fen: int = 100_000_000) -> PbIncoming:
    req = pb.CreateQuoteRequest(
        request_id=rid,
        borrower_id="B-WINDOW",
        product_id="standard",
        credit_rating="AA",
        principal_fen=principal_fen,
        term_months=12,
        repayment_method=pb.REPAYMENT_METHOD_EQUAL_PRINCIPAL,
    )
    req.pricing_time.FromJsonString("2026-11-20T02:00:00Z")
    return PbIncoming(req)


@contextmanager
def service_on(logdir: Path) -> Iterator[QuoteService]:
    config = load_config(env={}, audit_dir=str(logdir), audit_fsync=False)
    opened = open_service_log(config)
    service = QuoteService(default_policies(), opened.sink, lambda: FIXED_NOW)
    opened.restore(service, decode_document, WINDOW)
    try:
        yield service
    finally:
        opened.sink.close()
        assert opened.index is not None
        opened.index.close()


def test_an_id_older_than_the_window_is_found_on_disk(tmp_path: Path) -> None:
    logdir = tmp_path / "audit"
    with service_on(logdir) as service:
        first = {rid: service.create_quote(loan(rid), "t").quote_id for rid in "abcd"}
        assert len(service.ids) == WINDOW  # memory holds c and d only
        size = service.sink.size  # type: ignore[attr-defined]
        again = service.create_quote(loan("a"), "t")
        assert again.quote_id == first["a"]
        assert again.position.sequence == 0
        assert service.sink.size == size  # type: ignore[attr-defined] # no second quote
        with pytest.raises(RequestIdReusedError) as reused:
            service.create_quote(loan("b", principal_fen=5), "t")
        assert reused.value.quote_id == first["b"]


def test_a_restart_repairs_a_stale_index_and_rebuilds_a_damaged_one(tmp_path: Path) -> None:
    logdir = tmp_path / "audit"
    with service_on(logdir) as service:
        made = {rid: service.create_quote(loan(rid), "t").quote_id for rid in "abc"}
    (logdir / INDEX_FILE).unlink()  # lost: rebuilt from the whole log
    for suffix in ("-wal", "-shm"):
        (logdir / f"{INDEX_FILE}{suffix}").unlink(missing_ok=True)
    with service_on(logdir) as service:
        assert service.create_quote(loan("a"), "t").quote_id == made["a"]
        made["d"] = service.create_quote(loan("d"), "t").quote_id
    (logdir / INDEX_FILE).write_bytes(b"not a database" * 100)  # damaged: moved aside
    with service_on(logdir) as service:
        assert {rid: service.create_quote(loan(rid), "t").quote_id for rid in "abcd"} == made
        assert service.sink.size == 4  # type: ignore[attr-defined]
    assert len(list(logdir.glob(f"{INDEX_FILE}.damaged-*"))) == 1


def test_a_row_missing_below_the_highest_indexed_one_is_caught_up_at_start(
    tmp_path: Path,
) -> None:
    # Rows reach the index in the order calls complete, so after a crash the index may
    # hold a later record's row but not an earlier one's: the start re-reads a margin.
    logdir = tmp_path / "audit"
    with service_on(logdir) as service:
        made = {rid: service.create_quote(loan(rid), "t").quote_id for rid in "abcd"}
    with sqlite3.connect(logdir / INDEX_FILE) as db:
        db.execute("DELETE FROM request_ids WHERE request_id = 'b'")
        assert db.execute("SELECT MAX(seq) FROM request_ids").fetchone() == (3,)
    with service_on(logdir) as service:
        assert service.create_quote(loan("b"), "t").quote_id == made["b"]  # no second quote
        assert service.sink.size == 4  # type: ignore[attr-defined]
    with sqlite3.connect(logdir / INDEX_FILE) as db:
        assert db.execute("SELECT seq FROM request_ids WHERE request_id = 'b'").fetchone() == (1,)


class _Store:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[Used, int]] = {}

    def get(self, request_id: str) -> Used | None:
        hit = self.rows.get(request_id)
        return None if hit is None else hit[0]

    def put(self, request_id: str, used: Used, seq: int) -> None:
        self.rows[request_id] = (used, seq)


def test_recent_ids_keep_the_window_and_fall_through_to_the_store() -> None:
    store = _Store()
    ids = RecentIds(2, store)
    for i, rid in enumerate("xyz"):
        used = Used(f"q{i}", (i,))
        ids.remember(rid, used)
        ids.persist(rid, used, i)
    assert (len(ids), ids.recent("x"), ids.recent("z")) == (2, None, Used("q2", (2,)))
    assert ids.get("x") == Used("q0", (0,))  # from the store, now recent again
    assert ids.recent("y") is None  # the least recent gave way
    assert RecentIds(2).get("x") is None  # no store: older ids are forgotten
    with pytest.raises(ValueError, match="at least one id"):
        RecentIds(0)
