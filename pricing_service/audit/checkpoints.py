"""Signed checkpoints beside the segments: ``checkpoints/<size>.note`` and ``checkpoint.latest``.

Every checkpoint the log signs is kept (auditors check each one against the recomputed
tree, and they are what consistency proofs are between); ``checkpoint.latest`` is a copy
of the newest, for clients that only want the head. Both appear atomically.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import structlog

from pricing_service.audit.attestation import Slot, read_slots
from pricing_service.audit.fsutil import FileOps, pwrite_all
from pricing_service.audit.note import Checkpoint, NoteError, parse_checkpoint

__all__ = [
    "CHECKPOINTS_DIR",
    "LATEST_CHECKPOINT",
    "CheckpointFile",
    "CheckpointStore",
    "checkpoint_name",
    "note_text",
    "read_unverified",
]

CHECKPOINTS_DIR: Final = "checkpoints"
LATEST_CHECKPOINT: Final = "checkpoint.latest"
_NAME_RE: Final = re.compile(r"(\d{20})\.note")

_log = structlog.get_logger(__name__)


def checkpoint_name(size: int) -> str:
    """File name of the checkpoint of tree size `size` (zero-padded: sorts by size)."""
    return f"{size:020d}.note"


def note_text(note: str) -> str:
    """The text of a signed note (before its signatures), *without* checking them.

    Only for the log's own files, where the writer needs the size and root it signed
    before; anything an auditor relies on goes through `note.verify_checkpoint`.
    """
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    return note[: split + 1]


def _size_of(note: str) -> int | None:
    try:
        return parse_checkpoint(note_text(note)).size
    except NoteError:
        return None


def read_unverified(path: Path) -> Checkpoint:
    """Parse a checkpoint file of this log without checking its signature."""
    return parse_checkpoint(note_text(path.read_text(encoding="utf-8")))


@dataclass(frozen=True, slots=True)
class CheckpointFile:
    """A checkpoint file and the tree size its name claims."""

    path: Path
    named_size: int | None
    """Size from a ``checkpoints/<size>.note`` name; None for ``checkpoint.latest`` and
    for stray files in ``checkpoints/`` (see `stray`)."""
    stray: bool = False
    """A file in ``checkpoints/`` whose name is not ``<20 digits>.note``."""

    @property
    def label(self) -> str:
        """How reports name it: relative to the log directory."""
        if self.path.name == LATEST_CHECKPOINT and not self.stray and self.named_size is None:
            return LATEST_CHECKPOINT
        return f"{self.path.parent.name}/{self.path.name}"


class CheckpointStore:
    """Reads and atomically writes the checkpoints of one log directory."""

    def __init__(self, logdir: Path, ops: FileOps | None = None) -> None:
        """Use the checkpoints of the log in `logdir`."""
        self.logdir = Path(logdir)
        self.directory = self.logdir / CHECKPOINTS_DIR
        self.latest_path = self.logdir / LATEST_CHECKPOINT
        self._ops = ops or FileOps()

    def files(self) -> list[CheckpointFile]:
        """Every checkpoint file, in size order by name, then ``checkpoint.latest``.

        Files in ``checkpoints/`` whose names are not ``<20 digits>.note`` are included
        as `stray` so a verifier can flag them.
        """
        found: list[CheckpointFile] = []
        if self.directory.is_dir():
            for entry in sorted(os.scandir(self.directory), key=lambda e: e.name):
                if entry.name.startswith("."):
                    continue
                m = _NAME_RE.fullmatch(entry.name)
                if m:
                    found.append(CheckpointFile(Path(entry.path), int(m.group(1))))
                else:
                    found.append(CheckpointFile(Path(entry.path), None, stray=True))
        if self.latest_path.exists():
            found.append(CheckpointFile(self.latest_path, None))
        return found

    def latest_note(self) -> str | None:
        """The newest signed checkpoint note the log wrote, or None.

        The largest of ``checkpoint.latest``, the highest-numbered file and the whole
        attestation slots: the slots are a batch ahead of the others, and a crash between
        writing any two loses nothing.
        """
        best: tuple[int, str] | None = None
        for f in self.files():
            if f.stray:
                continue
            try:
                text = f.path.read_text(encoding="utf-8")
                size = parse_checkpoint(note_text(text)).size
            except (OSError, UnicodeDecodeError, NoteError) as exc:
                # Not ours any more (damaged or replaced): the others still bound what
                # the log may sign; `pricing audit verify` reports this one.
                _log.warning("audit_checkpoint_unreadable", path=str(f.path), error=str(exc))
                continue
            if best is None or size > best[0]:
                best = (size, text)
        for size, text in self._slot_notes():
            if best is None or size > best[0]:
                best = (size, text)
        return best[1] if best is not None else None

    def newest_slot(self) -> int | None:
        """Index of the attestation slot holding the newest note, or None."""
        best: tuple[int, int] | None = None
        for slot in self._read_slots():
            if slot.note is not None:
                size = _size_of(slot.note)
                if size is not None and (best is None or size > best[0]):
                    best = (size, slot.index)
        return best[1] if best is not None else None

    def _slot_notes(self) -> list[tuple[int, str]]:
        found = []
        for slot in self._read_slots():
            size = _size_of(slot.note) if slot.note is not None else None
            if slot.note is not None and size is not None:
                found.append((size, slot.note))
        return found

    def _read_slots(self) -> list[Slot]:
        try:
            return read_slots(self.logdir)
        except OSError as exc:
            _log.warning("audit_attestation_unreadable", error=str(exc))
            return []

    def write(self, size: int, note: str) -> Path:
        """Keep the signed checkpoint `note` of tree size `size`; return its path.

        One fdatasync per checkpoint: the note is written to a temporary file and synced,
        hard-linked as ``checkpoints/<size>.note``, then renamed over
        ``checkpoint.latest``, so both names share one fully written inode and neither
        can be seen half-written. The directories are not fsynced: what acknowledged
        records rely on is the attestation slot written before this (`attestation.py`),
        and Ed25519 is deterministic, so re-keeping the same tree yields the same note.
        Raises OSError.
        """
        data = note.encode("utf-8")
        path = self.directory / checkpoint_name(size)
        tmp = self.logdir / f".{LATEST_CHECKPOINT}.tmp"
        # A process killed between the link and the rename below leaves the temporary
        # as a second name of checkpoints/<size>.note: truncating it in place would
        # rewrite that kept checkpoint with this note. A fresh inode every time.
        tmp.unlink(missing_ok=True)
        fd = self._ops.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            pwrite_all(self._ops, fd, data, 0)
            self._ops.fdatasync(fd)
        finally:
            self._ops.close(fd)
        self._keep(tmp, path)
        os.replace(tmp, self.latest_path)
        return path

    def _keep(self, tmp: Path, path: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            os.link(tmp, path)
        except FileExistsError:
            # Re-signed after a restart: the same note, but replace it to be sure.
            spare = self.directory / f".{path.name}.tmp"
            spare.unlink(missing_ok=True)
            os.link(tmp, spare)
            os.replace(spare, path)
