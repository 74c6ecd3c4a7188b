"""The request-id index: per-thread readers, rows flushed by its own thread, and a
start-up catch-up that re-reads a margin below the highest indexed position."""

from __future__ import annotations

import threading
from pathlib import Path

from pricing_service.audit.request_index import FLUSH_SECONDS, RequestIndex


def _row(n: int, seq: int | None = None) -> tuple[str, str, bytes, int]:
    return f"r{n}", f"q_{n:032x}", n.to_bytes(8, "big"), n if seq is None else seq


def test_a_queued_row_is_found_before_and_after_it_reaches_the_disk(tmp_path: Path) -> None:
    index = RequestIndex(tmp_path)
    try:
        index.put_later(_row(1))
        assert index.get("r1") == ("q_" + f"{1:032x}", (1).to_bytes(8, "big"))  # queued
        index.flush()
        assert index.get("r1") == ("q_" + f"{1:032x}", (1).to_bytes(8, "big"))
        index.put_later(_row(2))
        threading.Event().wait(FLUSH_SECONDS * 10)  # the flusher's own turn
        assert index.get("r2") is not None
        assert (len(index), index.last_seq()) == (2, 2)
    finally:
        index.close()


def test_close_flushes_what_is_queued(tmp_path: Path) -> None:
    index = RequestIndex(tmp_path)
    for n in range(100):
        index.put_later(_row(n))
    index.close()
    again = RequestIndex(tmp_path)
    try:
        assert (len(again), again.last_seq()) == (100, 99)
    finally:
        again.close()


def test_threads_read_through_connections_of_their_own(tmp_path: Path) -> None:
    index = RequestIndex(tmp_path)
    try:
        index.put_many([_row(n) for n in range(50)])
        found: list[int] = []
        lock = threading.Lock()

        def read(k: int) -> None:
            hits = sum(index.get(f"r{n}") is not None for n in range(k, 50, 4))
            with lock:
                found.append(hits)

        threads = [threading.Thread(target=read, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(found) == [12, 12, 13, 13]
        assert len(index._readers) == 4
    finally:
        index.close()


def _queries(index: RequestIndex) -> list[str]:
    """Every statement the calling thread's reader runs from now on."""
    seen: list[str] = []
    index._reader().set_trace_callback(seen.append)
    return seen


def test_a_new_id_is_answered_without_a_query(tmp_path: Path) -> None:
    index = RequestIndex(tmp_path)
    try:
        index.put_many([_row(n) for n in range(200)])
        queries = _queries(index)
        assert [index.get(f"new-{n}") for n in range(1000)].count(None) == 1000
        # A Bloom filter at 1 %: a handful of the 1,000 new ids may still be asked.
        assert len(queries) < 40
        assert index.get("r7") == (f"q_{7:032x}", (7).to_bytes(8, "big"))
        assert len([q for q in queries if "r7" in q]) == 1  # a known id still asks SQLite
    finally:
        index.close()


def test_ids_on_disk_are_known_to_a_reopened_index(tmp_path: Path) -> None:
    first = RequestIndex(tmp_path)
    first.put_many([_row(n) for n in range(300)])
    first.put_later(_row(300))
    first.close()
    again = RequestIndex(tmp_path)
    try:
        assert all(again.get(f"r{n}") is not None for n in range(301))
        assert again.get("r301") is None
    finally:
        again.close()


def test_a_queued_id_is_known_before_its_flush_and_after(tmp_path: Path) -> None:
    index = RequestIndex(tmp_path)
    try:
        index.put_later(_row(5))
        index.flush()
        queries = _queries(index)
        assert index.get("r5") is not None  # on disk now: found through the filter
        assert len(queries) == 1
    finally:
        index.close()
