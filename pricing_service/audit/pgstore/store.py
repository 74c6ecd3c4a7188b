"""`PgAuditLog`: the audit log in PostgreSQL, one global log for every replica.

Each replica's writer thread takes what its request threads queued (one batch) and
sequences it in one transaction against the single row of ``audit_log``, as
trillian-tessera does: lock the row, give the batch the next sequence numbers, render the
canonical records (the same structlog chain as the file log, so the same bytes), extend
the tree kept in that row, sign its checkpoint and store it there, insert the records,
commit. A reply goes after the commit, so every acknowledged record is durable *and*
inside a signed checkpoint, whichever replica wrote it, and the replicas' batches
interleave into one sequence.

Idempotency across replicas is the database's: under the row lock the batch's request
ids are looked up, and the unique index on ``request_id`` of quotes backs that up. A
quote whose request id is already bound fails with `DuplicateRequestError`, carrying the
original record, and the service answers with the original quote.

A lost connection fails the batch with AuditUnavailableError (nothing committed, nothing
acknowledged); the next batch takes a fresh connection from the pool, so the service
resumes when the database returns.
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

import psycopg
import structlog
from psycopg_pool import ConnectionPool

from pricing_service.audit.errors import (
    AuditLogCorruptError,
    NotYetCheckpointedError,
    QuoteNotFoundError,
)
from pricing_service.audit.merkle import HASH_SIZE, CompactRange, leaf_hash, verify_inclusion
from pricing_service.audit.note import Checkpoint, Signer, sign_checkpoint
from pricing_service.audit.prove import InclusionProofResult, inclusion_path
from pricing_service.audit.record import quote_id_of
from pricing_service.audit.sink import (
    AuditEvent,
    AuditPosition,
    AuditUnavailableError,
    DuplicateRequestError,
)
from pricing_service.audit.structlog_sink import make_audit_logger
from pricing_service.audit.writer import WriterStats, default_code_version

__all__ = ["PgAuditLog", "pack_prints", "unpack_prints"]

_MAX_BATCH: Final = 1024
_STATS_WINDOW: Final = 10_000  # recent batches kept for the metrics' quantiles
_log = structlog.get_logger(__name__)


def pack_prints(prints: tuple[int, ...]) -> bytes:
    """A request's fingerprints as stored (8 bytes each, big-endian)."""
    return struct.pack(f">{len(prints)}Q", *prints)


def unpack_prints(packed: bytes) -> tuple[int, ...]:
    """The inverse of `pack_prints`."""
    return tuple(struct.unpack(f">{len(packed) // 8}Q", packed))


def _split(range_bytes: bytes) -> list[bytes]:
    return [range_bytes[i : i + HASH_SIZE] for i in range(0, len(range_bytes), HASH_SIZE)]


@dataclass(slots=True)
class _Pending:
    event: AuditEvent
    future: Future[AuditPosition]


class _Rendered:
    """The last step of the audit chain: keeps the rendered bytes (a `RecordQueue`)."""

    __slots__ = ("raw",)

    def __init__(self) -> None:
        self.raw = b""

    def audit(self, rendered: bytes) -> Future[AuditPosition]:
        self.raw = rendered
        return Future()


