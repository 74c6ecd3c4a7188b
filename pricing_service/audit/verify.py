"""Offline verification of a log directory with only the log's public key.

One streaming pass, constant memory: every record is hashed into the RFC 6962 tree as it
is read, its ``seq`` and its segment's name are checked for continuity, and at each
signed checkpoint's size the recomputed root must equal the signed one. Since every
checkpoint is compared with the *same* recomputed append-only tree, agreeing with it
also proves each checkpoint consistent with all earlier ones.

Naming the first bad record: a checkpoint commits to a whole tree, so a root mismatch at
checkpoint C only says "something in the records since the previous good checkpoint P
changed". To pin it down, the leaf hashes of that range are taken from the sidecar
``leafhashes.bin`` *only if* they extend P's verified tree to C's signed root (the
sidecar is otherwise untrusted); then the first record whose recomputed hash differs is
the tampered one. Deletions, insertions and swaps also show as a ``seq`` discontinuity
at the exact record; records before that are checked against the sidecar the same way,
so the report names the first bad record even when several are wrong.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pricing_service.audit.attestation import ATTESTATION_FILE, read_slots
from pricing_service.audit.checkpoints import CheckpointFile, CheckpointStore
from pricing_service.audit.compact import LEAF_PREFIX, fold, push_leaf
from pricing_service.audit.errors import ProofFormatError
from pricing_service.audit.leafhashes import LEAF_HASHES_FILE
from pricing_service.audit.merkle import EMPTY_ROOT, HASH_SIZE
from pricing_service.audit.note import Checkpoint, NoteError, Verifier, verify_checkpoint
from pricing_service.audit.prove import read_checkpoint_file
from pricing_service.audit.reader import LogFormatError, parse_record
from pricing_service.audit.record import record_seq
from pricing_service.audit.segments import SegmentFile, list_segments

__all__ = ["Problem", "VerifyReport", "verify_log"]

_SEQ_KEY: Final = b',"seq":'
_KIND_KEY: Final = b',"kind":"'
_PROGRESS_EVERY: Final = 8192  # records between progress callbacks
_READ_BUFFER: Final = 1 << 20
_SIDECAR_BLOCK: Final = 4096  # hashes per sidecar read
_PAIR: Final = ("old_checkpoint", "new_checkpoint")  # a consistency proof's, in its order

ProgressCallback = Callable[[int], None]
"""Called now and then with the number of segment bytes verified so far."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the log, located as precisely as it can be."""

    message: str
    segment: str | None = None
    """Segment file name of the bad record."""
    line: int | None = None
    """1-based line number of the bad record within its segment."""
    seq: int | None = None
    """Sequence number (leaf index) the bad record sits at."""
    checkpoint: str | None = None
    """The checkpoint file concerned, relative to the log directory."""

    def describe(self) -> str:
        """One line for humans: where, then what."""
        where = []
        if self.segment is not None:
            where.append(f"segment {self.segment}")
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.checkpoint is not None:
            where.append(f"checkpoint {self.checkpoint}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def to_json(self) -> dict[str, Any]:
        """The problem as a JSON object."""
        return {
            "message": self.message,
            "segment": self.segment,
            "line": self.line,
            "seq": self.seq,
            "checkpoint": self.checkpoint,
        }


@dataclass(slots=True)
class VerifyReport:
    """The outcome of `verify_log`."""

    logdir: str
    origin: str | None = None
    records: int = 0
    segments: int = 0
    bytes: int = 0
    checkpoints: int = 0
    """Distinct checkpoints (tree sizes) whose signature verified."""
    verified_size: int = 0
    """Records covered by the largest checkpoint the recomputed tree matched."""
    first_bad_record: Problem | None = None
    checkpoint_problems: list[Problem] = field(default_factory=list)
    other_problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)
    """Records by kind, read from each line's bytes (informational: the tree judges them)."""

    @property
    def ok(self) -> bool:
        """Whether the log is whole: no bad record and no bad checkpoint."""
        return (
            self.first_bad_record is None
            and not self.checkpoint_problems
            and not self.other_problems
        )

    @property
    def uncovered(self) -> int:
        """Records after the largest verified checkpoint (not yet signed)."""
        return max(self.records - self.verified_size, 0)

    def problems(self) -> list[Problem]:
        """Every problem, the first bad record first."""
        first = [self.first_bad_record] if self.first_bad_record is not None else []
        return first + self.checkpoint_problems + self.other_problems

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object."""
        return {
            "ok": self.ok,
            "logdir": self.logdir,
            "origin": self.origin,
            "records": self.records,
            "segments": self.segments,
            "bytes": self.bytes,
            "checkpoints": self.checkpoints,
            "verified_size": self.verified_size,
            "uncovered": self.uncovered,
            "first_bad_record": (
                self.first_bad_record.to_json() if self.first_bad_record is not None else None
            ),
            "checkpoint_problems": [p.to_json() for p in self.checkpoint_problems],
            "other_problems": [p.to_json() for p in self.other_problems],
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "kinds": dict(sorted(self.kinds.items())),
        }


_NoteReader = Callable[[CheckpointFile, str], list[tuple[str, str]]]
"""Reads the (label, note) pairs of one checkpoint source."""


def _count_kind(kinds: dict[str, int], raw: bytes) -> None:
    """Count a record by its ``kind``, a byte scan: in canonical form only caller,
    code_version and error (whose keys are the service's own) precede the top-level key,
    and an unescaped quote cannot occur inside a string."""
    i = raw.find(_KIND_KEY)
    end = raw.find(b'"', i + len(_KIND_KEY)) if i >= 0 else -1
    kind = raw[i + len(_KIND_KEY) : end].decode("utf-8", "replace") if end >= 0 else "(none)"
    kinds[kind] = kinds.get(kind, 0) + 1


@dataclass(frozen=True, slots=True)
class _SignedRoot:
    size: int
    root: bytes
    label: str


@dataclass(frozen=True, slots=True)
class _Anchor:
    """Where the stream stood right after a checkpoint the recomputed tree matched."""

    size: int
    stack: tuple[bytes, ...]  # compact range at `size`
    segment_index: int
    offset: int  # byte offset in that segment of the next record
    line: int  # line number of the last record read in that segment


class _Verifier:
    """One run of `verify_log` (state shared by the pass and the attribution)."""

    def __init__(
        self,
        logdir: Path,
        verifier: Verifier,
        *,
        extra_checkpoints: Sequence[Path],
        expected_origin: str | None,
        full: bool,
        progress: ProgressCallback | None,
    ) -> None:
        self.logdir = logdir
        self.verifier = verifier
        self.extra = extra_checkpoints
        self.expected_origin = expected_origin
        self.full = full
        self.progress = progress
        self.report = VerifyReport(str(logdir))
        self.segments: list[SegmentFile] = []

    # -- checkpoints ---------------------------------------------------------------------

    def load_checkpoints(self) -> list[_SignedRoot]:
        own: list[tuple[CheckpointFile, _NoteReader]] = [
            (f, self._own_note) for f in CheckpointStore(self.logdir).files()
        ]
        slots = self.logdir / ATTESTATION_FILE
        if slots.exists():
            own.append((CheckpointFile(slots, None), self._slot_notes))
        kept = [(CheckpointFile(Path(p), None), self._kept_notes) for p in self.extra]
        by_size: dict[int, _SignedRoot] = {}
        origins: set[str] = set()
        for f, read in own + kept:
            label = f.label if f.path.is_relative_to(self.logdir) else str(f.path)
            if f.stray:
                self._problem(label, "not a checkpoint file name (<20 digits>.note)")
                continue
            for note_label, note in read(f, label):
                cp = self._verified(note, f.named_size, note_label)
                if cp is not None:
                    origins.add(cp.origin)
                    self._add(cp, note_label, by_size)
        report = self.report
        if len(origins) > 1:
            report.checkpoint_problems.append(
                Problem(f"checkpoints of more than one log: {sorted(origins)}")
            )
        if origins:
            report.origin = sorted(origins)[0]
        report.checkpoints = len(by_size)
        if (own or kept) and not by_size:
            report.checkpoint_problems.append(
                Problem(
                    f"no checkpoint verifies with key {self._key()} (wrong public key, or "
                    "every checkpoint was replaced)"
                )
            )
        return sorted(by_size.values(), key=lambda c: c.size)

    def _add(self, cp: Checkpoint, label: str, by_size: dict[int, _SignedRoot]) -> None:
        """Keep one signed root per size; two different ones of a size are a fork."""
        seen = by_size.get(cp.size)
        if seen is None:
            by_size[cp.size] = _SignedRoot(cp.size, cp.root_hash, label)
        elif seen.root != cp.root_hash:
            self._problem(
                label,
                f"a second signed checkpoint of size {cp.size} with a different root than "
                f"{seen.label}: fork: the log was forked",
            )

    def _own_note(self, f: CheckpointFile, label: str) -> list[tuple[str, str]]:
        """The note of one of the log's own checkpoint files, read exactly as written.

        The writer made these files, so any difference (even a newline) is damage.
        """
        try:
            return [(label, f.path.read_text(encoding="utf-8"))]
        except (OSError, UnicodeDecodeError) as exc:
            self._problem(label, f"does not verify with key {self._key()}: {exc}")
        return []

    def _slot_notes(self, f: CheckpointFile, _label: str) -> list[tuple[str, str]]:
        """The notes of the attestation slots (`attestation.py`); a torn slot is what a
        crash mid-write leaves, so it is a warning, not damage."""
        try:
            slots = read_slots(self.logdir)
        except OSError as exc:
            self._problem(f.path.name, f"cannot be read: {exc}")
            return []
        for slot in slots:
            if slot.torn:
                self.report.warnings.append(
                    f"{f.path.name} slot {slot.index} is torn (a write cut by a crash; "
                    "the other slot holds the checkpoint before it)"
                )
        return [(f"{f.path.name}[{s.index}]", s.note) for s in slots if s.note is not None]

    def _kept_notes(self, f: CheckpointFile, label: str) -> list[tuple[str, str]]:
        """(label, note) of each checkpoint in a file the auditor kept (`--checkpoint`).

        It may be a proof file (its checkpoint, or both of a consistency proof) or a note
        cut out of one (`read_checkpoint_file`); an unreadable one is a problem, not a crash.
        """
        try:
            notes = read_checkpoint_file(f.path)
        except OSError as exc:
            self._problem(label, f"cannot be read: {exc}")
            return []
        except (ProofFormatError, UnicodeDecodeError) as exc:
            self._problem(label, f"is neither a signed checkpoint note nor a proof file: {exc}")
            return []
        if len(notes) == 1:
            return [(label, notes[0])]
        return [(f"{label} ({which})", n) for which, n in zip(_PAIR, notes, strict=True)]

    def _key(self) -> str:
        return f"{self.verifier.name}+{self.verifier.key_id:08x}"

    def _problem(self, label: str, message: str) -> None:
        self.report.checkpoint_problems.append(Problem(message, checkpoint=label))

    def _verified(self, note: str, named_size: int | None, label: str) -> Checkpoint | None:
        """The checkpoint `note` signs, or None after recording why it does not count."""
        try:
            cp = verify_checkpoint(note, self.verifier, expected_origin=self.expected_origin)
        except NoteError as exc:
            self._problem(label, f"does not verify with key {self._key()}: {exc}")
            return None
        if named_size is not None and named_size != cp.size:
            self._problem(
                label, f"file name says size {named_size}, the signed checkpoint says {cp.size}"
            )
            return None
        return cp

    # -- the streaming pass ------------------------------------------------------------

    def run(self) -> VerifyReport:
        started = time.perf_counter()
        report = self.report
        checkpoints = self.load_checkpoints()
        self.segments, strays = list_segments(self.logdir)
        report.segments = len(self.segments)
        for stray in strays:
            report.other_problems.append(
                Problem(f"unexpected file segments/{stray.name}: not part of the log")
            )
        self.stream(checkpoints)
        if report.records and not checkpoints and not report.checkpoint_problems:
            report.other_problems.append(
                Problem("no signed checkpoint: nothing vouches for the records")
            )
        report.seconds = time.perf_counter() - started
        return report

    def stream(self, checkpoints: list[_SignedRoot]) -> None:
        report = self.report
        sha = hashlib.sha256
        rfind_seq = _SEQ_KEY
        push = push_leaf
        anchor = _Anchor(0, (), 0, 0, 0)
        cps = [c for c in checkpoints if c.size > 0]
        if checkpoints and checkpoints[0].size == 0 and checkpoints[0].root != EMPTY_ROOT:
            report.checkpoint_problems.append(
                Problem(
                    "the empty-tree checkpoint has a wrong root", checkpoint=checkpoints[0].label
                )
            )
        ci = 0
        next_size = cps[0].size if cps else -1
        stack: list[bytes] = []
        size = 0
        done_bytes = 0
        progress = self.progress
        full = self.full
        last_segment, last_line = "", 0
        for si, segment in enumerate(self.segments):
            if segment.first_seq != size:
                self.structural(
                    anchor,
                    cps[ci] if ci < len(cps) else None,
                    size,
                    Problem(
                        f"segment name says it starts at seq {segment.first_seq}, but the log "
                        f"continues at seq {size}"
                        + (" (a segment is missing?)" if segment.first_seq > size else ""),
                        segment.name,
                        1,
                        size,
                    ),
                )
                return
            line_no = 0
            offset = 0
            with segment.path.open("rb", buffering=_READ_BUFFER) as f:
                for line in f:
                    line_no += 1
                    # -- the hot loop: keep it to byte operations and one hash --------
                    if line[-1:] != b"\n":
                        self.torn(anchor, cps, ci, size, segment, si, line_no)
                        return
                    raw = line[:-1]
                    i = raw.rfind(rfind_seq)
                    end = raw.find(b",", i + 7) if i >= 0 else -1
                    digits = raw[i + 7 : end] if end > i >= 0 else b""
                    if (
                        not digits.isdigit()
                        or int(digits) != size
                        or (digits[0] == 0x30 and len(digits) > 1)
                    ):
                        found = record_seq(raw)
                        what = (
                            "no readable seq"
                            if found is None
                            else f"expected seq {size}, found seq {found}"
                            + (" (a record is missing?)" if found > size else "")
                            + (" (a record is inserted or out of order?)" if found < size else "")
                        )
                        self.structural(
                            anchor,
                            cps[ci] if ci < len(cps) else None,
                            size,
                            Problem(what, segment.name, line_no, size),
                        )
                        return
                    if full:
                        bad = self.check_full(raw, size)
                        if bad is not None:
                            self.structural(
                                anchor,
                                cps[ci] if ci < len(cps) else None,
                                size,
                                Problem(bad, segment.name, line_no, size),
                            )
                            return
                    _count_kind(report.kinds, raw)
                    push(stack, size, sha(LEAF_PREFIX + raw).digest())
                    size += 1
                    offset += len(line)
                    if size == next_size:
                        cp = cps[ci]
                        if fold(stack) != cp.root:
                            self.mismatch(anchor, cp)
                            report.records = size
                            return
                        report.verified_size = size
                        anchor = _Anchor(size, tuple(stack), si, offset, line_no)
                        ci += 1
                        next_size = cps[ci].size if ci < len(cps) else -1
                    if progress is not None and size % _PROGRESS_EVERY == 0:
                        progress(done_bytes + offset)
            if line_no == 0 and si != len(self.segments) - 1:
                report.warnings.append(f"segment {segment.name} is empty")
            if line_no:
                last_segment, last_line = segment.name, line_no
            done_bytes += offset
            report.records = size
        report.records = size
        report.bytes = done_bytes
        if progress is not None:
            progress(done_bytes)
        if ci < len(cps):
            cp = cps[-1]
            self.structural(
                anchor,
                cps[ci],
                size,
                Problem(
                    f"truncation: the log ends after {size} records, but checkpoint "
                    f"{cp.label} signed {cp.size}: records {size}..{cp.size - 1} are "
                    "missing (truncated)",
                    last_segment or None,
                    last_line + 1 if last_segment else None,
                    size,
                ),
            )
        elif self.segments and not report.first_bad_record:
            self.check_origin()

    def check_full(self, raw: bytes, seq: int) -> str | None:
        """Deep checks of one record (``--full``): JSON, its version's shape, canonical form.

        The record is read by the one record reader (`parse_record`, dispatching on
        ``v``), so a line verify passes is one replay can read.
        """
        try:
            record = parse_record(raw, "", 0)
        except LogFormatError as exc:
            return exc.detail
        try:
            canonical = record.canonical()
        except ValueError as exc:
            return f"not canonical: {exc}"
        if canonical != raw:
            return "not in canonical form (key order, spacing or escaping differ)"
        origin = self.report.origin
        if origin is not None and record.origin != origin:
            return f"origin {record.origin!r} is not the checkpoints' {origin!r}"
        if record.seq != seq:
            return f"seq field is {record.seq!r}"
        return None

    def check_origin(self) -> None:
        """Each segment's first record must name the checkpoints' origin (cheap spot check)."""
        origin = self.report.origin
        if origin is None:
            return
        for segment in self.segments:
            with segment.path.open("rb") as f:
                first = f.readline()
            if not first:
                continue
            try:
                data = json.loads(first)
            except ValueError:
                continue  # unreachable for a verified segment; the tree vouches for it
            if data.get("origin") != origin:
                self.report.other_problems.append(
                    Problem(
                        f"record origin {data.get('origin')!r} is not the checkpoints' {origin!r}",
                        segment.name,
                        1,
                        segment.first_seq,
                    )
                )

    # -- what went wrong, and where ---------------------------------------------------

    def torn(
        self,
        anchor: _Anchor,
        cps: list[_SignedRoot],
        ci: int,
        size: int,
        segment: SegmentFile,
        si: int,
        line_no: int,
    ) -> None:
        is_tail = si == len(self.segments) - 1
        self.report.records = size
        if is_tail and ci >= len(cps):
            # A crash mid-write leaves this; the writer cuts it at its next start. It was
            # never acknowledged, and no checkpoint claims it: not a sign of tampering.
            self.report.warnings.append(
                f"segment {segment.name} line {line_no}: incomplete last record (no newline), "
                "left by a crash; the writer cuts it at its next start"
            )
            self.check_origin()
            return
        self.structural(
            anchor,
            cps[ci] if ci < len(cps) else None,
            size,
            Problem("incomplete record (no newline)", segment.name, line_no, size),
        )

    def structural(
        self, anchor: _Anchor, target: _SignedRoot | None, stop: int, problem: Problem
    ) -> None:
        """Report `problem` at record `stop`, unless an earlier record already differs."""
        report = self.report
        report.records = max(report.records, stop)
        if target is not None:
            earlier = self.first_divergence(anchor, target, stop)
            if earlier is not None:
                report.first_bad_record = earlier
                return
        report.first_bad_record = problem

    def mismatch(self, anchor: _Anchor, cp: _SignedRoot) -> None:
        """The tree at cp.size differs from the signed root: find the record."""
        found = self.first_divergence(anchor, cp, cp.size)
        if found is not None:
            self.report.first_bad_record = found
            return
        start = self.locate(anchor, anchor.size)
        self.report.first_bad_record = Problem(
            f"fork: records {anchor.size}..{cp.size - 1} do not lead to the root signed "
            f"by checkpoint {cp.label}; the first of them that differs cannot be named "
            f"because {LEAF_HASHES_FILE} does not match the checkpoint either",
            start[0],
            start[1],
            anchor.size,
        )

    def first_divergence(self, anchor: _Anchor, target: _SignedRoot, stop: int) -> Problem | None:
        """The first record in [anchor.size, stop) whose hash is not the one `target` signed.

        Uses the sidecar's hashes for [anchor.size, target.size) only after checking they
        extend the anchor's verified tree to `target`'s signed root; None if they do not,
        or if every record up to `stop` matches.
        """
        if not self.sidecar_reaches(anchor, target):
            return None
        sha = hashlib.sha256
        seq = anchor.size
        with _HashReader(self.logdir / LEAF_HASHES_FILE, anchor.size, target.size) as committed:
            for segment_name, line_no, raw in self.lines_from(anchor):
                if seq >= stop:
                    break
                h = sha(LEAF_PREFIX + raw).digest()
                want = committed.read(HASH_SIZE)
                if h != want:
                    return Problem(
                        f"fork: record differs from the one checkpoint {target.label} "
                        f"signed (leaf hash {h.hex()}, signed {want.hex()})",
                        segment_name,
                        line_no,
                        seq,
                    )
                seq += 1
        return None

    def sidecar_reaches(self, anchor: _Anchor, target: _SignedRoot) -> bool:
        """Whether the sidecar's hashes extend the anchor's verified tree to `target`'s root."""
        path = self.logdir / LEAF_HASHES_FILE
        try:
            if path.stat().st_size < target.size * HASH_SIZE:
                return False
        except OSError:
            return False
        stack = list(anchor.stack)
        size = anchor.size
        with _HashReader(path, anchor.size, target.size) as reader:
            for h in reader.blocks():
                push_leaf(stack, size, h)
                size += 1
        return size == target.size and fold(stack) == target.root

    def lines_from(self, anchor: _Anchor) -> Iterator[tuple[str, int, bytes]]:
        """(segment, line, raw) of every record after `anchor`, across segments."""
        for si in range(anchor.segment_index, len(self.segments)):
            segment = self.segments[si]
            first = si == anchor.segment_index
            line_no = anchor.line if first else 0
            with segment.path.open("rb", buffering=_READ_BUFFER) as f:
                if first:
                    f.seek(anchor.offset)
                for line in f:
                    line_no += 1
                    yield segment.name, line_no, line[:-1] if line.endswith(b"\n") else line

    def locate(self, anchor: _Anchor, seq: int) -> tuple[str | None, int | None]:
        position = anchor.size
        for segment_name, line_no, _raw in self.lines_from(anchor):
            if position == seq:
                return segment_name, line_no
            position += 1
        return None, None


class _HashReader:
    """Reads 32-byte hashes [lo, hi) of the sidecar in blocks; a context manager, so a reader
    left early (the first differing record) still closes its file."""

    def __init__(self, path: Path, lo: int, hi: int) -> None:
        self._f = path.open("rb")
        self._f.seek(lo * HASH_SIZE)
        self._left = (hi - lo) * HASH_SIZE

    def __enter__(self) -> _HashReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._f.close()

    def read(self, n: int) -> bytes:
        n = min(n, self._left)
        self._left -= n
        return self._f.read(n)

    def blocks(self) -> Iterator[bytes]:
        while self._left:
            block = self.read(_SIDECAR_BLOCK * HASH_SIZE)
            if not block:
                return
            for i in range(0, len(block), HASH_SIZE):
                yield block[i : i + HASH_SIZE]


def verify_log(
    logdir: Path,
    verifier: Verifier,
    *,
    extra_checkpoints: Sequence[Path] = (),
    expected_origin: str | None = None,
    full: bool = False,
    progress: ProgressCallback | None = None,
) -> VerifyReport:
    """Verify the log in `logdir` with only its public key; never raises for bad data.

    `extra_checkpoints` are checkpoint notes kept outside the log (e.g. ones a bank was
    given with its proofs): the log must agree with them too, which is what catches a
    log rolled back together with its own checkpoints. `full` also parses every record
    and checks its canonical form and fields (slower). The report's `first_bad_record`
    names the segment, line and seq of the first record that is wrong.
    """
    return _Verifier(
        Path(logdir),
        verifier,
        extra_checkpoints=extra_checkpoints,
        expected_origin=expected_origin,
        full=full,
        progress=progress,
    ).run()
