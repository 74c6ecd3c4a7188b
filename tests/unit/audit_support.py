"""Builders shared by the audit-log unit tests."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from pricing_service.audit.fsutil import FileOps
from pricing_service.audit.record import canonical_json
from pricing_service.audit.sink import AuditEvent
from pricing_service.audit.writer import AuditLogConfig, DurableAuditLog

ORIGIN = "changji.example/pricing-audit/replica-1"


def small_event(i: int, *, kind: str = "quote") -> AuditEvent:
    """A tiny event (about 300 bytes as a record), deterministic in `i`."""
    if kind == "refusal":
        return AuditEvent(
            kind="refusal",
            request={"request_id": f"r{i}", "principal_fen": str(1000 * i)},
            response=None,
            error={"code": "FAILED_PRECONDITION", "message": "no", "reason": "X"},
            caller="bank-a",
            policy_digest=None,
            time="2026-01-05T01:00:00Z",
        )
    return AuditEvent(
        kind="quote",
        request={"request_id": f"r{i}", "principal_fen": str(1000 * i)},
        response={"quote_id": quote_id(i), "annual_rate": "3.45"},
        error=None,
        caller="bank-a",
        policy_digest="ab" * 32,
        time="2026-01-05T01:00:00Z",
    )


def quote_id(i: int) -> str:
    """Quote id of `small_event(i)`."""
    return f"q_{i:032x}"


def config(directory: Path, **overrides: object) -> AuditLogConfig:
    """A test config: fsync on (tmp is fast), version pinned for exact bytes."""
    base = AuditLogConfig(directory=directory, origin=ORIGIN, code_version="0.1.0")
    return replace(base, **overrides)  # type: ignore[arg-type]


def write_log(directory: Path, count: int, **overrides: object) -> DurableAuditLog:
    """Open a log, write `count` small events one batch at a time, return it open."""
    log = DurableAuditLog(config(directory, **overrides))
    for i in range(count):
        log.submit(small_event(i)).result(timeout=10)
    return log


def segment_lines(directory: Path) -> list[tuple[str, int, bytes]]:
    """(segment name, line number, raw) of every line of the log, in order."""
    out = []
    for path in sorted((directory / "segments").iterdir()):
        for n, line in enumerate(path.read_bytes().splitlines(), start=1):
            out.append((path.name, n, line))
    return out


class FaultyOps(FileOps):
    """FileOps that fail chosen calls with an errno, a given number of times."""

    def __init__(self, only_under: str = "segments") -> None:
        self.fail: dict[str, tuple[int, int]] = {}  # call -> (errno, times left)
        self.calls: list[str] = []
        # Faults hit only files under this directory name, so that the asynchronous
        # checkpoint and leaf-hash writes cannot consume a fault meant for a batch.
        self.only_under = only_under
        self.paths: dict[int, Path] = {}

    def open(self, path: Path, flags: int, mode: int = 0o644) -> int:
        fd = super().open(path, flags, mode)
        self.paths[fd] = Path(path)
        return fd

    def arm(self, call: str, err: int = errno.EIO, times: int = 1) -> None:
        """Make the next `times` calls of `call` raise OSError(err)."""
        self.fail[call] = (err, times)

    def targets(self, fd: int) -> bool:
        """Whether faults apply to `fd` (a file under `only_under`)."""
        path = self.paths.get(fd)
        return path is not None and path.parent.name == self.only_under

    def _maybe_fail(self, call: str, fd: int) -> None:
        if not self.targets(fd):
            return
        self.calls.append(call)
        err, left = self.fail.get(call, (0, 0))
        if left > 0:
            self.fail[call] = (err, left - 1)
            raise OSError(err, os.strerror(err))

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        self._maybe_fail("pwrite", fd)
        return super().pwrite(fd, data, offset)

    def fdatasync(self, fd: int) -> None:
        self._maybe_fail("fdatasync", fd)
        super().fdatasync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        self._maybe_fail("ftruncate", fd)
        super().ftruncate(fd, length)


@contextmanager
def tiny_tmpfs(path: Path, size: str = "64k") -> Iterator[bool]:
    """Mount a tmpfs of `size` at `path`; yields False if mounting is not possible."""
    import subprocess  # noqa: PLC0415 - only these tests mount

    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def forged_record(i: int) -> bytes:
    """The canonical bytes the writer of `config` would give `small_event(i)` at seq `i`:
    what someone with write access to a stopped server's directory could append."""
    event = small_event(i)
    return canonical_json(
        {
            "caller": event.caller,
            "code_version": "0.1.0",
            "error": event.error,
            "kind": event.kind,
            "origin": ORIGIN,
            "policy_digest": event.policy_digest,
            "request": event.request,
            "response": event.response,
            "seq": i,
            "time": event.time,
            "v": 1,
        }
    )
