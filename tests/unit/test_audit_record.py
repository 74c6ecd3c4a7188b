"""Canonical record bytes: same event, same bytes; floats and non-JSON values refused."""

from __future__ import annotations

import enum
import json
from concurrent.futures import Future
from types import MappingProxyType
from typing import Any

import pytest

from pricing_service.audit.errors import RecordEncodingError
from pricing_service.audit.record import canonical_json, quote_id_of, record_seq
from pricing_service.audit.sink import AuditPosition
from pricing_service.audit.structlog_sink import make_audit_logger


class _Capture:
    """A structlog "logger" that keeps the rendered record and returns a Future."""

    def __init__(self) -> None:
        self.rendered: list[bytes] = []

    def audit(self, rendered: bytes) -> Future[AuditPosition]:
        self.rendered.append(rendered)
        future: Future[AuditPosition] = Future()
        future.set_result(AuditPosition("o", len(self.rendered) - 1, ""))
        return future


def _render(seq: int = 7, **fields: Any) -> bytes:
    capture = _Capture()
    logger = make_audit_logger(capture, origin="o/1", code_version="0.1.0", next_seq=lambda: seq)
    base: dict[str, Any] = {
        "request": {"b": 1, "a": "甲"},
        "response": {"quote_id": "q_1", "annual_rate": "1.85"},
        "error": None,
        "caller": "bank",
        "peer": "ipv4:127.0.0.1:40280",
        "policies": None,
        "policy_digest": None,
        "time": "2026-01-05T01:00:00Z",
    }
    base.update(fields)
    future = logger.audit("quote", **base)
    assert future.result().sequence == 0
    return capture.rendered[0]


def test_canonical_json_sorts_keys_compact_utf8_without_ascii_escapes() -> None:
    assert canonical_json({"b": [1, True, None], "a": "绿碳融"}) == (
        '{"a":"绿碳融","b":[1,true,null]}'.encode()
    )


def test_canonical_json_is_independent_of_insertion_order_and_mapping_type() -> None:
    one = canonical_json({"x": {"k": "v", "j": 2}, "a": (1, 2)})
    two = canonical_json(MappingProxyType({"a": [1, 2], "x": {"j": 2, "k": "v"}}))
    assert one == two == b'{"a":[1,2],"x":{"j":2,"k":"v"}}'


def test_canonical_json_refuses_a_float_and_names_where_it_is() -> None:
    with pytest.raises(RecordEncodingError, match=r"binary float 1\.85 .* at \$\.response\.rate"):
        canonical_json({"response": {"rate": 1.85}})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: "x"}, "non-string key 1"),
        ({"a": b"x"}, "bytes is not a JSON value"),
        ({"a": [float("nan")]}, "binary float nan"),
        ({"a": "\udc80"}, "not valid Unicode"),
    ],
)
def test_canonical_json_refuses_non_json_values(value: object, message: str) -> None:
    with pytest.raises(RecordEncodingError, match=message):
        canonical_json(value)


def test_canonical_json_renders_int_and_str_enums_as_plain_values() -> None:
    class Grade(enum.IntEnum):
        ONE = 1

    class Kind(enum.StrEnum):
        QUOTE = "quote"

    assert canonical_json({"g": Grade.ONE, "k": Kind.QUOTE}) == b'{"g":1,"k":"quote"}'


def test_record_through_the_structlog_chain_has_exact_canonical_bytes() -> None:
    assert (
        _render()
        == (
            '{"caller":"bank","code_version":"0.1.0","error":null,"kind":"quote",'
            '"origin":"o/1","peer":"ipv4:127.0.0.1:40280","policies":null,'
            '"policy_digest":null,"request":{"a":"甲","b":1},'
            '"response":{"annual_rate":"1.85","quote_id":"q_1"},"seq":7,'
            '"time":"2026-01-05T01:00:00Z","v":2}'
        ).encode()
    )


def test_same_event_renders_to_the_same_bytes() -> None:
    assert _render() == _render()


def test_record_with_a_float_is_refused_by_the_chain() -> None:
    with pytest.raises(RecordEncodingError, match="binary float"):
        _render(request={"principal": 1e6})


def test_caller_cannot_set_log_owned_fields() -> None:
    with pytest.raises(RecordEncodingError, match="'origin' is set by the log"):
        _render(origin="somewhere-else")


def test_quote_record_needs_a_quote_id_and_refusal_needs_an_error() -> None:
    with pytest.raises(RecordEncodingError, match=r"needs response\.quote_id"):
        _render(response={"annual_rate": "1.85"})
    capture = _Capture()
    logger = make_audit_logger(capture, origin="o", code_version="1", next_seq=lambda: 0)
    with pytest.raises(RecordEncodingError, match="refusal record needs an error"):
        logger.audit(
            "refusal",
            request={},
            response=None,
            error=None,
            caller="c",
            peer="",
            policies=None,
            policy_digest=None,
            time="t",
        )
    with pytest.raises(RecordEncodingError, match="kind must be one of"):
        logger.audit(
            "quoted",
            request={},
            response=None,
            error=None,
            caller="c",
            peer="",
            policies=None,
            policy_digest=None,
            time="t",
        )


def test_record_seq_and_quote_id_are_read_without_parsing() -> None:
    raw = _render(seq=12345, request={"seq": 1, "note": ',"seq":9,'})
    assert json.loads(raw)["seq"] == 12345
    assert record_seq(raw) == 12345
    assert quote_id_of(raw) == "q_1"
    assert record_seq(b'{"seq":01,"v":1}') is None
    assert record_seq(b"garbage") is None


def test_quote_id_of_is_none_for_refusals_and_decodes_escapes() -> None:
    refusal = canonical_json(
        {"caller": "c", "kind": "refusal", "response": None, "error": {}, "seq": 1, "v": 1}
    )
    assert quote_id_of(refusal) is None
    escaped = canonical_json(
        {"caller": "c", "kind": "quote", "response": {"quote_id": 'q_"1"\\'}, "seq": 1, "v": 1}
    )
    assert quote_id_of(escaped) == 'q_"1"\\'
