"""The audit record: its fields and its canonical bytes.

A record is one JSON object per line. Its canonical bytes (sorted keys, compact
separators, UTF-8 with ``ensure_ascii=False``, no binary floats) without the newline are
the RFC 6962 leaf data, so the same event always yields the same bytes and leaf hash.

Record schema, version 2 (keys in their canonical, sorted order)::

    caller         str        who asked: the authenticated identity only (certificate name,
                              token identity, "anonymous"), or "signal:SIGHUP"
    code_version   str        version of the service that wrote the record
    error          obj|null   refusal, denial: {"code", "message", "reason", ...}
    kind           str        "quote" | "refusal" | "denial" | "policy_switch"
    origin         str        the log origin (one per replica), as in its checkpoints
    peer           str        the transport peer (e.g. "ipv4:127.0.0.1:40280"); "" when
                              the event came from no connection (a signal, in-process)
    policies       obj|null   policy_switch: {"new": IN_FORCE, "old": IN_FORCE}, where
                              IN_FORCE is {"digest", "version"} of the version in force at
                              `time`, or null when that set had none in force then
    policy_digest  str|null   hex SHA-256 of the canonical policy that priced the request
                              (quote, refusal); null for denial and policy_switch
    request        obj|null   CreateQuoteRequest, protobuf JSON with proto field names;
                              null only for policy_switch
    response       obj|null   quotes: the Quote, protobuf JSON with proto field names
    seq            int        leaf index in the log's Merkle tree, from 0, no gaps
    time           str        RFC 3339 UTC instant the request (or the switch) happened
    v              int        record format version, 2 (or 3, below)

Version 3 is version 2 and one key more, ``replica`` (str): which replica wrote the
record, where several write one log (the PostgreSQL store's replicas share one origin).
A file log is one replica's, named by its origin, so it writes version 2 unless the
operator names a replica (`replica_id`), and its bytes stay what they were.

A denial is a CreateQuote refused by the permission table (PERMISSION_DENIED) before
any pricing: the request as received, the error, who and from where; nothing priced it,
so it has no response and no policy digest, and replay counts it without re-pricing.

Why a version 2 rather than two more keys in version 1: a record's version names its
exact key set, and readers refuse any other (a v1 reader meeting ``peer`` would call the
line malformed, where ``v=2`` tells it plainly that it is too old). Version 1 (the keys
above without ``peer`` and ``policies``; kinds "quote" and "refusal"; ``caller`` then
held "identity@peer" in one string) is still read, and renders back to its exact bytes,
so logs written before stay verifiable and replayable; new records are always v2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal, cast

import orjson

from pricing_service.audit.errors import RecordEncodingError

__all__ = [
    "KINDS",
    "KINDS_V1",
    "PRICED_KINDS",
    "RECORD_KEYS",
    "RECORD_KEYS_V1",
    "RECORD_KEYS_V3",
    "RECORD_VERSION",
    "RECORD_VERSION_REPLICA",
    "AuditRecord",
    "RecordShapeError",
    "RecordV1",
    "RecordV2",
    "canonical_json",
    "quote_id_of",
    "record_from_json",
    "record_seq",
]

RECORD_VERSION: Final = 2
"""The version new records are written as, when they name no replica (else 3)."""
RECORD_VERSION_REPLICA: Final = 3
"""The version of records that name the replica that wrote them."""
KINDS_V1: Final = frozenset({"quote", "refusal"})
KINDS: Final = frozenset({"quote", "refusal", "denial", "policy_switch"})
PRICED_KINDS: Final = frozenset({"quote", "refusal"})
"""The kinds a policy judged: replay re-prices these; the others it counts and skips."""
RECORD_KEYS_V1: Final = frozenset(
    {
        "caller",
        "code_version",
        "error",
        "kind",
        "origin",
        "policy_digest",
        "request",
        "response",
        "seq",
        "time",
        "v",
    }
)
RECORD_KEYS: Final = RECORD_KEYS_V1 | {"peer", "policies"}
RECORD_KEYS_V3: Final = RECORD_KEYS | {"replica"}

_JSONValue = dict[str, Any] | list[Any] | str | int | bool | None
# One encoder for all records: json.dumps would build a new one per call.
_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)


def _plain(value: object, path: str) -> _JSONValue:
    """A copy of `value` made of dict/list/str/int/bool/None only, or RecordEncodingError.

    Floats are refused rather than rendered: a binary float has no canonical decimal
    form across languages, and rates must never pass through one (DESIGN §3).
    """
    # Exact types first: they are the overwhelmingly common case and the cheapest test;
    # subclasses (IntEnum, Mappings that are not dicts) take the slower paths below.
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return cast("_JSONValue", value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise RecordEncodingError(f"non-string key {key!r}", path=path)
            out[key] = _plain(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, float):
        raise RecordEncodingError(
            f"binary float {value!r} is not allowed in an audit record (use a decimal string)",
            path=path,
        )
    # int/str subclasses (IntEnum, StrEnum) render as their plain value, never as a name.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str.__str__(value)
    raise RecordEncodingError(f"{t.__name__} is not a JSON value", path=path)


def _is_plain(value: object) -> bool:
    """Whether `value` is already only dicts (str keys), lists, str, int, bool and None.

    The common case, checked without copying or building paths; leaves are tested inline
    because a function call per leaf would cost more than the check itself.
    """
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return True
    if t is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                return False
            ti = type(item)
            if not (ti is str or ti is int or ti is bool or item is None or _is_plain(item)):
                return False
        return True
    if t is list:
        for item in value:  # type: ignore[attr-defined]
            ti = type(item)
            if not (ti is str or ti is int or ti is bool or item is None or _is_plain(item)):
                return False
        return True
    return False


def canonical_json(value: object) -> bytes:
    """Canonical bytes of a JSON value: sorted keys, compact, UTF-8, no floats, no newline.

    Raises RecordEncodingError for floats, non-string keys, non-JSON types and strings
    that are not valid Unicode (lone surrogates).
    """
    # Only values that are not plain already (Mappings, tuples, enums, or a float
    # somewhere) take the copying walk, which also names the offending path.
    plain = value if _is_plain(value) else _plain(value, "$")
    try:
        # orjson writes exactly the stdlib encoder's bytes for plain values (escapes,
        # UTF-8, key order by code point: tests/unit/test_canonical_bytes.py), ~8x faster.
        return orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        pass  # what orjson cannot write (ints past 64 bits, lone surrogates): as before
    text = _ENCODER.encode(plain)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecordEncodingError(f"string is not valid Unicode ({exc.reason})") from exc


_SEQ_KEY: Final = b',"seq":'
_KIND_QUOTE: Final = b',"kind":"quote",'
_RESPONSE_KEY: Final = b',"response":{'
_QUOTE_ID_KEY: Final = b'"quote_id":"'


def record_seq(raw: bytes) -> int | None:
    """The top-level ``seq`` of a canonical record line, without parsing the JSON.

    In canonical form ``seq`` is followed only by ``time`` (a string, which cannot hold an
    unescaped quote) and ``v``, so the *last* ``,"seq":`` is the top-level key even if a
    nested object had one. Returns None when the line has no readable seq. Only valid for
    canonical records; a tampered line may read wrong, which the Merkle check catches.
    """
    i = raw.rfind(_SEQ_KEY)
    if i < 0:
        return None
    start = i + len(_SEQ_KEY)
    end = raw.find(b",", start)
    digits = raw[start:end] if end >= 0 else b""
    if not digits.isdigit() or (len(digits) > 1 and digits[0] == 0x30):
        return None
    return int(digits)


def quote_id_of(raw: bytes) -> str | None:
    """The ``response.quote_id`` of a canonical quote record, or None for a refusal.

    A byte scan rather than a JSON parse, so that rebuilding the quote index at start
    costs about as much as reading the log. Sound for canonical records: an unescaped
    ``"`` cannot occur inside a JSON string, ``kind`` and ``response`` are top-level keys
    whose siblings before them hold no such key, and ``response`` is the last object
    member of the record. Callers that hand out a proof re-check the parsed record.
    """
    if raw.find(_KIND_QUOTE) < 0:
        return None
    r = raw.rfind(_RESPONSE_KEY)
    if r < 0:
        return None
    q = raw.find(_QUOTE_ID_KEY, r)
    if q < 0:
        return None
    start = q + len(_QUOTE_ID_KEY)
    end = raw.find(b'"', start)
    if end < 0:
        return None
    value = raw[start:end]
    if b"\\" in value:
        # An escaped character: let the JSON parser decode it exactly.
        response = json.loads(raw).get("response") or {}
        quote_id = response.get("quote_id")
        return quote_id if isinstance(quote_id, str) else None
    return value.decode("utf-8", errors="strict")


class RecordShapeError(ValueError):
    """A parsed JSON object is not a record of the version it claims (or of none known)."""

    def __init__(self, message: str, *, path: str = "$") -> None:
        super().__init__(message)
        self.path = path


def _check_keys(data: Mapping[str, Any], expected: frozenset[str]) -> None:
    keys = set(data)
    if keys != expected:
        missing = sorted(expected - keys)
        extra = sorted(keys - expected)
        raise RecordShapeError(f"record fields wrong (missing {missing}, unexpected {extra})")


def _check_common(data: Mapping[str, Any], kinds: frozenset[str], strings: tuple[str, ...]) -> None:
    """The checks every version makes: kind, seq, the string fields, the value types."""
    kind = data["kind"]
    if kind not in kinds:
        raise RecordShapeError(f"kind must be one of {sorted(kinds)}, got {kind!r}")
    seq = data["seq"]
    if type(seq) is not int or seq < 0:
        raise RecordShapeError(f"seq must be a non-negative integer, got {seq!r}")
    for key in strings:
        if not isinstance(data[key], str):
            raise RecordShapeError(f"{key} must be a string, got {data[key]!r}")
    digest = data["policy_digest"]
    if digest is not None and not isinstance(digest, str):
        raise RecordShapeError(f"policy_digest must be a string or null, got {digest!r}")
    for key in ("request", "response", "error"):
        if data[key] is not None and not isinstance(data[key], Mapping):
            raise RecordShapeError(f"{key} must be an object or null")


def _check_quote(data: Mapping[str, Any]) -> None:
    response = data["response"]
    quote_id = response.get("quote_id") if response is not None else None
    if not isinstance(quote_id, str) or not quote_id:
        raise RecordShapeError("a quote record needs response.quote_id", path="$.response")


def _quote_id(response: Mapping[str, Any] | None) -> str:
    if response is None:
        return ""
    quote_id = response.get("quote_id")
    return quote_id if isinstance(quote_id, str) else ""


@dataclass(frozen=True, slots=True)
class RecordV1:
    """An audit record of format version 1 (read only: the keys of version 2 without
    ``peer`` and ``policies``, kinds "quote" and "refusal"; see the module docstring).

    `request`, `response` and `error` stay the JSON objects they were recorded as: the
    record's bytes are canonical JSON of exactly these values, so `to_json` renders the
    same bytes back (`canonical` of a record read from a log equals the line).
    """

    v: ClassVar[Literal[1]] = 1
    seq: int
    kind: Literal["quote", "refusal"]
    time: str
    origin: str
    caller: str
    code_version: str
    policy_digest: str | None
    request: Mapping[str, Any]
    response: Mapping[str, Any] | None
    error: Mapping[str, Any] | None

    @property
    def quote_id(self) -> str:
        """The quote's id; "" for a refusal."""
        return _quote_id(self.response)

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object it is written as."""
        return {
            "caller": self.caller,
            "code_version": self.code_version,
            "error": self.error,
            "kind": self.kind,
            "origin": self.origin,
            "policy_digest": self.policy_digest,
            "request": self.request,
            "response": self.response,
            "seq": self.seq,
            "time": self.time,
            "v": self.v,
        }

    def canonical(self) -> bytes:
        """The record's canonical bytes: its line in the log and its Merkle leaf data."""
        return canonical_json(self.to_json())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordV1:
        """A version-1 record from its JSON object; RecordShapeError names what is wrong."""
        _check_keys(data, RECORD_KEYS_V1)
        _check_common(data, KINDS_V1, ("time", "origin", "caller", "code_version"))
        if data["request"] is None:
            raise RecordShapeError("request must be an object")
        if data["kind"] == "quote":
            _check_quote(data)
        elif data["error"] is None:
            raise RecordShapeError("a refusal record needs an error", path="$.error")
        return cls(
            seq=data["seq"],
            kind=data["kind"],
            time=data["time"],
            origin=data["origin"],
            caller=data["caller"],
            code_version=data["code_version"],
            policy_digest=data["policy_digest"],
            request=data["request"],
            response=data["response"],
            error=data["error"],
        )


