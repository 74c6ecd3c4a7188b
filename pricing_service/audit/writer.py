"""The durable audit log: group commit, Merkle tree, signed checkpoints, quote index.

`DurableAuditLog` is the `AuditSink` the server uses for binding quotes. A record's
future resolves only after the record is on disk (fdatasync) *and* inside a signed
checkpoint, so a reply can never overtake its audit record (DESIGN §5) and no
acknowledged record is ever outside a signature:

    submitter threads                         writer thread
    -----------------                         -------------
    submit(event)                             take everything queued (one batch)
      structlog chain: seq, origin,           write it at the segment's good offset
      code_version, canonical JSON            fdatasync once                 <- durable
      -> queued with its Future               sign the tree with the batch, write it
                                              in an attestation slot, fdatasync <- attested
    future.result()  <----------------------  resolve every future of the batch
                                              flush leafhashes.bin

One signature per batch, not per record: group commit makes it cheap (bench/README.md,
per-batch signing). `checkpoints/<size>.note`, the copies auditors keep and prove
consistency between, are kept at most once per `checkpoint_interval_ms` and at close.

If the batch cannot be written, or written but not attested, the segment is cut back to
its last good offset, the futures fail with AuditUnavailableError, the sequence numbers
are handed out again and the next submission tries the disk again. The in-memory tree and
indexes only take the batch once it is attested, so a failed batch leaves no trace.

Since nothing unsigned was ever acknowledged, records found after the newest checkpoint
at start (a crash between the two fsyncs, or bytes appended while the server was down)
are moved aside to ``unattested/`` and reported, never signed (`unattested.py`).
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import fcntl
import json
import os
import statistics
import threading
import time
from array import array
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import structlog

from pricing_service.audit.archive import PolicyArchive
from pricing_service.audit.attestation import AttestationSlots
from pricing_service.audit.checkpoints import CheckpointStore, note_text
from pricing_service.audit.errors import (
    AuditLogCorruptError,
    AuditLogLockedError,
    NotYetCheckpointedError,
    QuoteNotFoundError,
)
from pricing_service.audit.fsutil import FileOps
from pricing_service.audit.keys import ensure_signer
from pricing_service.audit.leafhashes import LEAF_HASHES_FILE, LeafHashes
from pricing_service.audit.merkle import CompactRange, leaf_hash, verify_inclusion
from pricing_service.audit.note import (
    Checkpoint,
    NoteError,
    Signer,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from pricing_service.audit.prove import InclusionProofResult, inclusion_path
from pricing_service.audit.quote_index import QuoteIndex
from pricing_service.audit.reader import read_line_at
from pricing_service.audit.record import quote_id_of
from pricing_service.audit.segments import RecoveredLog, SegmentFile, SegmentWriter, recover
from pricing_service.audit.sink import AuditEvent, AuditPosition, AuditUnavailableError
from pricing_service.audit.structlog_sink import make_audit_logger
from pricing_service.audit.unattested import MovedTail, move_aside

__all__ = ["AuditLogConfig", "DurableAuditLog", "WriterStats", "default_code_version"]

LOCK_FILE: Final = "LOCK"
_STATS_WINDOW: Final = 10_000  # recent batches kept for the stats percentiles
_CHECKPOINT_RETRY_S: Final = 1.0  # after a failed checkpoint write, on a full disk
_RECOVERY_FLUSH: Final = 65_536  # leaf hashes buffered while rebuilding the sidecar

_log = structlog.get_logger(__name__)


def default_code_version() -> str:
    """The installed service's version, recorded in every record."""
    try:
        return metadata.version("ecoloan-pricing-service")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


