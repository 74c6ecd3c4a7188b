"""The durable writer: group commit, durable before resolve, rotation, index, proofs."""

from __future__ import annotations

import json
import os
import stat
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest
from audit_support import (
    ORIGIN,
    FaultyOps,
    config,
    quote_id,
    segment_lines,
    small_event,
    write_log,
)

from pricing_service.audit.attestation import read_slots
from pricing_service.audit.errors import (
    AuditLogCorruptError,
    AuditLogLockedError,
    QuoteNotFoundError,
    RecordEncodingError,
)
from pricing_service.audit.keys import load_verifier
from pricing_service.audit.merkle import leaf_hash, verify_inclusion
from pricing_service.audit.note import verify_checkpoint
from pricing_service.audit.sink import AuditEvent, AuditPosition, AuditSink
from pricing_service.audit.verify import verify_log
from pricing_service.audit.writer import DurableAuditLog


def test_durable_audit_log_is_an_audit_sink(tmp_path: Path) -> None:
    with DurableAuditLog(config(tmp_path)) as log:
        sink: AuditSink = log
        assert sink.submit(small_event(0)).result(timeout=5).sequence == 0


def test_concurrent_submitters_are_group_committed_with_contiguous_seqs(tmp_path: Path) -> None:
    threads, per_thread = 8, 150
    futures: list[Future[AuditPosition]] = []
    lock = threading.Lock()
    with DurableAuditLog(config(tmp_path)) as log:
        start = threading.Barrier(threads)

        def submitter(k: int) -> None:
            start.wait()
            for i in range(per_thread):
                future = log.submit(small_event(k * per_thread + i))
                with lock:
                    futures.append(future)

        workers = [threading.Thread(target=submitter, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        positions = [f.result(timeout=10) for f in futures]
        stats = log.stats()

    assert sorted(p.sequence for p in positions) == list(range(threads * per_thread))
    assert stats.records == threads * per_thread
    assert stats.batches < stats.records  # many records per fdatasync
    assert sum(stats.batch_sizes) == stats.records
    lines = segment_lines(tmp_path)
    assert [json.loads(raw)["seq"] for _, _, raw in lines] == list(range(threads * per_thread))
    by_seq = {p.sequence: p for p in positions}
    for _, _, raw in lines:
        seq = json.loads(raw)["seq"]
        assert by_seq[seq] == AuditPosition(ORIGIN, seq, leaf_hash(raw).hex())


def test_future_resolves_only_after_the_record_is_written_and_synced(tmp_path: Path) -> None:
    ops = FaultyOps()
    seen: list[tuple[list[str], bytes]] = []
    with DurableAuditLog(config(tmp_path), file_ops=ops) as log:
        ops.calls.clear()
        future = log.submit(small_event(0))

        def on_done(_: Future[AuditPosition]) -> None:
            segment = tmp_path / "segments" / "00000000000000000000.jsonl"
            seen.append((list(ops.calls), segment.read_bytes()))

        future.add_done_callback(on_done)
        future.result(timeout=5)
    calls, content = seen[0]
    assert calls[:2] == ["pwrite", "fdatasync"]
    assert content.endswith(b"\n")
    assert json.loads(content.splitlines()[0])["request"] == {
        "principal_fen": "0",
        "request_id": "r0",
    }


def test_record_bytes_on_disk_are_the_canonical_record(tmp_path: Path) -> None:
    with DurableAuditLog(config(tmp_path)) as log:
        log.submit(small_event(3)).result(timeout=5)
    ((_, _, raw),) = segment_lines(tmp_path)
    assert (
        raw
        == (
            '{"caller":"bank-a","code_version":"0.1.0","error":null,"kind":"quote",'
            f'"origin":"{ORIGIN}","peer":"","policies":null,"policy_digest":"{"ab" * 32}",'
            '"request":{"principal_fen":"3000","request_id":"r3"},'
            f'"response":{{"annual_rate":"3.45","quote_id":"{quote_id(3)}"}},'
            '"seq":0,"time":"2026-01-05T01:00:00Z","v":2}'
        ).encode()
    )


def test_encoding_error_is_raised_at_once_and_burns_no_seq(tmp_path: Path) -> None:
    bad = AuditEvent("quote", {"rate": 1.5}, {"quote_id": "q"}, None, "c", None, "t")
    with DurableAuditLog(config(tmp_path)) as log:
        with pytest.raises(RecordEncodingError):
            log.submit(bad)
        assert log.submit(small_event(0)).result(timeout=5).sequence == 0


def test_segments_rotate_by_size_and_each_continues_the_previous_seq(tmp_path: Path) -> None:
    log = write_log(tmp_path, 40, segment_max_bytes=2000)
    log.close()
    names = sorted(p.name for p in (tmp_path / "segments").iterdir())
    lines = segment_lines(tmp_path)
    firsts = {}
    for name, number, raw in lines:
        if number == 1:
            firsts[name] = json.loads(raw)["seq"]
    assert names == [f"{seq:020d}.jsonl" for seq in sorted(firsts.values())]
    assert len(names) > 3
    assert all((tmp_path / "segments" / n).stat().st_size <= 2000 for n in names)
    assert [json.loads(raw)["seq"] for _, _, raw in lines] == list(range(40))
    verifier = load_verifier(tmp_path / "audit.vkey")
    assert verify_log(tmp_path, verifier).ok


def test_segments_rotate_by_age(tmp_path: Path) -> None:
    now = [0.0]
    log = DurableAuditLog(config(tmp_path, segment_max_age_s=10.0), clock=lambda: now[0])
    with log:
        for i in range(6):
            log.submit(small_event(i)).result(timeout=5)
            now[0] += 4.0  # a new segment every third record
    names = sorted(p.name for p in (tmp_path / "segments").iterdir())
    assert names == [f"{s:020d}.jsonl" for s in (0, 3)]


def test_reopened_log_continues_seq_tree_and_index(tmp_path: Path) -> None:
    write_log(tmp_path, 10).close()
    with DurableAuditLog(config(tmp_path)) as log:
        assert log.size == 10
        assert log.submit(small_event(10)).result(timeout=5).sequence == 10
        assert log.position_of(quote_id(4)) == AuditPosition(
            ORIGIN, 4, leaf_hash(segment_lines(tmp_path)[4][2]).hex()
        )
    assert verify_log(tmp_path, load_verifier(tmp_path / "audit.vkey")).records == 11


def test_checkpoints_are_signed_after_batches_and_kept_per_size(tmp_path: Path) -> None:
    write_log(tmp_path, 3).close()
    notes = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert notes == [f"{n:020d}.note" for n in (1, 2, 3)]
    verifier = load_verifier(tmp_path / "audit.vkey")
    latest = verify_checkpoint((tmp_path / "checkpoint.latest").read_text(), verifier)
    assert (latest.origin, latest.size) == (ORIGIN, 3)


def test_every_batch_is_signed_before_its_futures_resolve_and_the_interval_spaces_kept_copies(
    tmp_path: Path,
) -> None:
    with write_log(tmp_path, 5, checkpoint_interval_ms=3_600_000) as log:
        # Five batches, each acknowledged only inside a signed checkpoint...
        latest = log.latest_checkpoint()
        assert latest is not None
        assert latest.splitlines()[1] == "5"
        # Written alternately into the two attestation slots: 1, 2, 3, 4, 5.
        slots = read_slots(tmp_path)
        assert [s.note.splitlines()[1] if s.note else None for s in slots] == ["5", "4"]
        assert slots[0].note == latest
        assert not (tmp_path / "checkpoint.latest").exists()
        assert log.prove_quote(quote_id(2)).tree_size == 5
        # ...but none kept under checkpoints/ before the interval (an hour) is up.
        assert not (tmp_path / "checkpoints").exists()
        assert log.checkpoint(timeout=5) == latest
        assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [f"{5:020d}.note"]
        assert log.stats().checkpoints == 5


def test_prove_quote_gives_a_proof_that_verifies_against_the_signed_root(tmp_path: Path) -> None:
    with write_log(tmp_path, 37, checkpoint_interval_ms=3_600_000) as log:
        log.checkpoint(timeout=5)
        verifier = load_verifier(tmp_path / "audit.vkey")
        for i in (0, 1, 17, 36):
            result = log.prove_quote(quote_id(i))
            cp = verify_checkpoint(result.checkpoint, verifier)
            assert (result.position.sequence, result.tree_size, cp.size) == (i, 37, 37)
            assert json.loads(result.record)["response"]["quote_id"] == quote_id(i)
            verify_inclusion(leaf_hash(result.record), i, 37, list(result.proof), cp.root_hash)
            assert result.position.leaf_hash == leaf_hash(result.record).hex()
        with pytest.raises(QuoteNotFoundError):
            log.prove_quote("q_unknown")
        assert log.position_of("q_unknown") is None


def test_refusals_are_logged_but_not_indexed_as_quotes(tmp_path: Path) -> None:
    with DurableAuditLog(config(tmp_path)) as log:
        position = log.submit(small_event(0, kind="refusal")).result(timeout=5)
        assert position.sequence == 0
        assert json.loads(log.read_record(0))["error"]["reason"] == "X"
        with pytest.raises(QuoteNotFoundError):
            log.prove_quote(quote_id(0))


def test_second_writer_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    with DurableAuditLog(config(tmp_path)), pytest.raises(AuditLogLockedError):
        DurableAuditLog(config(tmp_path))


def test_signing_key_is_generated_on_first_start_with_private_mode(tmp_path: Path) -> None:
    with DurableAuditLog(config(tmp_path)) as log:
        vkey = log.vkey
    assert stat.S_IMODE((tmp_path / "audit.skey").stat().st_mode) == 0o600
    assert (tmp_path / "audit.vkey").read_text() == vkey + "\n"
    assert vkey.startswith(ORIGIN + "+")


def test_log_of_another_origin_is_refused(tmp_path: Path) -> None:
    write_log(tmp_path, 1).close()
    with pytest.raises(AuditLogCorruptError, match="is the log of"):
        DurableAuditLog(config(tmp_path, origin="other.example/log"))


def test_writer_refuses_to_continue_a_log_that_disagrees_with_its_checkpoint(
    tmp_path: Path,
) -> None:
    write_log(tmp_path, 5).close()
    segment = tmp_path / "segments" / "00000000000000000000.jsonl"
    segment.write_bytes(segment.read_bytes().replace(b'"r2"', b'"r9"'))
    with pytest.raises(AuditLogCorruptError, match="do not match the log's checkpoint"):
        DurableAuditLog(config(tmp_path))


def test_submit_after_close_fails_the_future(tmp_path: Path) -> None:
    log = DurableAuditLog(config(tmp_path))
    log.close()
    log.close()  # idempotent
    future = log.submit(small_event(0))
    with pytest.raises(Exception, match="closed"):
        future.result(timeout=1)


def test_unsynced_mode_writes_without_fdatasync_and_syncs_at_close(tmp_path: Path) -> None:
    ops = FaultyOps()
    unsafe = config(tmp_path, fsync=False, checkpoint_interval_ms=3_600_000)
    with DurableAuditLog(unsafe, file_ops=ops) as log:
        log.submit(small_event(0)).result(timeout=5)
        assert ops.calls.count("fdatasync") == 0
    assert ops.calls.count("fdatasync") >= 1
    assert len(segment_lines(tmp_path)) == 1


def test_leaf_hash_sidecar_is_rebuilt_at_start(tmp_path: Path) -> None:
    write_log(tmp_path, 4).close()
    sidecar = tmp_path / "leafhashes.bin"
    expected = b"".join(leaf_hash(raw) for _, _, raw in segment_lines(tmp_path))
    assert sidecar.read_bytes() == expected
    sidecar.write_bytes(b"\x00" * 40)  # damaged: not trusted, rebuilt
    DurableAuditLog(config(tmp_path)).close()
    assert sidecar.read_bytes() == expected
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".leafhashes")]


def test_queued_record_cannot_be_cancelled_and_is_still_written(tmp_path: Path) -> None:
    with DurableAuditLog(config(tmp_path)) as log:
        future = log.submit(small_event(0))
        assert future.cancel() is False
        assert future.result(timeout=5).sequence == 0
        assert log.submit(small_event(1)).result(timeout=5).sequence == 1
