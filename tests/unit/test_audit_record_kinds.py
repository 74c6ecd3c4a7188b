"""Record format v2: the exact bytes of each kind, the shape each kind must have, and v1
records (caller "identity@peer", no peer field) still read back to their exact bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from audit_support import ORIGIN, config, segment_lines

from pricing_service.audit.keys import load_verifier
from pricing_service.audit.reader import iter_records
from pricing_service.audit.record import (
    RecordShapeError,
    RecordV1,
    RecordV2,
    quote_id_of,
    record_from_json,
    record_seq,
)
from pricing_service.audit.sink import AuditEvent
from pricing_service.audit.synthetic import (
    synthetic_denial,
    synthetic_event,
    synthetic_policy_switch,
)
from pricing_service.audit.verify import verify_log
from pricing_service.audit.writer import DurableAuditLog

OLD = "0" * 64
NEW = "f" * 64
REQUEST = {"product_id": "standard", "request_id": "r-1", "principal_fen": "100"}
DENIAL = AuditEvent(
    kind="denial",
    request=REQUEST,
    response=None,
    error={
        "code": "PERMISSION_DENIED",
        "message": "caller 'teller' may not call CreateQuote of 'standard'",
        "reason": "PERMISSION_DENIED",
    },
    caller="teller",
    policy_digest=None,
    time="2026-11-20T02:00:00Z",
    peer="ipv4:127.0.0.1:40280",
)
SWITCH = AuditEvent(
    kind="policy_switch",
    request=None,
    response=None,
    error=None,
    caller="signal:SIGHUP",
    policy_digest=None,
    time="2026-11-20T02:00:01Z",
    policies={
        "old": {"digest": OLD, "version": "2026.1"},
        "new": {"digest": NEW, "version": "2026.2"},
    },
)
DENIAL_BYTES = (
    '{"caller":"teller","code_version":"0.1.0","error":{"code":"PERMISSION_DENIED",'
    "\"message\":\"caller 'teller' may not call CreateQuote of 'standard'\","
    '"reason":"PERMISSION_DENIED"},"kind":"denial",'
    f'"origin":"{ORIGIN}","peer":"ipv4:127.0.0.1:40280","policies":null,"policy_digest":null,'
    '"request":{"principal_fen":"100","product_id":"standard","request_id":"r-1"},'
    '"response":null,"seq":0,"time":"2026-11-20T02:00:00Z","v":2}'
).encode()
SWITCH_BYTES = (
    '{"caller":"signal:SIGHUP","code_version":"0.1.0","error":null,"kind":"policy_switch",'
    f'"origin":"{ORIGIN}","peer":"","policies":{{"new":{{"digest":"{NEW}","version":"2026.2"}},'
    f'"old":{{"digest":"{OLD}","version":"2026.1"}}}},"policy_digest":null,"request":null,'
    '"response":null,"seq":1,"time":"2026-11-20T02:00:01Z","v":2}'
).encode()


@pytest.fixture
def written(tmp_path: Path) -> list[bytes]:
    with DurableAuditLog(config(tmp_path)) as log:
        log.submit(DENIAL).result(timeout=5)
        log.submit(SWITCH).result(timeout=5)
    return [raw for _, _, raw in segment_lines(tmp_path)]


def test_a_denial_and_a_policy_switch_are_these_exact_bytes(written: list[bytes]) -> None:
    assert written == [DENIAL_BYTES, SWITCH_BYTES]


def test_new_kinds_read_back_typed_and_render_to_their_exact_bytes(written: list[bytes]) -> None:
    denial, switch = (record_from_json(json.loads(raw)) for raw in written)
    assert type(denial) is RecordV2
    assert type(switch) is RecordV2
    assert (denial.kind, denial.caller, denial.peer, denial.quote_id) == (
        "denial",
        "teller",
        "ipv4:127.0.0.1:40280",
        "",
    )
    assert switch.policies == {
        "old": {"digest": OLD, "version": "2026.1"},
        "new": {"digest": NEW, "version": "2026.2"},
    }
    assert [denial.canonical(), switch.canonical()] == written
    # The byte scans the writer and verify rely on still hold for the new keys.
    assert [record_seq(raw) for raw in written] == [0, 1]
    assert [quote_id_of(raw) for raw in written] == [None, None]


def test_a_v1_record_with_identity_at_peer_reads_back_to_its_exact_bytes() -> None:
    line = (
        b'{"caller":"svc@ipv4:127.0.0.1:40280","code_version":"0.1.0","error":null,'
        b'"kind":"quote","origin":"o","policy_digest":"ab","request":{"request_id":"r"},'
        b'"response":{"quote_id":"q_1"},"seq":3,"time":"2026-11-20T02:00:00Z","v":1}'
    )
    record = record_from_json(json.loads(line))
    assert type(record) is RecordV1
    assert (record.caller, record.quote_id, record.canonical()) == (
        "svc@ipv4:127.0.0.1:40280",
        "q_1",
        line,
    )


def _v2(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DENIAL_BYTES)
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"policy_digest": "ab"}, "a denial record has no policy_digest"),
        ({"response": {"quote_id": "q_1"}}, "a denial record has no response"),
        ({"error": None}, "a denial record needs an error"),
        ({"request": None}, "a denial record needs a request"),
        ({"peer": None}, "peer must be a string, got None"),
        ({"policies": {"old": None, "new": None}}, "a denial record has no policies"),
        ({"kind": "policy_switch"}, "a policy_switch record has no request"),
        (
            {"kind": "policy_switch", "request": None, "error": None, "policies": None},
            r"a policy_switch record needs policies \{new, old\}",
        ),
        (
            {
                "kind": "policy_switch",
                "request": None,
                "error": None,
                "policies": {"old": {"digest": OLD}, "new": None},
            },
            "must be null or an object of digest and version",
        ),
        ({"kind": "refusal", "response": {"quote_id": "q"}}, "a refusal record has no response"),
    ],
)
def test_each_kind_has_its_shape(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordShapeError, match=message):
        record_from_json(_v2(**changes))


def test_a_v1_record_cannot_be_a_new_kind() -> None:
    data = json.loads(DENIAL_BYTES)
    del data["peer"], data["policies"]
    data["v"] = 1
    with pytest.raises(RecordShapeError, match=r"kind must be one of \['quote', 'refusal'\]"):
        record_from_json(data)


def test_verify_counts_every_kind_of_a_log_holding_all_of_them(tmp_path: Path) -> None:
    with DurableAuditLog(config(tmp_path)) as log:
        for event in (
            synthetic_event(0),
            synthetic_event(19),  # every 20th is a refusal
            synthetic_denial(1),
            synthetic_policy_switch(2),
            synthetic_event(3),
        ):
            log.submit(event).result(timeout=5)
    verifier = load_verifier(tmp_path / "audit.vkey")
    report = verify_log(tmp_path, verifier, full=True)
    assert (report.ok, report.records, report.problems()) == (True, 5, [])
    assert report.kinds == {"quote": 2, "refusal": 1, "denial": 1, "policy_switch": 1}
    assert report.to_json()["kinds"] == {
        "denial": 1,
        "policy_switch": 1,
        "quote": 2,
        "refusal": 1,
    }
    assert [r.record.kind for r in iter_records(tmp_path)] == [
        "quote",
        "refusal",
        "denial",
        "policy_switch",
        "quote",
    ]