class _DbLeaves:
    """RFC 6962 range roots over the leaf hashes in the database (`prove.RangeRoots`)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def range_root(self, lo: int, hi: int) -> bytes:
        rows = self._conn.execute(
            "SELECT leaf_hash FROM audit_records WHERE seq >= %s AND seq < %s ORDER BY seq",
            (lo, hi),
        ).fetchall()
        tree = CompactRange()
        for (h,) in rows:
            tree.append(bytes(h))
        if tree.size != hi - lo:
            raise AuditLogCorruptError(f"records {lo}..{hi - 1} are not all in the store")
        return tree.root()


class PgAuditLog:
    """The `AuditSink` of a replica writing to the shared PostgreSQL log."""

    def __init__(
        self,
        dsn: str,
        origin: str,
        signer: Signer,
        *,
        code_version: str | None = None,
        checkpoint_interval_ms: int = 1000,
        replica: str | None = None,
        pool_size: int = 4,
        connect_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Connect, and join the log (creating its row on first use). Raises
        AuditUnavailableError if the database cannot be reached or has no schema yet,
        AuditLogCorruptError if it holds the log of another origin or key."""
        self.origin = origin
        # Every record names the replica that wrote it (record version 3): the replicas
        # share one origin, so the origin cannot tell them apart.
        self.replica = replica or f"{socket.gethostname()}/{os.getpid()}"
        self._signer = signer
        self._code_version = code_version or default_code_version()
        self._interval = checkpoint_interval_ms / 1000
        self._clock = clock
        self._last_kept = -float("inf")
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            timeout=connect_timeout_s,
            kwargs={"connect_timeout": max(1, int(connect_timeout_s))},
            open=False,
        )
        try:
            self.pool.open(wait=True, timeout=connect_timeout_s)
            self._join()
        except BaseException:
            self.pool.close()
            raise
        self._cond = threading.Condition()
        self._queue: collections.deque[_Pending] = collections.deque()
        self._closing = False
        self._stats_lock = threading.Lock()
        self._records = self._batches = self._failed_batches = 0
        self._batch_sizes: collections.deque[int] = collections.deque(maxlen=_STATS_WINDOW)
        self._commit_seconds: collections.deque[float] = collections.deque(maxlen=_STATS_WINDOW)
        self._thread = threading.Thread(target=self._run, name="pg-audit-writer", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # PoolTimeout too
            raise AuditUnavailableError(f"the audit database is unavailable: {exc}") from exc
        except psycopg.errors.UndefinedTable as exc:
            raise AuditUnavailableError(
                "the audit database has no schema: run `pricing-service migrate`"
            ) from exc
        except psycopg.Error as exc:  # refused by the database (privileges, ...): not a bug here
            raise AuditUnavailableError(f"the audit database refused: {exc}") from exc

    def _join(self) -> None:
        with self._connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO audit_log (id, origin, vkey, size, compact_range)"
                " VALUES (true, %s, %s, 0, '') ON CONFLICT (id) DO NOTHING",
                (self.origin, self._signer.vkey),
            )
            origin, vkey = conn.execute("SELECT origin, vkey FROM audit_log").fetchone() or ("", "")
        if origin != self.origin:
            raise AuditLogCorruptError(
                f"the database holds the log of {origin!r}, not {self.origin!r}"
            )
        if vkey != self._signer.vkey:
            raise AuditLogCorruptError(
                "the database's log is signed with another key: every replica signs with one"
            )

    # -- AuditSink -------------------------------------------------------------------

    def register_policy(self, digest: str, canonical: bytes) -> None:
        """Archive the canonical policy `digest` in ``audit_policies`` (once)."""
        with self._connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO audit_policies (digest, canonical) VALUES (%s, %s)"
                " ON CONFLICT (digest) DO NOTHING",
                (digest, canonical),
            )

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        """Queue `event`; the future resolves once its batch is committed (and signed).

        Raises RecordEncodingError at once for an event that cannot be a record."""
        self._render(event, 0)  # the shape is checked now, the sequence number at commit
        future: Future[AuditPosition] = Future()
        future.set_running_or_notify_cancel()
        with self._cond:
            if self._closing:
                future.set_exception(AuditUnavailableError("the audit log is closed"))
                return future
            self._queue.append(_Pending(event, future))
            self._cond.notify()
        return future

    def close(self) -> None:
        """Commit what is queued, then release the pool. Idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self.pool.close()

    # -- queries ---------------------------------------------------------------------

    def stats(self) -> WriterStats:
        """This replica's batches, as the file writer reports its own (for metrics):
        `fsync_seconds` are whole sequencing transactions, lock to commit; every batch is
        signed inside it, so each counts as a checkpoint."""
        with self._stats_lock:
            return WriterStats(
                records=self._records,
                batches=self._batches,
                failed_batches=self._failed_batches,
                checkpoints=self._batches,
                batch_sizes=tuple(self._batch_sizes),
                fsync_seconds=tuple(self._commit_seconds),
            )

    @property
    def vkey(self) -> str:
        """The verifier key (public) of the log's signer."""
        return self._signer.vkey

    @property
    def size(self) -> int:
        """Records sequenced by every replica."""
        with self._connection() as conn:
            row = conn.execute("SELECT size FROM audit_log").fetchone()
        return int(row[0]) if row else 0

    def latest_checkpoint(self) -> str | None:
        """The newest signed checkpoint note."""
        with self._connection() as conn:
            row = conn.execute("SELECT checkpoint FROM audit_log").fetchone()
        return row[0] if row else None

    def find_quote(self, quote_id: str) -> tuple[bytes, AuditPosition] | None:
        """The record of quote `quote_id` and where it is, or None."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT seq, record, leaf_hash FROM audit_records WHERE quote_id = %s"
                " ORDER BY seq DESC LIMIT 1",
                (quote_id,),
            ).fetchone()
        if row is None:
            return None
        seq, raw, h = row
        return bytes(raw), AuditPosition(self.origin, int(seq), bytes(h).hex())

    def quote_of_request(self, request_id: str) -> tuple[str, tuple[int, ...], int] | None:
        """(quote id, request fingerprints, seq) of the quote bound to `request_id`."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT quote_id, request_prints, seq FROM audit_records"
                " WHERE kind = 'quote' AND request_id = %s",
                (request_id,),
            ).fetchone()
        if row is None:
            return None
        return str(row[0]), unpack_prints(bytes(row[1] or b"")), int(row[2])

    def prove_quote(self, quote_id: str) -> InclusionProofResult:
        """Inclusion proof of quote `quote_id` against the newest signed checkpoint.

        The path's range roots are recomputed from the stored leaf hashes, O(size) rows:
        enough for GetQuoteProof at today's sizes; stored subtree tiles would make it
        O(log size)."""
        found = self.find_quote(quote_id)
        if found is None:
            raise QuoteNotFoundError(quote_id)
        raw, position = found
        with self._connection() as conn, conn.transaction():
            size, note, range_bytes = conn.execute(
                "SELECT size, checkpoint, compact_range FROM audit_log"
            ).fetchone() or (0, None, b"")
            if note is None or position.sequence >= size:
                raise NotYetCheckpointedError(position.sequence, int(size))
            path = inclusion_path(_DbLeaves(conn), position.sequence, int(size))
        root = CompactRange.from_state(int(size), _split(bytes(range_bytes))).root()
        leaf = leaf_hash(raw)
        verify_inclusion(leaf, position.sequence, int(size), path, root)
        return InclusionProofResult(
            position=position, checkpoint=note, tree_size=int(size), proof=tuple(path), record=raw
        )

    # -- writer thread ---------------------------------------------------------------

    def _render(self, event: AuditEvent, seq: int) -> bytes:
        out = _Rendered()
        logger = make_audit_logger(
            out,
            origin=self.origin,
            code_version=self._code_version,
            next_seq=lambda: seq,
            replica=self.replica,
        )
        logger.audit(event.kind, **event.record_fields())
        return out.raw

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), _MAX_BATCH))]
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            with self._connection() as conn, conn.transaction():
                accepted, duplicates = self._sequence(conn, batch)
        except Exception as exc:  # nothing committed: nothing acknowledged
            _log.error("audit_batch_failed", error=str(exc), records_refused=len(batch))
            error = (
                exc
                if isinstance(exc, AuditUnavailableError)
                else AuditUnavailableError(f"the audit database refused the batch: {exc}")
            )
            with self._stats_lock:
                self._failed_batches += 1
            for pending in batch:
                pending.future.set_exception(error)
            return
        with self._stats_lock:
            self._records += len(accepted)
            self._batches += 1
            self._batch_sizes.append(len(accepted))
            self._commit_seconds.append(time.perf_counter() - started)
        for pending, position in accepted:
            pending.future.set_result(position)
        for pending, duplicate in duplicates:
            pending.future.set_exception(duplicate)

    def _sequence(
        self, conn: psycopg.Connection[Any], batch: list[_Pending]
    ) -> tuple[list[tuple[_Pending, AuditPosition]], list[tuple[_Pending, DuplicateRequestError]]]:
        """Sequence `batch` inside the caller's transaction (the row lock serializes every
        replica's batches)."""
        size, range_bytes = conn.execute(
            "SELECT size, compact_range FROM audit_log WHERE id FOR UPDATE"
        ).fetchone() or (0, b"")
        tree = CompactRange.from_state(int(size), _split(bytes(range_bytes)))
        bound = self._bound_ids(conn, batch)
        rows: list[tuple[Any, ...]] = []
        accepted: list[tuple[_Pending, AuditPosition]] = []
        duplicates: list[tuple[_Pending, DuplicateRequestError]] = []
        for pending in batch:
            rid = _binding_id(pending.event)
            if rid is not None and rid in bound:
                duplicates.append((pending, bound[rid]))
                continue
            seq = tree.size
            raw = self._render(pending.event, seq)
            h = leaf_hash(raw)
            tree.append(h)
            prints = pack_prints(pending.event.request_prints) if rid else None
            rows.append((seq, raw, h, pending.event.kind, quote_id_of(raw), rid, prints))
            position = AuditPosition(self.origin, seq, h.hex())
            accepted.append((pending, position))
            if rid is not None:
                bound[rid] = DuplicateRequestError(
                    rid, quote_id_of(raw) or "", pending.event.request_prints, raw, position
                )
        if not rows:
            return accepted, duplicates
        note = sign_checkpoint(Checkpoint(self.origin, tree.size, tree.root()), self._signer)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO audit_records"
                " (seq, record, leaf_hash, kind, quote_id, request_id, request_prints)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
        conn.execute(
            "UPDATE audit_log SET size = %s, compact_range = %s, checkpoint = %s",
            (tree.size, b"".join(tree.hashes()), note),
        )
        now = self._clock()
        if now - self._last_kept >= self._interval or self._closing:
            conn.execute(
                "INSERT INTO audit_checkpoints (size, note) VALUES (%s, %s)"
                " ON CONFLICT (size) DO NOTHING",
                (tree.size, note),
            )
            self._last_kept = now
        return accepted, duplicates

    def _bound_ids(
        self, conn: psycopg.Connection[Any], batch: list[_Pending]
    ) -> dict[str, DuplicateRequestError]:
        """The batch's request ids already bound to a quote in the log."""
        ids = [rid for p in batch if (rid := _binding_id(p.event)) is not None]
        if not ids:
            return {}
        rows = conn.execute(
            "SELECT request_id, quote_id, request_prints, record, seq, leaf_hash"
            " FROM audit_records WHERE kind = 'quote' AND request_id = ANY(%s)",
            (ids,),
        ).fetchall()
        return {
            rid: DuplicateRequestError(
                rid,
                quote_id,
                unpack_prints(bytes(prints or b"")),
                bytes(raw),
                AuditPosition(self.origin, int(seq), bytes(h).hex()),
            )
            for rid, quote_id, prints, raw, seq, h in rows
        }


def _binding_id(event: AuditEvent) -> str | None:
    """The request id a quote event binds (refusals and denials bind none)."""
    if event.kind != "quote" or event.request is None:
        return None
    rid = event.request.get("request_id")
    return str(rid) if rid else None
