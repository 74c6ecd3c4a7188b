"""The audit record's canonical bytes (and the request document's, which the quote id
hashes) are written by orjson, and must stay exactly what the stdlib encoder wrote:
every logged leaf hash and quote id depends on them. Checked on every Unicode code point,
on drawn JSON values, and at the edges where orjson gives up (ints past 64 bits, lone
surrogates), where the stdlib path answers as before."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing_service.audit.errors import RecordEncodingError
from pricing_service.audit.record import canonical_json
from pricing_service.quoting.documents import dumps_canonical

STDLIB = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _stdlib(value: Any) -> bytes:
    return STDLIB.encode(value).encode("utf-8")


def _blocks(size: int = 2048) -> list[str]:
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    return ["".join(chars[i : i + size]) for i in range(0, len(chars), size)]


def test_every_code_point_as_key_and_value() -> None:
    blocks = _blocks()
    assert sum(map(len, blocks)) == 0x110000 - 0x800
    for block in blocks:
        value = {block: block, "k": [block[::-1], {block[:7]: block[-7:]}]}
        assert canonical_json(value) == _stdlib(value)
        assert dumps_canonical(value) == _stdlib(value)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=["Cs"]), max_size=5), inner, max_size=4
        )
    ),
    max_leaves=24,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=6), JSON, max_size=6))
def test_drawn_values_give_the_stdlib_bytes(value: dict[str, Any]) -> None:
    assert canonical_json(value) == _stdlib(value)
    assert dumps_canonical(value) == _stdlib(value)


def test_integers_past_64_bits_are_written_as_before() -> None:
    value = {"big": 2**64, "small": -(2**63) - 1, "ok": 2**64 - 1}
    assert (
        canonical_json(value)
        == b'{"big":18446744073709551616,"ok":18446744073709551615,"small":-9223372036854775809}'
    )
    assert dumps_canonical(value) == _stdlib(value)


def test_lone_surrogates_are_refused_as_before() -> None:
    with pytest.raises(RecordEncodingError, match="not valid Unicode"):
        canonical_json({"s": "\ud800"})


def test_key_order_is_by_code_point() -> None:
    value = {"\U0001f600": 1, "\uffff": 2, "é": 3, "z": 4, "Z": 5, "": 6}
    assert canonical_json(value) == _stdlib(value)
    assert list(json.loads(canonical_json(value))) == ["", "Z", "z", "é", "\uffff", "\U0001f600"]
