"""The log's request-id index on disk (SQLite): which quote each request id made.

Derived from the log and rebuilt from it: at start the server indexes the records after
the highest position the index holds, so a lost or stale index (a crash, a deleted
file) is repaired, and an unreadable one is moved aside and rebuilt. Writes do not wait
for the disk (WAL, synchronous=NORMAL): the log is the durable copy, this only keeps
memory flat, so an idempotency window of any length costs disk, not RAM.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Final

INDEX_FILE: Final = "requestids.sqlite"
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS request_ids (
    request_id TEXT PRIMARY KEY,
    quote_id TEXT NOT NULL,
    prints BLOB NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID
"""


class RequestIndex:
    """request id -> (quote id, fingerprint prints, log position)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / INDEX_FILE
        self.moved_aside: Path | None = None
        self._lock = threading.Lock()
        try:
            self._db = self._open()
        except sqlite3.DatabaseError:
            # Derived data: keep the damaged file for inspection, start a fresh one.
            self.moved_aside = self.path.with_name(f"{INDEX_FILE}.damaged-{int(time.time())}")
            self.path.rename(self.moved_aside)
            self._db = self._open()

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

    def get(self, request_id: str) -> tuple[str, bytes] | None:
        """(quote id, prints) of a request id, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT quote_id, prints FROM request_ids WHERE request_id = ?", (request_id,)
            ).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def put_many(self, rows: list[tuple[str, str, bytes, int]]) -> None:
        """Record (request id, quote id, prints, seq) rows; a later row for an id replaces."""
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
        """Close the database."""
        with self._lock:
            self._db.close()
