"""Segment files: naming, the append-only writer with rotation, and crash recovery.

A log's records live in ``segments/<first seq, 20 digits>.jsonl``, one canonical record
per line. Each segment continues the previous one's sequence numbers, so the name of a
segment is the ``seq`` of its first record and any gap, overlap or reordering of files is
visible from the names alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import structlog

from pricing_service.audit.compact import LEAF_PREFIX, fold, push_leaf
from pricing_service.audit.errors import AuditLogCorruptError
from pricing_service.audit.fsutil import FileOps, atomic_write, pwrite_all
from pricing_service.audit.merkle import CompactRange
from pricing_service.audit.note import Checkpoint
from pricing_service.audit.record import record_seq

__all__ = [
    "SEGMENTS_DIR",
    "TORN_DIR",
    "RecoveredLog",
    "SegmentFile",
    "SegmentWriter",
    "list_segments",
    "recover",
    "segment_name",
]

SEGMENTS_DIR: Final = "segments"
TORN_DIR: Final = "torn"
_NAME_RE: Final = re.compile(r"(\d{20})\.jsonl")
_READ_BUFFER: Final = 1 << 20

_log = structlog.get_logger(__name__)


def segment_name(first_seq: int) -> str:
    """File name of the segment whose first record has sequence number `first_seq`."""
    return f"{first_seq:020d}.jsonl"


@dataclass(frozen=True, slots=True)
class SegmentFile:
    """One segment file and the sequence number its name says it starts at."""

    first_seq: int
    path: Path

    @property
    def name(self) -> str:
        """The file name, as reported to auditors (``00000000000000001024.jsonl``)."""
        return self.path.name


def list_segments(logdir: Path) -> tuple[list[SegmentFile], list[Path]]:
    """The log's segments in sequence order, and any other entries of ``segments/``.

    Entries that do not look like a segment are returned separately rather than ignored:
    a verifier must flag them, since a renamed file would otherwise drop out of the log.
    Dot-files (the writer's in-flight temporaries) are neither.
    """
    directory = Path(logdir) / SEGMENTS_DIR
    segments: list[SegmentFile] = []
    strays: list[Path] = []
    if not directory.is_dir():
        return segments, strays
    for entry in os.scandir(directory):
        if entry.name.startswith("."):
            continue
        m = _NAME_RE.fullmatch(entry.name)
        if m and entry.is_file():
            segments.append(SegmentFile(int(m.group(1)), Path(entry.path)))
        else:
            strays.append(Path(entry.path))
    segments.sort(key=lambda s: s.first_seq)
    strays.sort()
    return segments, strays


class SegmentWriter:
    """Appends group-commit batches to the current segment; rotates by size or age.

    All I/O goes through `FileOps`. A batch is written at the segment's last good offset
    and made durable with one fdatasync; if anything fails the segment is cut back to that
    offset, so a failed batch leaves no bytes behind. If even the cut fails, it is retried
    before the next batch is written.
    """

    def __init__(
        self,
        logdir: Path,
        ops: FileOps,
        *,
        max_bytes: int,
        max_age_s: float | None,
        fsync: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare a writer for ``<logdir>/segments``; call `resume` before `append`."""
        self.directory = Path(logdir) / SEGMENTS_DIR
        self._ops = ops
        self._max_bytes = max_bytes
        self._max_age_s = max_age_s
        self._fsync = fsync
        self._clock = clock
        self._fd: int | None = None
        self._segment: SegmentFile | None = None
        self._end = 0
        self._opened_at = 0.0
        self._dirty = False  # bytes past _end may exist: cut them before writing

    @property
    def segment(self) -> SegmentFile | None:
        """The segment being appended to (None before the first record)."""
        return self._segment

    @property
    def end(self) -> int:
        """Length of the current segment up to its last durable record."""
        return self._end

    def resume(self, segment: SegmentFile | None, end: int) -> None:
        """Continue appending to `segment` at byte `end` (None: start with a new one)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if segment is None:
            return
        self._fd = self._ops.open(segment.path, os.O_WRONLY)
        self._segment = segment
        self._end = end
        self._opened_at = self._clock()

    def append(self, data: bytes, first_seq: int) -> tuple[SegmentFile, int]:
        """Write `data` (whole records starting at `first_seq`) durably.

        Returns the segment and the byte offset the data starts at. Raises OSError if the
        data could not be written and synced; the segment is then as before the call.
        """
        if self._dirty and self._fd is not None:
            self._ops.ftruncate(self._fd, self._end)
            self._dirty = False
        if self._fd is None or self._should_rotate(len(data)):
            self._rotate(first_seq)
        fd = self._fd
        segment = self._segment
        assert fd is not None  # set by _rotate
        assert segment is not None
        start = self._end
        try:
            pwrite_all(self._ops, fd, data, start)
            if self._fsync:
                self._ops.fdatasync(fd)
        except OSError:
            self._cut_back(fd, start)
            raise
        self._end = start + len(data)
        return segment, start

    def withdraw(self, start: int) -> None:
        """Take back the last `append`, which started at byte `start` of the current
        segment: its records were durable but could not be attested (the checkpoint
        write failed), so they were never acknowledged and must not stay in the log."""
        assert self._fd is not None
        assert start <= self._end
        self._end = start
        self._cut_back(self._fd, start)

    def sync(self) -> None:
        """fdatasync the current segment (used at close when fsync is off)."""
        if self._fd is not None:
            self._ops.fdatasync(self._fd)

    def close(self) -> None:
        """Close the current segment's file descriptor."""
        if self._fd is not None:
            self._ops.close(self._fd)
            self._fd = None

    def _should_rotate(self, incoming: int) -> bool:
        if self._end == 0:
            return False  # never leave an empty segment behind
        if self._end + incoming > self._max_bytes:
            return True
        return self._max_age_s is not None and self._clock() - self._opened_at >= self._max_age_s

    def _rotate(self, first_seq: int) -> None:
        path = self.directory / segment_name(first_seq)
        fd = self._ops.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size != 0:
                # Only an empty leftover of a failed rotation may carry this name.
                raise AuditLogCorruptError(f"segment {path.name} already holds records")
            # The new file's directory entry must be durable before any record in it is
            # acknowledged, or a crash could lose the whole segment.
            if self._fsync:
                self._ops.fsync_dir(self.directory)
        except BaseException:
            self._ops.close(fd)
            raise
        if self._fd is not None:
            self._ops.close(self._fd)
        self._fd = fd
        self._segment = SegmentFile(first_seq, path)
        self._end = 0
        self._opened_at = self._clock()

    def _cut_back(self, fd: int, length: int) -> None:
        try:
            self._ops.ftruncate(fd, length)
        except OSError:
            self._dirty = True  # retried before the next batch
            return
        try:
            # Best effort: make the cut itself durable, so a crash now cannot bring the
            # failed batch's bytes back (recovery would cut them anyway if torn).
            if self._fsync:
                self._ops.fdatasync(fd)
        except OSError:
            self._dirty = True


@dataclass(slots=True)
class RecoveredLog:
    """What the writer needs to continue a log after `recover`."""

    size: int
    """Number of records (the next record's seq)."""
    compact_range: CompactRange
    """The Merkle tree's right edge after the last record."""
    tail: SegmentFile | None
    """The segment to continue appending to (None for an empty log)."""
    tail_end: int
    """Byte length of `tail` after any torn record was cut off."""
    segments: list[SegmentFile]
    """Every segment, in order, after recovery."""
    cut_bytes: int = 0
    """How many bytes of a torn tail were cut off (0 after a clean shutdown)."""
    cut_saved_to: Path | None = None
    """Where the cut bytes were preserved, for forensics."""


RecordCallback = Callable[[int, int, int, bytes, bytes], None]
"""Called per record during recovery: (seq, segment index, offset, raw bytes, leaf hash)."""


def recover(
    logdir: Path,
    *,
    checkpoint: Checkpoint | None,
    on_record: RecordCallback | None = None,
) -> RecoveredLog:
    """Rebuild the tree from the segments, cutting off a torn last record; check `checkpoint`.

    Records the log has signed (seq < checkpoint.size) are checked by recomputing the root
    at the checkpoint's size; records after it are each parsed as JSON and their seq
    checked. A bad record in the *last* segment after the checkpoint is a torn tail (a crash
    mid-write): it and everything after it are cut off, preserved under ``torn/``. Any other
    damage raises AuditLogCorruptError: continuing would sign a checkpoint inconsistent
    with one the log already signed.
    """
    logdir = Path(logdir)
    segments, _strays = list_segments(logdir)
    cp_size = checkpoint.size if checkpoint is not None else 0
    if checkpoint is not None and cp_size == 0 and checkpoint.root_hash != fold([]):
        raise AuditLogCorruptError("the log's empty-tree checkpoint has a wrong root")
    sha = hashlib.sha256
    stack: list[bytes] = []  # the compact range, in its tight-loop form
    expected = 0
    tail_end = 0
    cut_bytes = 0
    cut_saved_to: Path | None = None
    kept: list[SegmentFile] = []
    for index, segment in enumerate(segments):
        is_last = index == len(segments) - 1
        if segment.first_seq != expected:
            if is_last and segment.path.stat().st_size == 0:
                # An empty leftover of a rotation whose batch never landed: holds nothing.
                segment.path.unlink()
                _log.warning("audit_empty_segment_removed", segment=segment.name)
                break
            raise AuditLogCorruptError(
                f"segment {segment.name} starts at seq {segment.first_seq}, "
                f"but the log continues at seq {expected}"
            )
        kept.append(segment)
        segment_index = len(kept) - 1
        offset = 0
        with segment.path.open("rb", buffering=_READ_BUFFER) as f:
            for line_no, line in enumerate(f, start=1):
                raw = line[:-1]
                # Fast path for the signed part: complete line, right seq (the root check
                # at the checkpoint's size vouches for the rest of the bytes).
                if (expected >= cp_size or line[-1:] != b"\n" or record_seq(raw) != expected) and (
                    problem := _check_line(line, expected, signed=expected < cp_size)
                ):
                    if not is_last or expected < cp_size:
                        raise AuditLogCorruptError(
                            f"{segment.name} line {line_no} (seq {expected}): {problem}; "
                            "not a torn tail: run `pricing audit verify`"
                        )
                    cut_bytes, cut_saved_to = _cut_torn_tail(logdir, segment, offset)
                    _log.warning(
                        "audit_torn_tail_cut",
                        segment=segment.name,
                        line=line_no,
                        seq=expected,
                        problem=problem,
                        cut_bytes=cut_bytes,
                        saved_to=str(cut_saved_to),
                    )
                    break
                h = sha(LEAF_PREFIX + raw).digest()
                push_leaf(stack, expected, h)
                if on_record is not None:
                    on_record(expected, segment_index, offset, raw, h)
                expected += 1
                offset += len(line)
                if (
                    expected == cp_size
                    and checkpoint is not None
                    and fold(stack) != checkpoint.root_hash
                ):
                    raise AuditLogCorruptError(
                        f"the segments do not match the log's checkpoint at size {cp_size}: "
                        "run `pricing audit verify`"
                    )
        tail_end = offset
    if expected < cp_size:
        raise AuditLogCorruptError(
            f"the log has {expected} records but its latest checkpoint covers {cp_size}"
        )
    return RecoveredLog(
        size=expected,
        compact_range=CompactRange.from_state(expected, stack),
        tail=kept[-1] if kept else None,
        tail_end=tail_end,
        segments=kept,
        cut_bytes=cut_bytes,
        cut_saved_to=cut_saved_to,
    )


def _check_line(line: bytes, expected: int, *, signed: bool) -> str | None:
    """Why `line` cannot be record `expected`, or None if it can."""
    if not line.endswith(b"\n"):
        return "incomplete record (no newline)"
    raw = line[:-1]
    seq = record_seq(raw)
    if seq != expected:
        return f"expected seq {expected}, found {seq}"
    if signed:
        return None  # the checkpoint's root vouches for it
    try:
        data = json.loads(raw)
    except ValueError:
        return "not valid JSON"
    if not isinstance(data, dict) or data.get("seq") != expected:
        return "not a record"
    return None


def _cut_torn_tail(logdir: Path, segment: SegmentFile, offset: int) -> tuple[int, Path | None]:
    """Cut `segment` back to `offset`, preserving the cut bytes under ``torn/``."""
    with segment.path.open("r+b") as f:
        f.seek(offset)
        cut = f.read()
        saved: Path | None = None
        if cut:
            torn_dir = logdir / TORN_DIR
            torn_dir.mkdir(exist_ok=True)
            saved = torn_dir / f"{segment.path.stem}.{offset}.{int(time.time())}.bin"
            atomic_write(saved, cut)
        f.truncate(offset)
        f.flush()
        os.fdatasync(f.fileno())
    return len(cut), saved
