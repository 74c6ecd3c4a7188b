"""Disk trouble: failed batches fail their futures, leave nothing behind, and service resumes."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest
from audit_support import FaultyOps, config, segment_lines, small_event, tiny_tmpfs

from pricing_service.audit.keys import load_verifier
from pricing_service.audit.sink import AuditEvent, AuditUnavailableError
from pricing_service.audit.verify import verify_log
from pricing_service.audit.writer import DurableAuditLog

SEGMENT = "segments/00000000000000000000.jsonl"


def _verify_ok(directory: Path) -> int:
    report = verify_log(directory, load_verifier(directory / "audit.vkey"))
    assert report.ok, report.problems()
    records: int = report.records
    return records


@pytest.mark.parametrize("call", ["pwrite", "fdatasync"])
@pytest.mark.parametrize("err", [errno.EIO, errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_failed_write_fails_the_batch_leaves_no_bytes_and_reuses_the_seq(
    tmp_path: Path, call: str, err: int
) -> None:
    ops = FaultyOps()
    with DurableAuditLog(config(tmp_path), file_ops=ops) as log:
        log.submit(small_event(0)).result(timeout=5)
        good_size = (tmp_path / SEGMENT).stat().st_size
        ops.arm(call, err)
        with pytest.raises(AuditUnavailableError, match="cannot be written"):
            log.submit(small_event(1)).result(timeout=5)
        assert (tmp_path / SEGMENT).stat().st_size == good_size
        assert log.stats().failed_batches == 1
        assert log.submit(small_event(2)).result(timeout=5).sequence == 1
    assert [raw.count(b'"r2"') for _, _, raw in segment_lines(tmp_path)] == [0, 1]
    assert _verify_ok(tmp_path) == 2


class _ShortThenFull(FaultyOps):
    """pwrite writes half of the batch, then the disk is full."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        if self.armed and self.targets(fd):
            self.armed = False
            written = super().pwrite(fd, bytes(data)[: len(data) // 2], offset)
            self.arm("pwrite", errno.ENOSPC)
            return written
        return super().pwrite(fd, data, offset)


def test_partially_written_batch_is_cut_back_to_the_last_good_offset(tmp_path: Path) -> None:
    ops = _ShortThenFull()
    with DurableAuditLog(config(tmp_path), file_ops=ops) as log:
        log.submit(small_event(0)).result(timeout=5)
        good = (tmp_path / SEGMENT).read_bytes()
        ops.armed = True
        with pytest.raises(AuditUnavailableError):
            log.submit(small_event(1)).result(timeout=5)
        assert (tmp_path / SEGMENT).read_bytes() == good
        assert log.submit(small_event(1)).result(timeout=5).sequence == 1
    assert _verify_ok(tmp_path) == 2


def test_failed_cut_back_is_retried_before_the_next_batch(tmp_path: Path) -> None:
    ops = _ShortThenFull()
    with DurableAuditLog(config(tmp_path), file_ops=ops) as log:
        log.submit(small_event(0)).result(timeout=5)
        good = (tmp_path / SEGMENT).read_bytes()
        ops.armed = True
        ops.arm("ftruncate", errno.EIO)
        with pytest.raises(AuditUnavailableError):
            log.submit(small_event(1)).result(timeout=5)
        assert (tmp_path / SEGMENT).read_bytes() != good  # the half batch is still there
        assert log.submit(small_event(7)).result(timeout=5).sequence == 1
    lines = segment_lines(tmp_path)
    assert len(lines) == 2
    assert b'"r7"' in lines[1][2]
    assert _verify_ok(tmp_path) == 2


class _GatedSync(FaultyOps):
    """The next fdatasync blocks until released, then fails with EIO."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.gated = False

    def fdatasync(self, fd: int) -> None:
        if self.gated:
            self.gated = False
            self.entered.set()
            self.release.wait(5)
            raise OSError(errno.EIO, "injected")
        super().fdatasync(fd)


def test_records_queued_behind_a_failed_batch_fail_too_and_no_seq_is_burnt(
    tmp_path: Path,
) -> None:
    ops = _GatedSync()
    with DurableAuditLog(config(tmp_path), file_ops=ops) as log:
        ops.gated = True
        first = log.submit(small_event(0))
        assert ops.entered.wait(5)
        queued = [log.submit(small_event(i)) for i in (1, 2)]
        ops.release.set()
        for future in [first, *queued]:
            with pytest.raises(AuditUnavailableError):
                future.result(timeout=5)
        assert log.submit(small_event(3)).result(timeout=5).sequence == 0
        assert log.submit(small_event(4)).result(timeout=5).sequence == 1
    assert _verify_ok(tmp_path) == 2


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    block = b"\0" * 4096
    with filler.open("wb", buffering=0) as f:
        written = 1
        while written:
            try:
                written = f.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                written = 0
    return filler


def _big_event(i: int) -> AuditEvent:
    event = small_event(i)
    return AuditEvent(
        event.kind,
        {**(event.request or {}), "note": "x" * 9000},
        event.response,
        event.error,
        event.caller,
        event.policy_digest,
        event.time,
    )


def test_full_disk_refuses_quotes_then_recovers_when_space_returns(tmp_path: Path) -> None:
    mount = tmp_path / "tiny"
    with tiny_tmpfs(mount, "64k") as mounted:
        if not mounted:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        logdir = mount / "log"
        with DurableAuditLog(config(logdir, checkpoint_interval_ms=3_600_000)) as log:
            log.submit(small_event(0)).result(timeout=5)
            good = (logdir / SEGMENT).read_bytes()
            filler = _fill(mount)
            with pytest.raises(AuditUnavailableError, match="No space left"):
                log.submit(_big_event(1)).result(timeout=5)
            assert (logdir / SEGMENT).read_bytes() == good
            filler.unlink()
            assert log.submit(_big_event(2)).result(timeout=5).sequence == 1
        assert _verify_ok(logdir) == 2
