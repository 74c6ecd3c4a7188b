"""The log's request-id index on disk (SQLite): which quote each request id made.

Derived from the log and rebuilt from it: at start the server indexes the records after
the highest position the index holds, so a lost or stale index (a crash, a deleted
file) is repaired, and an unreadable one is moved aside and rebuilt. Writes do not wait
for the disk (WAL, synchronous=NORMAL): the log is the durable copy, this only keeps
memory flat, so an idempotency window of any length costs disk, not RAM.

Off the binding path's locks: each thread reads through a connection of its own (WAL lets
readers run beside the writer), and new rows are handed to a flusher thread that writes
them in one transaction every `FLUSH_SECONDS`. A profile under load had RPC threads
queueing on one lock around one connection for a SELECT and a transaction each call. A
row not on disk yet is still found: `get` looks at the queued rows and at those being
flushed (one snapshot, under one small lock) before it asks the database.
Rows reach the disk in the order calls complete, which may trail the log's order by the
calls in flight, so the start-up catch-up re-reads `CATCH_UP_MARGIN` records below the
highest indexed one.

Nearly every binding request brings a new id, and asking SQLite that it is new cost ~65 µs
of CPU a call in the loaded server (the query releases and retakes the GIL among the RPC
threads). A Bloom filter of every id the index holds answers "not here" for those without
the query; it is filled from the table at open and by every row written after, so an id
it has not seen is in no row. Its size is fixed at open (`FILTER_MIN_IDS`, or four times
the rows then): memory stays flat, and past that many ids it only answers "maybe" more
often, which the query then settles as before.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Final

import structlog
from rbloom import Bloom

INDEX_FILE: Final = "requestids.sqlite"
FLUSH_SECONDS: Final = 0.05
CATCH_UP_MARGIN: Final = 4096
FILTER_MIN_IDS: Final = 1 << 20  # ~1.2 MB at 1 % false positives
FILTER_FALSE_POSITIVES: Final = 0.01
Row = tuple[str, str, bytes, int]  # request id, quote id, prints, seq
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS request_ids (
    request_id TEXT PRIMARY KEY,
    quote_id TEXT NOT NULL,
    prints BLOB NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID
"""
_log = structlog.get_logger(__name__)


class RequestIndex:
    """request id -> (quote id, fingerprint prints, log position)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / INDEX_FILE
        self.moved_aside: Path | None = None
        self._lock = threading.Lock()  # the writer connection and the reader list
        try:
            self._db = self._open()
        except sqlite3.DatabaseError:
            # Derived data: keep the damaged file for inspection, start a fresh one.
            self.moved_aside = self.path.with_name(f"{INDEX_FILE}.damaged-{int(time.time())}")
            self.path.rename(self.moved_aside)
            self._db = self._open()
        self._known = self._filter()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._pending: dict[str, Row] = {}  # queued for the next flush
        self._flushing: dict[str, Row] = {}  # being written now
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_every, name="request-index", daemon=True
        )
        self._flusher.start()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.execute("SELECT COUNT(*) FROM request_ids").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _filter(self) -> Bloom:
        """A Bloom filter of every request id in the table."""
        with self._lock:
            rows = self._db.execute("SELECT COUNT(*) FROM request_ids").fetchone()[0]
            known = Bloom(max(FILTER_MIN_IDS, 4 * int(rows)), FILTER_FALSE_POSITIVES)
            for (request_id,) in self._db.execute("SELECT request_id FROM request_ids"):
                known.add(request_id)
        return known

    def get(self, request_id: str) -> tuple[str, bytes] | None:
        """(quote id, prints) of a request id, or None."""
        with self._pending_lock:
            queued = self._pending.get(request_id) or self._flushing.get(request_id)
        if queued is not None:
            return queued[1], queued[2]
        if request_id not in self._known:
            return None  # in no row: every id written was added to the filter first
        row = (
            self._reader()
            .execute("SELECT quote_id, prints FROM request_ids WHERE request_id = ?", (request_id,))
            .fetchone()
        )
        return None if row is None else (str(row[0]), bytes(row[1]))

    def _reader(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            with self._lock:
                self._readers.append(db)
            self._local.db = db
        return db

    def put_later(self, row: Row) -> None:
        """Queue a row for the flusher (the binding path: no disk, no shared connection)."""
        with self._pending_lock:
            self._known.add(row[0])
            self._pending[row[0]] = row

    def flush(self) -> None:
        """Write the queued rows now, in one transaction. A disk that refuses keeps them
        queued for the next try: the log, not this index, is the durable copy."""
        with self._pending_lock:
            if not self._pending:
                return
            self._flushing, self._pending = self._pending, {}
            rows = list(self._flushing.values())
        try:
            self.put_many(rows)
        except sqlite3.Error as exc:
            _log.warning("request_index_flush_failed", rows=len(rows), error=str(exc))
            with self._pending_lock:  # queued again; newer rows for an id win
                self._pending = self._flushing | self._pending
                self._flushing = {}
            return
        with self._pending_lock:
            self._flushing = {}

    def _flush_every(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def put_many(self, rows: list[Row]) -> None:
        """Record (request id, quote id, prints, seq) rows; a later row for an id replaces."""
        with self._pending_lock:
            for row in rows:
                self._known.add(row[0])
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO request_ids VALUES (?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def last_seq(self) -> int:
        """The highest log position indexed, -1 when empty."""
        with self._lock:
            row = self._db.execute("SELECT MAX(seq) FROM request_ids").fetchone()
        return -1 if row[0] is None else int(row[0])

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM request_ids").fetchone()[0])

    def close(self) -> None:
        """Flush what is queued and close every connection."""
        self._stop.set()
        self._flusher.join()
        self.flush()
        with self._lock:
            for reader in self._readers:
                reader.close()
            self._db.close()