@dataclass(frozen=True, slots=True)
class AuditLogConfig:
    """How to open a durable audit log."""

    directory: Path
    """The log directory: segments, checkpoints, leaf hashes, policies, keys."""
    origin: str
    """The log's origin line, unique per log (replica), e.g.
    ``changji.example/pricing-audit/replica-1``; in every record and checkpoint."""
    code_version: str = field(default_factory=default_code_version)
    """Version of the code writing the records."""
    signer_key_file: Path | None = None
    """Ed25519 signer key (note format). None: ``<directory>/audit.skey``, generated with
    ``audit.vkey`` beside it on first start."""
    fsync: bool = True
    """fdatasync every batch before resolving its futures. False is UNSAFE: records are
    acknowledged while only in the OS page cache, so an OS crash or power loss can lose
    acknowledged quotes (and a checkpoint may then cover records that are gone)."""
    segment_max_bytes: int = 64 * 1024 * 1024
    """Start a new segment once the current one would exceed this size."""
    segment_max_age_s: float | None = None
    """Also start a new segment once the current one is this old (None: size only)."""
    checkpoint_interval_ms: int = 0
    """Keep a ``checkpoints/<size>.note`` copy at most this often; 0 keeps every batch's.
    Every batch is signed (into ``checkpoint.slots``) before its records are acknowledged,
    whatever the interval: only the kept copies (and ``checkpoint.latest``) are spaced."""
    max_batch_records: int = 4096
    """Most records in one group-commit batch."""
    max_batch_bytes: int = 8 * 1024 * 1024
    """Most bytes in one group-commit batch (a single larger record still goes alone)."""
    replica: str | None = None
    """The replica id every record names (record version 3); None writes version 2: a
    file log is one replica's, and its origin names it."""


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters and recent per-batch measurements, for benchmarks and metrics."""

    records: int
    batches: int
    failed_batches: int
    checkpoints: int
    batch_sizes: tuple[int, ...]
    """Records per batch, most recent batches (at most 10,000)."""
    fsync_seconds: tuple[float, ...]
    """Seconds per batch write + fdatasync, same batches."""
    attest_seconds: tuple[float, ...] = ()
    """Seconds per batch to sign its checkpoint and make it durable, same batches."""

    def summary(self) -> dict[str, float]:
        """Mean/median/p99/max of batch sizes and write+fsync latencies."""
        out: dict[str, float] = {
            "records": self.records,
            "batches": self.batches,
            "failed_batches": self.failed_batches,
            "checkpoints": self.checkpoints,
        }
        measured = (
            ("batch_size", self.batch_sizes),
            ("fsync_s", self.fsync_seconds),
            ("attest_s", self.attest_seconds),
        )
        for name, values in measured:
            if values:
                ordered = sorted(values)
                out[f"{name}_mean"] = statistics.fmean(ordered)
                out[f"{name}_p50"] = ordered[len(ordered) // 2]
                out[f"{name}_p99"] = ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]
                out[f"{name}_max"] = ordered[-1]
        return out


@dataclass(slots=True)
class _Pending:
    seq: int
    raw: bytes
    future: Future[AuditPosition]


class _Enqueue:
    """The structlog "logger" of the audit chain: hands the rendered record to the writer."""

    __slots__ = ("_log",)

    def __init__(self, log: DurableAuditLog) -> None:
        self._log = log

    def audit(self, rendered: bytes) -> Future[AuditPosition]:
        return self._log._enqueue(rendered)


class DurableAuditLog:
    """Append-only, group-committed, Merkle-tree audit log with signed checkpoints.

    Implements `AuditSink`. Also answers where a quote is (`position_of`) and proves it
    (`prove_quote`), from an in-memory index rebuilt from the log at start.
    """

    def __init__(
        self,
        config: AuditLogConfig,
        *,
        file_ops: FileOps | None = None,
        signer: Signer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Open (or create) the log in ``config.directory``, recover it, start the writer.

        Takes the directory's writer lock (AuditLogLockedError if held); cuts a torn last
        record; rebuilds the tree, ``leafhashes.bin`` and the quote index from the
        segments; refuses (AuditLogCorruptError) a log that disagrees with the checkpoint
        it signed. `file_ops` is the I/O seam for fault-injection tests.
        """
        self.config = config
        self.directory = Path(config.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._ops = file_ops or FileOps()
        self._clock = clock
        self._lock_fd = _take_lock(self.directory / LOCK_FILE)
        try:
            self._signer = signer or ensure_signer(
                self.directory, config.origin, config.signer_key_file
            )
            self._open()
        except BaseException:
            os.close(self._lock_fd)
            raise

    def _open(self) -> None:
        config = self.config
        self._archive = PolicyArchive(self.directory)
        self._checkpoints = CheckpointStore(self.directory, self._ops)
        latest_note = self._checkpoints.latest_note()
        latest_cp = parse_checkpoint(note_text(latest_note)) if latest_note else None
        if latest_cp is not None and latest_cp.origin != config.origin:
            raise AuditLogCorruptError(
                f"{self.directory} is the log of {latest_cp.origin!r}, not {config.origin!r}"
            )
        if latest_note is not None:
            self._warn_if_other_key(latest_note)

        # State shared with request threads (position_of, prove_quote): _state_lock.
        self._state_lock = threading.Lock()
        started = time.monotonic()
        recovered, leaves = self._recover(latest_cp)
        signed = latest_cp.size if latest_cp is not None else 0
        moved: MovedTail | None = None
        if recovered.size > signed:
            # Never acknowledged (acks wait for the checkpoint): out of the log, not signed.
            moved = move_aside(
                self.directory,
                recovered.segments,
                signed,
                self._offsets[signed],
                recovered.size - signed,
            )
            _log.warning(
                "audit_unattested_tail",
                records=moved.records,
                first_seq=moved.first_seq,
                moved_to=str(moved.path),
                hint="records after the newest signed checkpoint were never acknowledged "
                "(a crash before their checkpoint, or appended while the server was down); "
                "moved aside, not signed",
            )
            leaves.close()
            recovered, leaves = self._recover(latest_cp)
        self._leaves = leaves
        self.moved_tail = moved
        """The unattested tail this start moved aside, if there was one."""

        self._segments: list[SegmentFile] = list(recovered.segments)
        self._segment_starts = [s.first_seq for s in self._segments]
        self._tree = recovered.compact_range
        self._size = recovered.size  # durable records
        self._latest: tuple[Checkpoint, str] | None = (
            (latest_cp, latest_note) if latest_cp is not None and latest_note else None
        )
        self._signed_size = latest_cp.size if latest_cp is not None else 0
        # The largest checkpoints/<size>.note: the attestation slots may be newer.
        self._kept_size = max(
            (f.named_size for f in self._checkpoints.files() if f.named_size is not None),
            default=0,
        )
        self._segment_writer = SegmentWriter(
            self.directory,
            self._ops,
            max_bytes=config.segment_max_bytes,
            max_age_s=config.segment_max_age_s,
            fsync=config.fsync,
            clock=self._clock,
        )
        self._segment_writer.resume(recovered.tail, recovered.tail_end)
        self._slots = AttestationSlots(
            self.directory, self._ops, newest_slot=self._checkpoints.newest_slot()
        )

        # Queue shared with submitters: _cond (its lock also guards _next_seq).
        self._cond = threading.Condition()
        self._queue: collections.deque[_Pending] = collections.deque()
        self._next_seq = self._size
        self._closing = False
        self._busy = False
        self._force_target = 0  # checkpoint() waits for a checkpoint of this size
        self._last_kept_at = self._clock()
        self._checkpoint_retry_at = 0.0

        self._records_written = 0
        self._batches = 0
        self._failed_batches = 0
        self._checkpoint_count = 0
        self._batch_sizes: collections.deque[int] = collections.deque(maxlen=_STATS_WINDOW)
        self._fsync_seconds: collections.deque[float] = collections.deque(maxlen=_STATS_WINDOW)
        self._attest_seconds: collections.deque[float] = collections.deque(maxlen=_STATS_WINDOW)

        self._logger = make_audit_logger(
            _Enqueue(self),
            origin=config.origin,
            code_version=config.code_version,
            next_seq=lambda: self._next_seq,
            replica=config.replica,
        )
        _log.info(
            "audit_log_opened",
            directory=str(self.directory),
            origin=config.origin,
            records=self._size,
            segments=len(self._segments),
            checkpoint_size=self._signed_size,
            cut_torn_bytes=recovered.cut_bytes,
            unattested_moved=moved.records if moved is not None else 0,
            fsync=config.fsync,
            seconds=round(time.monotonic() - started, 3),
        )
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def _recover(self, latest_cp: Checkpoint | None) -> tuple[RecoveredLog, LeafHashes]:
        """Rebuild offsets, the quote index and ``leafhashes.bin`` from the segments."""
        self._offsets: array[int] = array("Q")  # byte offset of record `seq` in its segment
        self._quotes = QuoteIndex()  # quote_id -> seq, 16 bytes a quote
        rebuild_path = self.directory / f".{LEAF_HASHES_FILE}.rebuild"
        leaves = LeafHashes(rebuild_path, self._ops, truncate=True)
        recovered_hashes: list[bytes] = []

        def on_record(seq: int, _segment: int, offset: int, raw: bytes, h: bytes) -> None:
            self._offsets.append(offset)
            quote_id = quote_id_of(raw)
            if quote_id is not None:
                self._quotes.add(quote_id, seq)
            recovered_hashes.append(h)
            if len(recovered_hashes) >= _RECOVERY_FLUSH:
                leaves.append(recovered_hashes)
                leaves.flush()
                recovered_hashes.clear()

        try:
            recovered = recover(self.directory, checkpoint=latest_cp, on_record=on_record)
            leaves.append(recovered_hashes)
            leaves.flush()
        except BaseException:
            leaves.close()
            rebuild_path.unlink(missing_ok=True)
            raise
        # The sidecar is derivable: rebuilt at every start, then swapped in whole.
        os.replace(rebuild_path, self.directory / LEAF_HASHES_FILE)
        leaves.path = self.directory / LEAF_HASHES_FILE
        return recovered, leaves

    # -- AuditSink -------------------------------------------------------------------

    def register_policy(self, digest: str, canonical: bytes) -> None:
        """Archive the canonical policy `digest` under ``policies/`` (once, atomically).

        Raises PolicyArchiveError if sha256(canonical) is not `digest`, and
        AuditUnavailableError if the disk refuses the write.
        """
        try:
            self._archive.store(digest, canonical)
        except OSError as exc:
            raise AuditUnavailableError(f"cannot archive policy {digest}: {exc}") from exc

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        """Queue `event` as a record; the future resolves once it is durable.

        The future fails with AuditUnavailableError if the record cannot be written (or
        the log is closed). Raises RecordEncodingError at once if the event cannot be a
        canonical record (a float, a missing quote_id): a bug, never a disk problem.
        """
        with self._cond:
            if self._closing or not self._thread.is_alive():
                failed: Future[AuditPosition] = Future()
                failed.set_exception(AuditUnavailableError("the audit log is closed"))
                return failed
            # Seq assignment, rendering and queueing happen under one lock, so records
            # are queued in seq order and a failed batch can hand its numbers out again.
            return self._logger.audit(event.kind, **event.record_fields())

    def close(self) -> None:
        """Write what is queued, sign a final checkpoint, release the log. Idempotent."""
        with self._cond:
            if self._closing and not self._thread.is_alive():
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)

    def __enter__(self) -> DurableAuditLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- queries -----------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """The log's origin line."""
        return self.config.origin

    @property
    def size(self) -> int:
        """Number of durable records."""
        with self._state_lock:
            return self._size

    @property
    def vkey(self) -> str:
        """The verifier key (public) of the log's signer, for auditors."""
        return self._signer.vkey

    def latest_checkpoint(self) -> str | None:
        """The newest signed checkpoint note, or None before the first."""
        with self._state_lock:
            return self._latest[1] if self._latest is not None else None

    def stats(self) -> WriterStats:
        """A snapshot of the writer's counters and recent batch measurements."""
        with self._state_lock:
            return WriterStats(
                records=self._records_written,
                batches=self._batches,
                failed_batches=self._failed_batches,
                checkpoints=self._checkpoint_count,
                batch_sizes=tuple(self._batch_sizes),
                fsync_seconds=tuple(self._fsync_seconds),
                attest_seconds=tuple(self._attest_seconds),
            )

    def position_of(self, quote_id: str) -> AuditPosition | None:
        """Where the quote `quote_id` is in the log (seq, leaf hash), or None."""
        seq = self._seq_of(quote_id)
        if seq is None:
            return None
        return AuditPosition(self.config.origin, seq, self._leaves.leaf(seq).hex())

    def _seq_of(self, quote_id: str) -> int | None:
        """The last record of quote `quote_id`: the index gives the records whose id shares
        its first 64 bits, and reading each back says which is this quote."""
        with self._state_lock:
            candidates = self._quotes.candidates(quote_id)
        for seq in reversed(candidates):
            if quote_id_of(self.read_record(seq)) == quote_id:
                return seq
        return None

    def read_record(self, seq: int) -> bytes:
        """The canonical bytes of durable record `seq` (IndexError if there is none)."""
        with self._state_lock:
            if not 0 <= seq < self._size:
                raise IndexError(f"no record {seq} (log size {self._size})")
            segment = self._segments[bisect.bisect_right(self._segment_starts, seq) - 1]
            offset = self._offsets[seq]
        return read_line_at(segment.path, offset)

    def prove_quote(self, quote_id: str) -> InclusionProofResult:
        """Inclusion proof of quote `quote_id` against the latest signed checkpoint.

        Raises QuoteNotFoundError if no such quote is in the log, and
        NotYetCheckpointedError if no checkpoint covers its record yet (retry shortly).
        """
        seq = self._seq_of(quote_id)
        with self._state_lock:
            latest = self._latest
        if seq is None:
            raise QuoteNotFoundError(quote_id)
        if latest is None or seq >= latest[0].size:
            raise NotYetCheckpointedError(seq, latest[0].size if latest else 0)
        checkpoint, note = latest
        raw = self.read_record(seq)
        data: Any = json.loads(raw)
        if (data.get("response") or {}).get("quote_id") != quote_id:
            raise QuoteNotFoundError(quote_id)  # the byte-scan index was wrong; never guess
        leaf = leaf_hash(raw)
        path = inclusion_path(self._leaves, seq, checkpoint.size)
        # Cheap self-check: a proof that does not verify must never leave the service.
        verify_inclusion(leaf, seq, checkpoint.size, path, checkpoint.root_hash)
        return InclusionProofResult(
            position=AuditPosition(self.config.origin, seq, leaf.hex()),
            checkpoint=note,
            tree_size=checkpoint.size,
            proof=tuple(path),
            record=raw,
        )

    def checkpoint(self, timeout: float | None = None) -> str | None:
        """Wait until everything submitted so far is signed and kept; return the note.

        Keeps ``checkpoints/<size>.note`` at once, whatever the interval. Returns the
        latest note (None if nothing could be written or signed, e.g. the disk is full).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._next_seq
            self._force_target = max(self._force_target, target)
            self._cond.notify_all()
            while not self._kept_size >= target and not self._stalled(target):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining)
        return self.latest_checkpoint()

    def _stalled(self, target: int) -> bool:
        # Called with _cond held: the writer is idle and will not reach `target` (its
        # records failed, the checkpoint write failed, or it has stopped).
        if not self._thread.is_alive():
            return True
        idle = not self._queue and not self._busy
        return idle and (self._size < target or self._clock() < self._checkpoint_retry_at)

    # -- submitter side ----------------------------------------------------------------

    def _enqueue(self, rendered: bytes) -> Future[AuditPosition]:
        # Called by the structlog chain with _cond held (see submit).
        future: Future[AuditPosition] = Future()
        # Running from now on: the record will be written whatever the caller does, so
        # the future cannot be cancelled (and set_result can never find it cancelled).
        future.set_running_or_notify_cancel()
        self._queue.append(_Pending(self._next_seq, rendered, future))
        self._next_seq += 1
        self._cond.notify()
        return future

    # -- writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing and not self._checkpoint_due():
                        self._cond.wait(self._checkpoint_wait())
                    batch = self._take_batch()
                    done = self._closing and not batch
                    self._busy = True
                try:
                    if batch:
                        self._commit(batch)
                    self._flush_leaves()
                    with self._cond:
                        sign = done or self._checkpoint_due()
                    if sign:
                        self._keep_checkpoint()
                finally:
                    with self._cond:
                        self._busy = False
                        self._cond.notify_all()
                if done:
                    break
        finally:
            self._shutdown()

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        size = 0
        limit_records = self.config.max_batch_records
        limit_bytes = self.config.max_batch_bytes
        while self._queue and len(batch) < limit_records:
            size += len(self._queue[0].raw) + 1
            if batch and size > limit_bytes:
                break
            batch.append(self._queue.popleft())
        return batch

    def _commit(self, batch: list[_Pending]) -> None:
        raws = [p.raw for p in batch]
        data = b"\n".join(raws) + b"\n"
        hashes = [leaf_hash(r) for r in raws]
        started = time.perf_counter()
        try:
            segment, start = self._segment_writer.append(data, batch[0].seq)
        except Exception as exc:  # any failure here means "not durable"
            self._fail(batch, exc)
            return
        written = time.perf_counter()
        tree = self._tree.copy()
        for h in hashes:
            tree.append(h)
        try:
            attested = self._attest(Checkpoint(self.config.origin, tree.size, tree.root()))
        except Exception as exc:  # durable but unsigned: never acknowledged, so withdrawn
            self._segment_writer.withdraw(start)
            self._fail(batch, exc)
            return
        self._take(batch, hashes, segment, start, tree, attested)
        with self._state_lock:
            self._fsync_seconds.append(written - started)
            self._attest_seconds.append(time.perf_counter() - written)
        origin = self.config.origin
        for pending, h in zip(batch, hashes, strict=True):
            pending.future.set_result(AuditPosition(origin, pending.seq, h.hex()))

    def _attest(self, checkpoint: Checkpoint) -> tuple[Checkpoint, str]:
        """Sign `checkpoint` and make it durable in the attestation slots. Raises OSError."""
        note = sign_checkpoint(checkpoint, self._signer)
        self._slots.write(note)
        return checkpoint, note

    def _take(
        self,
        batch: list[_Pending],
        hashes: list[bytes],
        segment: SegmentFile,
        start: int,
        tree: CompactRange,
        attested: tuple[Checkpoint, str],
    ) -> None:
        """The attested batch joins the in-memory log: offsets, tree, indexes, head."""
        with self._state_lock:
            if not self._segments or self._segments[-1].path != segment.path:
                self._segments.append(segment)
                self._segment_starts.append(segment.first_seq)
            offset = start
            for pending in batch:
                self._offsets.append(offset)
                offset += len(pending.raw) + 1
                quote_id = quote_id_of(pending.raw)
                if quote_id is not None:
                    self._quotes.add(quote_id, pending.seq)
            self._tree = tree
            self._size += len(batch)
            self._latest = attested
            self._records_written += len(batch)
            self._batches += 1
            self._checkpoint_count += 1
            self._batch_sizes.append(len(batch))
        self._leaves.append(hashes)
        with self._cond:
            self._signed_size = tree.size

    def _fail(self, batch: list[_Pending], exc: BaseException) -> None:
        with self._cond:
            # Records queued behind the failed batch were numbered after it; they fail
            # too, so the numbers can be handed out again without a gap.
            failed = batch + list(self._queue)
            self._queue.clear()
            self._next_seq = self._size
            # A checkpoint() waiting for the failed records will not get them.
            self._force_target = min(self._force_target, self._size)
        with self._state_lock:
            self._failed_batches += 1
        _log.error(
            "audit_write_failed",
            error=str(exc),
            errno=getattr(exc, "errno", None),
            records_refused=len(failed),
            first_seq=batch[0].seq,
        )
        for pending in failed:
            error = AuditUnavailableError(f"audit log cannot be written: {exc}")
            error.__cause__ = exc
            pending.future.set_exception(error)

    def _flush_leaves(self) -> None:
        try:
            self._leaves.flush()
        except OSError as exc:
            # Derivable and rebuilt at start: stays pending in memory and is retried.
            _log.warning("audit_leafhashes_flush_failed", error=str(exc))

    def _keep_due(self) -> bool:
        # Called with _cond held: is the next signed checkpoint to be kept?
        if self._closing or self._force_target > self._kept_size:
            return True
        interval = self.config.checkpoint_interval_ms / 1000
        return self._clock() - self._last_kept_at >= interval

    def _checkpoint_due(self) -> bool:
        # Called with _cond held: the newest signed checkpoint is not kept yet, and the
        # interval has passed (or close or checkpoint() asks for it).
        if self._signed_size <= self._kept_size:
            return False
        if self._clock() < self._checkpoint_retry_at:
            return False
        return self._keep_due()

    def _checkpoint_wait(self) -> float | None:
        if self._signed_size <= self._kept_size:
            return None
        interval = self.config.checkpoint_interval_ms / 1000
        due = max(self._last_kept_at + interval, self._checkpoint_retry_at)
        return max(due - self._clock(), 0.001)

    def _keep_checkpoint(self) -> None:
        """Keep the newest signed checkpoint as ``checkpoints/<size>.note``."""
        with self._state_lock:
            latest = self._latest
        if latest is None or latest[0].size <= self._kept_size:
            return
        checkpoint, note = latest
        try:
            self._checkpoints.write(checkpoint.size, note)
        except OSError as exc:
            with self._cond:
                self._checkpoint_retry_at = self._clock() + _CHECKPOINT_RETRY_S
            _log.warning("audit_checkpoint_write_failed", size=checkpoint.size, error=str(exc))
            return
        with self._cond:
            self._kept_size = checkpoint.size
            self._last_kept_at = self._clock()

    def _shutdown(self) -> None:
        if not self.config.fsync:
            with contextlib.suppress(OSError):
                self._segment_writer.sync()  # a clean shutdown is durable either way
        self._flush_leaves()
        with contextlib.suppress(OSError):
            self._segment_writer.close()
        self._leaves.close()
        with contextlib.suppress(OSError):
            self._slots.close()
        with self._cond:
            for pending in self._queue:
                pending.future.set_exception(AuditUnavailableError("the audit log is closed"))
            self._queue.clear()
            self._cond.notify_all()

    def _warn_if_other_key(self, note: str) -> None:
        try:
            verify_checkpoint(note, self._signer.verifier())
        except NoteError:
            _log.warning(
                "audit_checkpoint_other_key",
                hint="the latest checkpoint was not signed by the configured key "
                "(key rotated?); auditors need both public keys",
            )


def _take_lock(path: Path) -> int:
    """Hold an exclusive flock on `path` for the life of the process's log handle."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise AuditLogLockedError(f"{path} is held by another writer") from exc
    return fd
