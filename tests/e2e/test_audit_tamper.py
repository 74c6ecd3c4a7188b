"""Tampering with a copy of a real log is detected, and the first bad record is named.

One log of 3,000 realistic records over several segments, with signed checkpoints every
500 records, is written once by the durable writer; each test tampers with a fresh copy
the way an insider with file access could, and checks `pricing audit verify` names the
exact segment, line and sequence number of the first bad record.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pricing_service.audit.attestation import read_slots
from pricing_service.audit.keys import load_verifier, write_keypair
from pricing_service.audit.merkle import leaf_hash
from pricing_service.audit.note import Signer, parse_checkpoint, sign_checkpoint
from pricing_service.audit.synthetic import synthetic_event
from pricing_service.audit.verify import VerifyReport, verify_log
from pricing_service.audit.writer import AuditLogConfig, DurableAuditLog
from pricing_service.cli.audit import main

pytestmark = pytest.mark.e2e

ORIGIN = "changji.example/pricing-audit/replica-1"
RECORDS = 3000
CHECKPOINT_EVERY = 500
TARGET = 1234  # the record the tests tamper with: signed by the checkpoint at 1500


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The untampered log (never modified by a test)."""
    logdir = tmp_path_factory.mktemp("pristine") / "log"
    config = AuditLogConfig(
        directory=logdir,
        origin=ORIGIN,
        code_version="0.1.0",
        fsync=False,
        segment_max_bytes=1024 * 1024,
        checkpoint_interval_ms=3_600_000,  # checkpoints only where the test asks
    )
    with DurableAuditLog(config) as log:
        for start in range(0, RECORDS, CHECKPOINT_EVERY):
            futures = [log.submit(synthetic_event(i)) for i in range(start, start + 500)]
            for future in futures:
                future.result(timeout=30)
            log.checkpoint(timeout=30)
    return logdir