def _must_be_null(data: Mapping[str, Any], kind: str, keys: tuple[str, ...]) -> None:
    for key in keys:
        if data[key] is not None:
            raise RecordShapeError(f"a {kind} record has no {key}", path=f"$.{key}")


def _check_in_force(value: object, path: str) -> None:
    """`value` is null or {"digest": str, "version": str}: one side of a switch."""
    if value is None:
        return
    if not isinstance(value, Mapping) or set(value) != {"digest", "version"}:
        raise RecordShapeError("must be null or an object of digest and version", path=path)
    if not all(isinstance(value[k], str) for k in ("digest", "version")):
        raise RecordShapeError("digest and version must be strings", path=path)


def _check_v2_kind(data: Mapping[str, Any]) -> None:
    """What each kind of version 2 must and must not carry."""
    kind = data["kind"]
    if kind == "policy_switch":
        _must_be_null(data, kind, ("request", "response", "error", "policy_digest"))
        policies = data["policies"]
        if not isinstance(policies, Mapping) or set(policies) != {"new", "old"}:
            raise RecordShapeError(
                "a policy_switch record needs policies {new, old}", path="$.policies"
            )
        _check_in_force(policies["old"], "$.policies.old")
        _check_in_force(policies["new"], "$.policies.new")
        return
    _must_be_null(data, kind, ("policies",))
    if data["request"] is None:
        raise RecordShapeError(f"a {kind} record needs a request", path="$.request")
    if kind == "quote":
        _check_quote(data)
        return
    if data["error"] is None:
        raise RecordShapeError(f"a {kind} record needs an error", path="$.error")
    _must_be_null(data, kind, ("response",))
    if kind == "denial":
        _must_be_null(data, kind, ("policy_digest",))


