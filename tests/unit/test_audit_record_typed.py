"""The typed, versioned audit record: one reader dispatching on ``v``, byte-identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_support import quote_id, write_log

from pricing_service.audit.reader import LogFormatError, iter_records, parse_record
from pricing_service.audit.record import (
    RecordShapeError,
    RecordV1,
    canonical_json,
    record_from_json,
)

FIXTURE_SEGMENT = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "audit_log_2026_12"
    / "segments"
    / "00000000000000000000.jsonl"
)


def test_every_fixture_record_reads_typed_and_renders_back_to_its_exact_bytes() -> None:
    lines = FIXTURE_SEGMENT.read_bytes().splitlines()
    records = [parse_record(raw, FIXTURE_SEGMENT.name, i) for i, raw in enumerate(lines, 1)]
    assert [r.canonical() for r in records] == lines
    assert [r.seq for r in records] == list(range(60))
    assert [r.kind for r in records].count("refusal") == 15
    assert all(type(r) is RecordV1 and r.v == 1 for r in records)
    assert records[0].quote_id == json.loads(lines[0])["response"]["quote_id"]
    assert records[45].quote_id == ""


def test_an_unknown_version_is_a_log_format_error_naming_segment_and_line(tmp_path: Path) -> None:
    write_log(tmp_path, 3).close()
    segment = next((tmp_path / "segments").iterdir())
    lines = segment.read_bytes().splitlines(keepends=True)
    data = json.loads(lines[1])
    data["v"] = 4
    lines[1] = json.dumps(data, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    segment.write_bytes(b"".join(lines))
    with pytest.raises(LogFormatError) as caught:
        list(iter_records(tmp_path))
    assert (caught.value.segment, caught.value.line) == (segment.name, 2)
    assert str(caught.value) == (
        f"{segment.name} line 2: unknown record version v=4 (this reader knows [1, 2, 3])"
    )


def test_a_record_without_v_is_refused_by_name() -> None:
    with pytest.raises(RecordShapeError, match=r"^unknown record version v=None \(this"):
        record_from_json({"seq": 0})


def test_a_v1_record_with_a_missing_field_is_refused() -> None:
    data = json.loads(FIXTURE_SEGMENT.read_bytes().splitlines()[0])
    del data["caller"]
    with pytest.raises(RecordShapeError, match=r"missing \['caller'\], unexpected \[\]"):
        record_from_json(data)


def test_reader_records_carry_typed_fields(tmp_path: Path) -> None:
    write_log(tmp_path, 2).close()
    records = list(iter_records(tmp_path))
    assert [(r.record.kind, r.record.quote_id, r.record.caller) for r in records] == [
        ("quote", quote_id(0), "bank-a"),
        ("quote", quote_id(1), "bank-a"),
    ]
    assert records[1].data["response"] == {"quote_id": quote_id(1), "annual_rate": "3.45"}


def test_verify_full_names_a_record_of_an_unknown_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A log whose second record a future writer wrote as v=4 (signed, hashed, consistent):
    # the tree verifies; --full reads each record with the one reader and names it.
    from audit_support import small_event  # noqa: PLC0415

    from pricing_service.audit import structlog_sink  # noqa: PLC0415
    from pricing_service.audit.keys import load_verifier  # noqa: PLC0415
    from pricing_service.audit.record import canonical_json  # noqa: PLC0415
    from pricing_service.audit.verify import verify_log  # noqa: PLC0415

    monkeypatch.setattr(structlog_sink, "render_canonical", lambda _l, _m, ev: canonical_json(ev))
    log = write_log(tmp_path, 1)
    monkeypatch.setattr(structlog_sink, "RECORD_VERSION", 4)
    log.submit(small_event(1)).result(timeout=10)
    monkeypatch.setattr(structlog_sink, "RECORD_VERSION", 2)
    log.submit(small_event(2)).result(timeout=10)
    log.close()
    verifier = load_verifier(tmp_path / "audit.vkey")
    assert verify_log(tmp_path, verifier).ok
    report = verify_log(tmp_path, verifier, full=True)
    bad = report.first_bad_record
    assert bad is not None
    assert (bad.seq, bad.line) == (1, 2)
    assert bad.message.startswith("unknown record version v=4 (this reader knows [1, 2, 3])")


def test_version_3_is_version_2_naming_its_replica() -> None:
    v2 = {
        "caller": "bank-a", "code_version": "0.1.0", "error": None, "kind": "quote",
        "origin": "o", "peer": "", "policies": None, "policy_digest": "ab" * 32,
        "request": {"request_id": "r1"}, "response": {"quote_id": "q_1"}, "seq": 7,
        "time": "2026-11-20T02:00:00Z", "v": 2,
    }  # fmt: skip
    assert record_from_json(v2).to_json() == v2
    v3 = v2 | {"v": 3, "replica": "host-a/4242"}
    record = record_from_json(v3)
    assert (record.v, record.to_json(), record.canonical()) == (
        3,
        v3,
        canonical_json(v3),
    )
    assert record.canonical().endswith(b'"replica":"host-a/4242","request":{"request_id":"r1"},'
                                       b'"response":{"quote_id":"q_1"},"seq":7,'
                                       b'"time":"2026-11-20T02:00:00Z","v":3}')  # fmt: skip
    with pytest.raises(RecordShapeError, match="replica must be a string"):
        record_from_json(v3 | {"replica": 5})
    with pytest.raises(RecordShapeError):
        record_from_json(v2 | {"replica": "host-a/4242"})  # v2 has no replica key
    with pytest.raises(RecordShapeError):
        record_from_json({k: v for k, v in v3.items() if k != "replica"})
