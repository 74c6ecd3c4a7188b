"""The attested tail: no acknowledged record outside a signed checkpoint, and records
after the newest checkpoint at start moved aside, never signed.

The forgery of issue 12: with the server down, append a well-formed record after the
newest checkpoint; before, the restarted server signed it into its next checkpoint and
`verify` passed. Now the start moves it to ``unattested/`` and the log goes on without it.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from audit_support import (
    ORIGIN,
    FaultyOps,
    config,
    forged_record,
    quote_id,
    segment_lines,
    small_event,
    write_log,
)

from pricing_service.audit.attestation import ATTESTATION_FILE, SLOT_BYTES, read_slots
from pricing_service.audit.checkpoints import CheckpointStore
from pricing_service.audit.keys import load_verifier
from pricing_service.audit.note import verify_checkpoint
from pricing_service.audit.sink import AuditUnavailableError
from pricing_service.audit.verify import verify_log
from pricing_service.audit.writer import DurableAuditLog
from pricing_service.cli.main import main

SEGMENT = f"segments/{0:020d}.jsonl"


def _latest_size(logdir: Path) -> int:
    note = CheckpointStore(logdir).latest_note()
    assert note is not None
    return verify_checkpoint(note, load_verifier(logdir / "audit.vkey")).size


def _unattested(logdir: Path) -> list[tuple[str, bytes]]:
    files = sorted((logdir / "unattested").iterdir())
    return [(f.name.split(".")[0], f.read_bytes()) for f in files]


def test_a_record_forged_while_the_server_is_down_is_moved_aside_not_signed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_log(tmp_path, 3).close()
    signed = (tmp_path / SEGMENT).read_bytes()
    forged = forged_record(3) + b"\n"
    with (tmp_path / SEGMENT).open("ab") as f:
        f.write(forged)
    vkey = str(tmp_path / "audit.vkey")
    capsys.readouterr()  # the writer's own log lines
    assert main(["audit", "verify", str(tmp_path), "--public-key", vkey]) == 0
    assert capsys.readouterr().out.splitlines()[1:3] == [
        "records by kind: quote 4",
        "note: the last 1 records follow the newest signed checkpoint (only their sequence "
        "was checked): not attested, so not acknowledged (the server signs every batch "
        "before it replies); a server starting on this log moves them to unattested/",
    ]
    with DurableAuditLog(config(tmp_path)) as log:
        assert log.moved_tail is not None
        assert (log.moved_tail.first_seq, log.moved_tail.records) == (3, 1)
        assert log.size == 3
        assert log.position_of(quote_id(3)) is None
        # The next record takes seq 3: the forgery's number, not its bytes.
        assert log.submit(small_event(30)).result(timeout=5).sequence == 3
    assert _unattested(tmp_path) == [("3-3", forged)]
    assert (tmp_path / SEGMENT).read_bytes().startswith(signed)
    assert forged not in (tmp_path / SEGMENT).read_bytes()
    assert _latest_size(tmp_path) == 4
    report = verify_log(tmp_path, load_verifier(tmp_path / "audit.vkey"))
    assert (report.ok, report.records, report.uncovered) == (True, 4, 0)


def test_an_unattested_tail_across_segments_leaves_whole(tmp_path: Path) -> None:
    # One record per segment: the tail is two whole segment files after the signed ones.
    write_log(tmp_path, 2, segment_max_bytes=1).close()
    segments = tmp_path / "segments"
    for seq in (2, 3):
        (segments / f"{seq:020d}.jsonl").write_bytes(forged_record(seq) + b"\n")
    with DurableAuditLog(config(tmp_path, segment_max_bytes=1)) as log:
        assert log.moved_tail is not None
        assert (log.moved_tail.first_seq, log.moved_tail.records, log.size) == (2, 2, 2)
    assert _unattested(tmp_path) == [("2-3", forged_record(2) + b"\n" + forged_record(3) + b"\n")]
    assert sorted(p.name for p in segments.iterdir()) == [f"{s:020d}.jsonl" for s in (0, 1)]


def test_a_log_whose_records_are_all_signed_moves_nothing(tmp_path: Path) -> None:
    write_log(tmp_path, 4).close()
    with DurableAuditLog(config(tmp_path)) as log:
        assert (log.moved_tail, log.size) == (None, 4)
    assert not (tmp_path / "unattested").exists()


@pytest.mark.parametrize("err", [errno.EIO, errno.ENOSPC])
def test_a_batch_whose_checkpoint_cannot_be_written_is_withdrawn_not_acknowledged(
    tmp_path: Path, err: int
) -> None:
    # Faults only on files directly in the log directory: the attestation slots.
    ops = FaultyOps(only_under=tmp_path.name)
    # No kept copies (an hour apart): the only fdatasync there is the attestation slot's.
    with DurableAuditLog(config(tmp_path, checkpoint_interval_ms=3_600_000), file_ops=ops) as log:
        log.submit(small_event(0)).result(timeout=5)
        good = (tmp_path / SEGMENT).read_bytes()
        ops.arm("fdatasync", err)
        with pytest.raises(AuditUnavailableError, match="cannot be written"):
            log.submit(small_event(1)).result(timeout=5)
        # Durable for a moment, never acknowledged: cut back, its seq handed out again.
        assert (tmp_path / SEGMENT).read_bytes() == good
        assert (log.size, log.stats().failed_batches) == (1, 1)
        assert log.position_of(quote_id(1)) is None
        assert log.submit(small_event(2)).result(timeout=5).sequence == 1
    assert [raw.count(b'"r2"') for _, _, raw in segment_lines(tmp_path)] == [0, 1]
    assert _latest_size(tmp_path) == 2


def test_every_acknowledged_record_is_inside_the_newest_attestation(tmp_path: Path) -> None:
    with DurableAuditLog(config(tmp_path, checkpoint_interval_ms=3_600_000)) as log:
        for i in range(6):
            position = log.submit(small_event(i)).result(timeout=5)
            # On disk and signed before the future resolved, whatever the interval.
            assert _latest_size(tmp_path) == position.sequence + 1 == i + 1
            note = log.latest_checkpoint()
            assert note is not None
            assert note.splitlines()[:2] == [ORIGIN, str(i + 1)]


def test_a_torn_attestation_slot_falls_back_to_the_other_and_moves_its_batch_aside(
    tmp_path: Path,
) -> None:
    # Killed mid-way through writing the slot of batch 4: its records (seq 3) are on
    # disk, the slot is garbage, the other slot still holds checkpoint 3.
    write_log(tmp_path, 4).close()
    slots = read_slots(tmp_path)
    sizes = {s.index: int(s.note.splitlines()[1]) for s in slots if s.note is not None}
    assert sorted(sizes.values()) == [3, 4]
    newest = slots[max(sizes, key=sizes.__getitem__)]
    with (tmp_path / ATTESTATION_FILE).open("r+b") as f:
        f.seek(newest.index * SLOT_BYTES + 100)
        f.write(b"torn")
    (tmp_path / "checkpoint.latest").unlink()
    (tmp_path / "checkpoints" / f"{4:020d}.note").unlink()
    assert [s.torn for s in read_slots(tmp_path)] == [s.index == newest.index for s in slots]
    report = verify_log(tmp_path, load_verifier(tmp_path / "audit.vkey"))
    assert report.ok
    assert report.warnings == [
        f"checkpoint.slots slot {newest.index} is torn (a write cut by a crash; the other "
        "slot holds the checkpoint before it)"
    ]
    assert (report.records, report.uncovered) == (4, 1)
    with DurableAuditLog(config(tmp_path)) as log:
        assert log.moved_tail is not None
        assert (log.moved_tail.first_seq, log.moved_tail.records, log.size) == (3, 1, 3)
        # The next batch overwrites the torn slot, not the good one.
        log.submit(small_event(3)).result(timeout=5)
    assert [s.torn for s in read_slots(tmp_path)] == [False, False]
    assert _latest_size(tmp_path) == 4
