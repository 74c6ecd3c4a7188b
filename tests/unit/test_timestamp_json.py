"""`pb_json.timestamp_from_json` equals protobuf's own FromJsonString on every string
ToJsonString writes (whole seconds, 0/3/6/9 fraction digits, "Z"), and hands any other
form to FromJsonString itself."""

from __future__ import annotations

import re

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from pricing_service.api.pb_json import timestamp_from_json

MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31


def _reference(text: str) -> Timestamp:
    ts = Timestamp()
    ts.FromJsonString(text)
    return ts


@given(
    st.integers(MIN_SECONDS, MAX_SECONDS),
    st.sampled_from([0, 1, 999, 1_000, 123_456, 1_000_000, 999_999_999, 500_000_000]),
)
def test_equals_from_json_string_on_what_to_json_string_writes(seconds: int, nanos: int) -> None:
    text = Timestamp(seconds=seconds, nanos=nanos).ToJsonString()
    assert timestamp_from_json(text) == _reference(text)


@given(st.integers(MIN_SECONDS, MAX_SECONDS), st.integers(0, 999_999_999))
def test_any_nanos(seconds: int, nanos: int) -> None:
    text = Timestamp(seconds=seconds, nanos=nanos).ToJsonString()
    assert timestamp_from_json(text) == _reference(text)


@pytest.mark.parametrize(
    "text",
    ["2026-11-20T10:00:00+08:00", "2026-11-20T02:00:00.5Z", "2026-11-20T02:00:00.1234Z"],
)
def test_other_forms_are_protobufs_own_reading(text: str) -> None:
    assert timestamp_from_json(text) == _reference(text)


@pytest.mark.parametrize("text", ["2026-02-30T00:00:00Z", "2026-11-20T25:00:00Z", "nope"])
def test_bad_text_fails_as_protobuf_fails(text: str) -> None:
    try:
        _reference(text)
    except ValueError as exc:
        expected = str(exc)
    else:  # pragma: no cover - the parametrized texts are all bad
        pytest.fail(f"protobuf accepted {text!r}")
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        timestamp_from_json(text)


def test_a_known_instant() -> None:
    ts = timestamp_from_json("2026-11-20T02:00:00.123456789Z")
    assert (ts.seconds, ts.nanos) == (1_795_140_000, 123_456_789)  # calendar.timegm
