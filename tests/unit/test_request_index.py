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