@pytest.fixture
def logdir(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of the log to tamper with."""
    return Path(shutil.copytree(pristine, tmp_path / "log"))


def _verify(logdir: Path, **kwargs: object) -> VerifyReport:
    return verify_log(logdir, load_verifier(logdir / "audit.vkey"), **kwargs)  # type: ignore[arg-type]


def _segments(logdir: Path) -> list[Path]:
    return sorted((logdir / "segments").iterdir())


def _where(logdir: Path, seq: int) -> tuple[Path, int]:
    """(segment path, 1-based line) of record `seq` in the log."""
    for path in _segments(logdir):
        first = int(path.stem)
        count = path.read_bytes().count(b"\n")
        if first <= seq < first + count:
            return path, seq - first + 1
    raise LookupError(seq)


def _edit_lines(path: Path, edit: Callable[[list[bytes]], list[bytes]]) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(edit(lines)))


def _first_bad(report: VerifyReport) -> tuple[str | None, int | None, int | None]:
    assert not report.ok
    bad = report.first_bad_record
    assert bad is not None, report.problems()
    return bad.segment, bad.line, bad.seq


def test_pristine_log_has_the_expected_shape(pristine: Path) -> None:
    segments = _segments(pristine)
    assert len(segments) >= 4
    notes = sorted(p.name for p in (pristine / "checkpoints").iterdir())
    assert notes == [f"{n:020d}.note" for n in range(500, 3001, 500)]
    path, line = _where(pristine, TARGET)
    assert line > 2  # TARGET and TARGET+1 sit inside one segment, away from its start
    assert _where(pristine, TARGET + 1) == (path, line + 1)


def test_untampered_log_verifies(logdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _verify(logdir)
    assert report.ok, report.problems()
    # Six kept (one per 500) and the attestation slots' two newest (3000 and the batch
    # before it, which may be one of the kept sizes, depending on how batches fell).
    slot_sizes = {int(s.note.splitlines()[1]) for s in read_slots(logdir) if s.note}
    assert max(slot_sizes) == 3000
    kept = set(range(CHECKPOINT_EVERY, RECORDS + 1, CHECKPOINT_EVERY))
    assert (report.records, report.verified_size, report.checkpoints) == (
        3000,
        3000,
        len(kept | slot_sizes),
    )
    assert main(["audit", "verify", str(logdir), "--public-key", str(logdir / "audit.vkey")]) == 0
    assert capsys.readouterr().out.startswith(f"OK: {ORIGIN}: 3,000 records")


def test_untampered_log_verifies_in_full_mode(logdir: Path) -> None:
    assert _verify(logdir, full=True).ok


def test_one_changed_byte_names_that_record(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, line = _where(logdir, TARGET)

    def flip(lines: list[bytes]) -> list[bytes]:
        old = lines[line - 1]
        lines[line - 1] = old.replace(b'"borrower_id":"91650100MA', b'"borrower_id":"91650100MB', 1)
        assert sum(a != b for a, b in zip(old, lines[line - 1], strict=True)) == 1
        return lines

    _edit_lines(path, flip)
    report = _verify(logdir)
    assert _first_bad(report) == (path.name, line, TARGET)
    assert report.first_bad_record is not None
    assert "differs from the one checkpoint checkpoints/00000000000000001500.note signed" in (
        report.first_bad_record.message
    )
    assert report.verified_size == 1000
    code = main(["audit", "verify", str(logdir), "--public-key", str(logdir / "audit.vkey")])
    out = capsys.readouterr().out
    assert code == 1
    assert (
        f"first bad record: segment {path.name}, line {line}, seq {TARGET}: fork: record differs"
        in out
    )


def test_changed_seq_digit_names_that_record(logdir: Path) -> None:
    path, line = _where(logdir, TARGET)

    def renumber(lines: list[bytes]) -> list[bytes]:
        lines[line - 1] = lines[line - 1].replace(b'"seq":1234,', b'"seq":1334,')
        return lines

    _edit_lines(path, renumber)
    report = _verify(logdir)
    assert _first_bad(report) == (path.name, line, TARGET)
    assert report.first_bad_record is not None
    assert report.first_bad_record.message.startswith("expected seq 1234, found seq 1334")


def test_deleted_record_is_named_where_it_is_missing(logdir: Path) -> None:
    path, line = _where(logdir, TARGET)
    _edit_lines(path, lambda lines: lines[: line - 1] + lines[line:])
    report = _verify(logdir)
    assert _first_bad(report) == (path.name, line, TARGET)
    assert report.first_bad_record is not None
    assert report.first_bad_record.message == (
        "expected seq 1234, found seq 1235 (a record is missing?)"
    )


def test_inserted_copy_of_an_old_record_is_named(logdir: Path) -> None:
    path, line = _where(logdir, TARGET)
    old_path, old_line = _where(logdir, 100)
    copied = old_path.read_bytes().splitlines(keepends=True)[old_line - 1]
    _edit_lines(path, lambda lines: [*lines[: line - 1], copied, *lines[line - 1 :]])
    report = _verify(logdir)
    assert _first_bad(report) == (path.name, line, TARGET)
    assert report.first_bad_record is not None
    assert "found seq 100" in report.first_bad_record.message


def test_inserted_forged_record_with_a_plausible_seq_is_named(logdir: Path) -> None:
    path, line = _where(logdir, TARGET)
    real = path.read_bytes().splitlines(keepends=True)[line - 1]
    forged = real.replace(b'"annual_rate":"', b'"annual_rate":"1', 1)
    _edit_lines(path, lambda lines: [*lines[: line - 1], forged, *lines[line - 1 :]])
    report = _verify(logdir)
    # The seq break shows at the *real* record (now one line down); the forged line before
    # it is the first whose hash the checkpoint did not sign.
    assert _first_bad(report) == (path.name, line, TARGET)
    assert report.first_bad_record is not None
    assert "differs from the one checkpoint" in report.first_bad_record.message


def test_two_swapped_records_are_named_at_the_first(logdir: Path) -> None:
    path, line = _where(logdir, TARGET)

    def swap(lines: list[bytes]) -> list[bytes]:
        lines[line - 1], lines[line] = lines[line], lines[line - 1]
        return lines

    _edit_lines(path, swap)
    report = _verify(logdir)
    assert _first_bad(report) == (path.name, line, TARGET)
    assert report.first_bad_record is not None
    assert report.first_bad_record.message.startswith("expected seq 1234, found seq 1235")


def test_swapped_records_with_renumbered_seqs_are_named_at_the_first(logdir: Path) -> None:
    path, line = _where(logdir, TARGET)

    def swap_and_renumber(lines: list[bytes]) -> list[bytes]:
        a, b = lines[line - 1], lines[line]
        lines[line - 1] = b.replace(b'"seq":1235,', b'"seq":1234,')
        lines[line] = a.replace(b'"seq":1234,', b'"seq":1235,')
        return lines

    _edit_lines(path, swap_and_renumber)
    report = _verify(logdir)
    assert _first_bad(report) == (path.name, line, TARGET)
    assert report.first_bad_record is not None
    assert "differs from the one checkpoint" in report.first_bad_record.message


def test_truncated_tail_is_reported_where_the_records_go_missing(logdir: Path) -> None:
    last = _segments(logdir)[-1]
    kept = last.read_bytes().count(b"\n") - 10
    _edit_lines(last, lambda lines: lines[:kept])
    report = _verify(logdir)
    assert _first_bad(report) == (last.name, kept + 1, 2990)
    assert report.first_bad_record is not None
    assert report.first_bad_record.message == (
        "truncation: the log ends after 2990 records, but checkpoint "
        "checkpoints/00000000000000003000.note signed 3000: records 2990..2999 are missing "
        "(truncated)"
    )


def test_deleted_middle_segment_is_reported_at_the_next_one(logdir: Path) -> None:
    segments = _segments(logdir)
    gone, following = segments[1], segments[2]
    gone.unlink()
    report = _verify(logdir)
    assert _first_bad(report) == (following.name, 1, int(gone.stem))
    assert report.first_bad_record is not None
    assert "(a segment is missing?)" in report.first_bad_record.message


def test_checkpoint_resigned_with_another_key_is_named(logdir: Path, tmp_path: Path) -> None:
    skey, _ = write_keypair(ORIGIN, tmp_path / "mallory")
    note_path = logdir / "checkpoints" / f"{1500:020d}.note"
    body = parse_checkpoint(note_path.read_text().split("\n\n")[0] + "\n")
    note_path.write_text(sign_checkpoint(body, Signer.from_skey(skey.read_text().strip())))
    report = _verify(logdir)
    assert not report.ok
    assert report.first_bad_record is None
    assert [p.checkpoint for p in report.checkpoint_problems] == [
        "checkpoints/00000000000000001500.note"
    ]
    assert "no verifiable signatures" in report.checkpoint_problems[0].message


def test_edited_checkpoint_is_named(logdir: Path) -> None:
    note_path = logdir / "checkpoints" / f"{2000:020d}.note"
    text = note_path.read_text()
    lines = text.split("\n")
    lines[1] = "1999"
    note_path.write_text("\n".join(lines))
    latest = logdir / "checkpoint.latest"
    latest.write_text(latest.read_text().replace("\n3000\n", "\n3001\n"))
    report = _verify(logdir)
    assert not report.ok
    assert [p.checkpoint for p in report.checkpoint_problems] == [
        "checkpoints/00000000000000002000.note",
        "checkpoint.latest",
    ]
    assert all("invalid signature" in p.message for p in report.checkpoint_problems)


def test_wrong_public_key_fails(
    logdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, vkey = write_keypair(ORIGIN, tmp_path / "other")
    report = verify_log(logdir, load_verifier(vkey))
    assert not report.ok
    assert report.checkpoints == 0
    assert report.checkpoint_problems[-1].message.startswith("no checkpoint verifies with key")
    assert main(["audit", "verify", str(logdir), "--public-key", str(vkey)]) == 1
    assert "bad checkpoint: no checkpoint verifies with key" in capsys.readouterr().out


def test_record_and_leaf_hashes_both_rewritten_still_fail_at_the_checkpoint_range(
    logdir: Path,
) -> None:
    path, line = _where(logdir, TARGET)
    _edit_lines(
        path,
        lambda lines: [
            *lines[: line - 1],
            lines[line - 1].replace(b'"annual_rate":"', b'"annual_rate":"1', 1),
            *lines[line:],
        ],
    )
    # The insider also recomputes leafhashes.bin to match the edited segments.
    sidecar = logdir / "leafhashes.bin"
    hashes = bytearray(sidecar.read_bytes())
    new_line = path.read_bytes().splitlines()[line - 1]
    hashes[TARGET * 32 : TARGET * 32 + 32] = leaf_hash(new_line)
    sidecar.write_bytes(bytes(hashes))
    report = _verify(logdir)
    first_of_range, first_line = _where(logdir, 1000)
    assert _first_bad(report) == (first_of_range.name, first_line, 1000)
    assert report.first_bad_record is not None
    assert "fork: records 1000..1499 do not lead to the root" in report.first_bad_record.message


def test_rolled_back_log_is_caught_by_a_checkpoint_kept_elsewhere(
    logdir: Path, tmp_path: Path
) -> None:
    kept = tmp_path / "bank-kept-3000.note"
    shutil.copy(logdir / "checkpoint.latest", kept)
    # Roll the whole log back to 2000 records, checkpoints included: self-consistent.
    for path in _segments(logdir):
        first = int(path.stem)
        if first >= 2000:
            path.unlink()
        else:
            lines = path.read_bytes().splitlines(keepends=True)
            path.write_bytes(b"".join(lines[: 2000 - first]))
    for n in (2500, 3000):
        (logdir / "checkpoints" / f"{n:020d}.note").unlink()
    shutil.copy(logdir / "checkpoints" / f"{2000:020d}.note", logdir / "checkpoint.latest")
    (logdir / "checkpoint.slots").unlink()
    (logdir / "leafhashes.bin").write_bytes((logdir / "leafhashes.bin").read_bytes()[: 2000 * 32])
    assert _verify(logdir).ok  # nothing inside the log can tell
    report = _verify(logdir, extra_checkpoints=[kept])
    assert report.first_bad_record is not None
    assert report.first_bad_record.seq == 2000
    assert "signed 3000: records 2000..2999 are missing" in report.first_bad_record.message


def test_verify_reads_records_as_json_lines_any_tool_can_parse(pristine: Path) -> None:
    path, line = _where(pristine, TARGET)
    record = json.loads(path.read_bytes().splitlines()[line - 1])
    assert (record["seq"], record["origin"], record["kind"]) == (TARGET, ORIGIN, "quote")
