"""The protobuf JSON mapping of the API's request messages, planned once per message type.

`json_format.MessageToDict` walks every field through Python dispatch on each call: ~20 µs
for a CreateQuoteRequest, on every binding quote (the request document is what the audit
log records and the quote id hashes). The requests are flat: scalars, enums, a
Timestamp and singular sub-messages of the same kinds. For such a type a plan is made
once from its descriptor (field by field, how protobuf's mapping writes the value), and
`ListFields()` (upb, in C) yields only the fields protobuf itself would print.

Only types whose every field the plan covers take this path; any other message (a
repeated or map field, a float, bytes, another well-known type) goes to
`MessageToDict` itself. tests/unit/test_pb_json.py holds the two equal on drawn
requests, unknown enum numbers and extreme integers included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

__all__ = ["dict_to_message", "message_to_dict", "timestamp_from_json"]

M = TypeVar("M", bound=Message)
K = TypeVar("K")
V = TypeVar("V")

Writer = Callable[[Any], Any]
# Per field descriptor (as ListFields yields it): the JSON key, and the writer of its value
# (None: written as it is, the common case, without a call).
Plan = dict[FieldDescriptor, tuple[str, Writer | None]]

_TIMESTAMP: Final = "google.protobuf.Timestamp"
_EPOCH: Final = datetime(1970, 1, 1)  # naive, as protobuf's own formatter uses it
_SECONDS_MIN: Final = -62135596800  # 0001-01-01T00:00:00Z
_SECONDS_MAX: Final = 253402300799  # 9999-12-31T23:59:59Z
_NANOS: Final = 1_000_000_000
# int64 kinds travel as decimal strings in the mapping; int32 kinds and bools as they are.
_AS_STRING: Final = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_AS_IS: Final = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_BOOL,
        FieldDescriptor.TYPE_STRING,
    }
)

_plans: dict[str, Plan | None] = {}


def message_to_dict(message: Message) -> dict[str, Any]:
    """`json_format.MessageToDict(message, preserving_proto_field_name=True)`, faster."""
    plan = _plan(message.DESCRIPTOR)  # type: ignore[arg-type]
    if plan is not None:
        try:
            return _write(message, plan)
        except ValueError:
            pass  # an invalid Timestamp: json_format raises its own error for it
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _write(message: Message, plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fd, value in message.ListFields():
        key, writer = plan[fd]
        out[key] = value if writer is None else writer(value)
    return out


def _plan(descriptor: Descriptor) -> Plan | None:
    """Per field, how the mapping writes its value; None if any field is beyond the plan."""
    return _planned(_plans, descriptor, _write_entry)


def _write_entry(fd: FieldDescriptor) -> tuple[FieldDescriptor, tuple[str, Writer | None]] | None:
    if fd.is_repeated or fd.is_extension:
        return None
    if fd.type in _AS_IS:
        return fd, (fd.name, None)
    writer = _writer(fd)
    return None if writer is None else (fd, (fd.name, writer))


def _planned(
    plans: dict[str, dict[K, V] | None],
    descriptor: Descriptor,
    entry: Callable[[FieldDescriptor], tuple[K, V] | None],
) -> dict[K, V] | None:
    """A message type's plan, made once: per field what `entry` makes of it; None when the
    type (a Timestamp, a map entry) or any of its fields is beyond the plan."""
    name = descriptor.full_name
    if name not in plans:
        plans[name] = None  # a recursive type is beyond the plan
        plans[name] = _make_plan(descriptor, entry)
    return plans[name]


def _make_plan(
    descriptor: Descriptor, entry: Callable[[FieldDescriptor], tuple[K, V] | None]
) -> dict[K, V] | None:
    if descriptor.full_name == _TIMESTAMP or descriptor.GetOptions().map_entry:
        return None
    plan: dict[K, V] = {}
    for fd in descriptor.fields:
        made = entry(fd)
        if made is None:
            return None
        plan[made[0]] = made[1]
    return plan


def _writer(fd: FieldDescriptor) -> Writer | None:
    if fd.type in _AS_STRING:
        return str
    if fd.type == FieldDescriptor.TYPE_ENUM and fd.enum_type is not None:
        return _enum_writer(fd.enum_type)
    if fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type is not None:
        if fd.message_type.full_name == _TIMESTAMP:
            return _timestamp
        inner = _plan(fd.message_type)
        if inner is None:
            return None
        return lambda value: _write(value, inner)
    return None  # floats, doubles, bytes, groups: json_format's own path


def _timestamp(value: Any) -> str:
    """`Timestamp.ToJsonString()` (UTC, "Z", 0/3/6/9 fraction digits) without its float
    arithmetic; an invalid instant goes to protobuf, which raises as MessageToDict would."""
    seconds, nanos = value.seconds, value.nanos
    if not (_SECONDS_MIN <= seconds <= _SECONDS_MAX and 0 <= nanos < _NANOS):
        return str(value.ToJsonString())
    text = (_EPOCH + timedelta(seconds=seconds)).isoformat()
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{text}.{nanos // 1_000:06d}Z"
    return f"{text}.{nanos:09d}Z"


def _enum_writer(enum: EnumDescriptor) -> Writer:
    names = {v.number: v.name for v in enum.values}
    # An enum number the schema does not name is written as the number, as json_format does.
    return lambda number: names.get(number, number)


_STAMP_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{3}|\d{6}|\d{9}))?Z")
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def timestamp_from_json(text: str) -> Timestamp:
    """`Timestamp.FromJsonString`, without its strptime for the form `ToJsonString` writes
    (the request documents' instants): that parse was ~70 µs of every CreateQuote. The
    same seconds and nanos; any other form goes to FromJsonString itself."""
    ts = Timestamp()
    m = _STAMP_RE.fullmatch(text)
    if m is None:
        ts.FromJsonString(text)
        return ts
    try:
        whole = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC)
    except ValueError:  # a day or hour out of range: FromJsonString says so its own way
        ts.FromJsonString(text)
        return ts
    ts.seconds = (whole - _EPOCH_UTC) // _SECOND
    ts.nanos = int((m.group(2) or "").ljust(9, "0"))
    return ts


# -- the other way: a document back into its message -----------------------------------

Filler = Callable[[Message, str, Any], None]
FillPlan = dict[str, Filler]
_fill_plans: dict[str, FillPlan | None] = {}


def dict_to_message(document: Mapping[str, Any], message: M) -> M:
    """`json_format.ParseDict(document, message)` for a document this mapping wrote.

    A key or value beyond the plan (an unknown field, a repeated scalar, a wrong type)
    goes to ParseDict, which parses it or raises its own error.
    """
    plan = _fill_plan(message.DESCRIPTOR)  # type: ignore[arg-type]
    if plan is not None:
        try:
            _fill(message, document, plan)
            return message
        except (KeyError, TypeError, ValueError, AttributeError):
            message.Clear()
    return json_format.ParseDict(dict(document), message)


def _fill(message: Message, document: Mapping[str, Any], plan: FillPlan) -> None:
    for key, value in document.items():
        plan[key](message, key, value)


def _fill_plan(descriptor: Descriptor) -> FillPlan | None:
    return _planned(_fill_plans, descriptor, _fill_entry)


def _fill_entry(fd: FieldDescriptor) -> tuple[str, Filler] | None:
    filler = _filler(fd)
    return None if filler is None else (fd.name, filler)


def _filler(fd: FieldDescriptor) -> Filler | None:
    if fd.is_extension:
        return None
    if fd.is_repeated:
        if fd.type != FieldDescriptor.TYPE_MESSAGE or fd.message_type is None:
            return None
        each = _fill_plan(fd.message_type)
        if each is None:
            return None
        return lambda m, key, items: _fill_each(getattr(m, key), items, each)
    if fd.type in _AS_IS:
        return _set_same if fd.type != FieldDescriptor.TYPE_BOOL else _set_bool
    if fd.type in _AS_STRING:
        return _set_int
    if fd.type == FieldDescriptor.TYPE_ENUM and fd.enum_type is not None:
        numbers = {v.name: v.number for v in fd.enum_type.values}
        return lambda m, key, name: setattr(m, key, numbers[name])
    if fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type is not None:
        if fd.message_type.full_name == _TIMESTAMP:
            return _set_timestamp
        inner = _fill_plan(fd.message_type)
        if inner is None:
            return None
        return lambda m, key, sub: _fill_sub(getattr(m, key), sub, inner)
    return None


def _fill_each(field: Any, items: list[Mapping[str, Any]], plan: FillPlan) -> None:
    for item in items:
        _fill(field.add(), item, plan)


def _fill_sub(sub: Message, document: Mapping[str, Any], plan: FillPlan) -> None:
    sub.SetInParent()
    _fill(sub, document, plan)


def _set_same(m: Message, key: str, value: Any) -> None:
    if type(value) is not str and type(value) is not int:
        raise TypeError(key)  # ParseDict has rules for other forms (floats as ints...)
    setattr(m, key, value)


def _set_bool(m: Message, key: str, value: Any) -> None:
    if type(value) is not bool:
        raise TypeError(key)
    setattr(m, key, value)


def _set_int(m: Message, key: str, value: Any) -> None:
    if type(value) is not str or not value.lstrip("-").isdigit():
        raise TypeError(key)  # "1e3", " 1", ints: ParseDict decides
    setattr(m, key, int(value))


def _set_timestamp(m: Message, key: str, value: Any) -> None:
    if type(value) is not str:
        raise TypeError(key)
    getattr(m, key).CopyFrom(timestamp_from_json(value))
