"""Crash recovery: a torn last record is cut, the tree and sequence continue; signed records
are never cut; a killed writer loses no acknowledged record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from audit_support import (
    ORIGIN,
    config,
    forged_record,
    quote_id,
    segment_lines,
    small_event,
    write_log,
)

from pricing_service.audit.checkpoints import read_unverified
from pricing_service.audit.errors import AuditLogCorruptError
from pricing_service.audit.keys import load_verifier
from pricing_service.audit.verify import verify_log
from pricing_service.audit.writer import DurableAuditLog

SEGMENT = "segments/00000000000000000000.jsonl"


def _verify(directory: Path) -> int:
    report = verify_log(directory, load_verifier(directory / "audit.vkey"))
    assert report.ok, report.problems()
    return report.records


@pytest.mark.parametrize(
    "torn",
    [
        b'{"caller":"bank-a","code_ver',  # crash mid-write: no newline
        b'{"caller":"bank-a","seq":5,"v":\n',  # a complete line that is not JSON
        b"\x00" * 300,  # size extended, data never written (power loss)
        b'{"caller":"bank-a","seq":9,"v":1}\n{"cal',  # wrong seq, then a torn one
    ],
)
def test_torn_tail_is_cut_and_the_log_continues(tmp_path: Path, torn: bytes) -> None:
    write_log(tmp_path, 5).close()
    segment = tmp_path / SEGMENT
    good = segment.read_bytes()
    with segment.open("ab") as f:
        f.write(torn)
    with DurableAuditLog(config(tmp_path)) as log:
        assert log.size == 5
        assert segment.read_bytes() == good
        assert log.submit(small_event(5)).result(timeout=5).sequence == 5
    (saved,) = (tmp_path / "torn").iterdir()
    assert saved.read_bytes() == torn
    assert [json.loads(raw)["seq"] for _, _, raw in segment_lines(tmp_path)] == list(range(6))
    assert _verify(tmp_path) == 6


def test_a_half_written_batch_after_the_newest_checkpoint_is_cut(tmp_path: Path) -> None:
    # The crash image of a batch killed mid-write: never attested, so never acknowledged.
    write_log(tmp_path, 4).close()
    segment = tmp_path / SEGMENT
    whole = segment.read_bytes()
    with segment.open("ab") as f:
        f.write(forged_record(4)[:-40])
    with DurableAuditLog(config(tmp_path)) as log:
        assert (log.size, log.moved_tail) == (4, None)
        assert segment.read_bytes() == whole
        assert log.submit(small_event(44)).result(timeout=5).sequence == 4
        assert log.position_of(quote_id(44)) is not None
    (saved,) = (tmp_path / "torn").iterdir()
    assert saved.read_bytes() == forged_record(4)[:-40]
    assert _verify(tmp_path) == 5


def test_damage_to_signed_records_is_refused_not_cut(tmp_path: Path) -> None:
    write_log(tmp_path, 5).close()
    segment = tmp_path / SEGMENT
    os.truncate(segment, segment.stat().st_size - 10)
    before = segment.read_bytes()
    with pytest.raises(AuditLogCorruptError, match="not a torn tail"):
        DurableAuditLog(config(tmp_path))
    assert segment.read_bytes() == before


def test_truncated_log_shorter_than_its_checkpoint_is_refused(tmp_path: Path) -> None:
    write_log(tmp_path, 5).close()
    segment = tmp_path / SEGMENT
    lines = segment.read_bytes().splitlines(keepends=True)
    segment.write_bytes(b"".join(lines[:3]))
    with pytest.raises(AuditLogCorruptError, match="has 3 records but its latest checkpoint"):
        DurableAuditLog(config(tmp_path))


def test_empty_leftover_segment_of_a_failed_rotation_is_removed(tmp_path: Path) -> None:
    write_log(tmp_path, 3).close()
    leftover = tmp_path / "segments" / f"{7:020d}.jsonl"
    leftover.touch()
    with DurableAuditLog(config(tmp_path)) as log:
        assert log.submit(small_event(3)).result(timeout=5).sequence == 3
    assert not leftover.exists()
    assert _verify(tmp_path) == 4


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {support!r})
    from audit_support import config, small_event
    from pricing_service.audit.writer import DurableAuditLog

    log = DurableAuditLog(config(Path({logdir!r}), segment_max_bytes=20_000))
    i = 0
    futures = []
    while True:
        futures.append((i, log.submit(small_event(i))))
        i += 1
        if len(futures) >= 16:
            for n, future in futures:
                print("ACK", future.result().sequence, flush=True)
            futures = []
    """
)


def test_killed_writer_loses_no_acknowledged_record(tmp_path: Path) -> None:
    script = _CHILD.format(support=str(Path(__file__).parent), logdir=str(tmp_path))
    acknowledged: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if not line.startswith(b"ACK "):
                continue  # structlog's own lines
            acknowledged.append(int(line.split()[1]))
            if len(acknowledged) >= 400:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    with DurableAuditLog(config(tmp_path)) as log:
        assert log.size > max(acknowledged)
        for seq in acknowledged:
            assert json.loads(log.read_record(seq))["seq"] == seq
        log.submit(small_event(10_000)).result(timeout=5)
    assert _verify(tmp_path) > max(acknowledged)
    assert json.loads(segment_lines(tmp_path)[0][2])["origin"] == ORIGIN


def test_a_kill_between_link_and_rename_leaves_the_kept_checkpoint_as_it_was(
    tmp_path: Path,
) -> None:
    # Found by a CI run: killed after linking checkpoints/<size>.note but before renaming
    # the temporary over checkpoint.latest, the temporary was the kept note's second
    # name, and the next checkpoint truncated and rewrote the kept one through it.
    write_log(tmp_path, 2).close()
    kept = tmp_path / "checkpoints" / f"{2:020d}.note"
    before = kept.read_text()
    os.link(kept, tmp_path / ".checkpoint.latest.tmp")
    with DurableAuditLog(config(tmp_path)) as log:
        log.submit(small_event(2)).result(timeout=5)
    assert kept.read_text() == before
    assert read_unverified(kept).size == 2
    assert _verify(tmp_path) == 3
