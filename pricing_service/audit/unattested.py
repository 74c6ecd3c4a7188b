"""The unattested tail: records after the newest signed checkpoint, moved aside at start.

The writer acknowledges a record only once a signed checkpoint covers it, so whatever
follows the newest checkpoint when a log is opened was never acknowledged: a batch
written when the process died before its checkpoint, or bytes appended to a segment
while the server was down (a forgery). Signing such records would vouch for them, so
they leave the log: copied whole to ``unattested/<first seq>-<last seq>.<unix time>.jsonl``
(fsynced), then cut from the segments. Nothing is deleted; the operator and the auditor
see the file, and the start logs ``audit_unattested_tail``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pricing_service.audit.fsutil import atomic_write, fsync_dir
from pricing_service.audit.segments import SEGMENTS_DIR, SegmentFile

__all__ = ["UNATTESTED_DIR", "MovedTail", "move_aside"]

UNATTESTED_DIR: Final = "unattested"


@dataclass(frozen=True, slots=True)
class MovedTail:
    """What `move_aside` took out of the log."""

    first_seq: int
    records: int
    path: Path


def move_aside(
    logdir: Path, segments: list[SegmentFile], first_seq: int, offset: int, records: int
) -> MovedTail:
    """Move records ``first_seq..first_seq + records - 1`` out of the log.

    `offset` is where record `first_seq` starts in the last segment that begins at or
    before it; everything from there to the end of the log is the tail. The copy is
    durable before any segment is cut, so a crash in between leaves the tail in both
    places and the next start moves it again (to a new file), losing nothing.
    """
    index = max(i for i, s in enumerate(segments) if s.first_seq <= first_seq)
    first, later = segments[index], segments[index + 1 :]
    with first.path.open("rb") as f:
        f.seek(offset)
        parts = [f.read()]
    parts += [s.path.read_bytes() for s in later]
    last_seq = first_seq + records - 1
    path = Path(logdir) / UNATTESTED_DIR / f"{first_seq}-{last_seq}.{time.time_ns()}.jsonl"
    path.parent.mkdir(exist_ok=True)
    atomic_write(path, b"".join(parts), exclusive=True)
    for segment in reversed(later):
        segment.path.unlink()
    if offset == 0 and first.first_seq == first_seq:
        first.path.unlink()  # a segment that held only tail records
    else:
        with first.path.open("r+b") as f:
            f.truncate(offset)
            os.fdatasync(f.fileno())
    fsync_dir(Path(logdir) / SEGMENTS_DIR)
    return MovedTail(first_seq, records, path)