@dataclass(frozen=True, slots=True)
class RecordV2:
    """An audit record of format version 2, or 3 when it names its `replica` (the module
    docstring): one shape, one more key."""

    seq: int
    kind: Literal["quote", "refusal", "denial", "policy_switch"]
    time: str
    origin: str
    caller: str
    peer: str
    code_version: str
    policy_digest: str | None
    request: Mapping[str, Any] | None
    response: Mapping[str, Any] | None
    error: Mapping[str, Any] | None
    policies: Mapping[str, Any] | None
    replica: str | None = None

    @property
    def v(self) -> int:
        """The record's format version: 3 if it names a replica, else 2."""
        return RECORD_VERSION if self.replica is None else RECORD_VERSION_REPLICA

    @property
    def quote_id(self) -> str:
        """The quote's id; "" for every other kind."""
        return _quote_id(self.response)

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object it is written as."""
        return {
            "caller": self.caller,
            "code_version": self.code_version,
            "error": self.error,
            "kind": self.kind,
            "origin": self.origin,
            "peer": self.peer,
            "policies": self.policies,
            "policy_digest": self.policy_digest,
            "request": self.request,
            "response": self.response,
            "seq": self.seq,
            "time": self.time,
            "v": self.v,
        } | ({} if self.replica is None else {"replica": self.replica})

    def canonical(self) -> bytes:
        """The record's canonical bytes: its line in the log and its Merkle leaf data."""
        return canonical_json(self.to_json())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordV2:
        """A version-2 or -3 record from its JSON object; RecordShapeError names what is
        wrong."""
        v3 = data.get("v") == RECORD_VERSION_REPLICA
        _check_keys(data, RECORD_KEYS_V3 if v3 else RECORD_KEYS)
        strings = ("time", "origin", "caller", "peer", "code_version")
        _check_common(data, KINDS, (*strings, "replica") if v3 else strings)
        if data["policies"] is not None and not isinstance(data["policies"], Mapping):
            raise RecordShapeError("policies must be an object or null")
        _check_v2_kind(data)
        return cls(
            seq=data["seq"],
            kind=data["kind"],
            time=data["time"],
            origin=data["origin"],
            caller=data["caller"],
            peer=data["peer"],
            code_version=data["code_version"],
            policy_digest=data["policy_digest"],
            request=data["request"],
            response=data["response"],
            error=data["error"],
            policies=data["policies"],
            replica=data["replica"] if v3 else None,
        )


AuditRecord = RecordV1 | RecordV2
"""Every record version this code reads."""

_BY_VERSION: Final[dict[int, Any]] = {
    1: RecordV1.from_json,
    2: RecordV2.from_json,
    3: RecordV2.from_json,
}


def record_from_json(data: object) -> AuditRecord:
    """The typed record of a parsed JSON value, dispatched on its ``v``.

    Raises RecordShapeError for a value that is not an object, an unknown ``v`` (the
    message names the versions known) and a record not of its version's shape.
    """
    if not isinstance(data, dict):
        raise RecordShapeError("not a JSON object")
    v = data.get("v")
    decoder = _BY_VERSION.get(v) if type(v) is int else None
    if decoder is None:
        raise RecordShapeError(
            f"unknown record version v={v!r} (this reader knows {sorted(_BY_VERSION)})"
        )
    record: AuditRecord = decoder(data)
    return record
