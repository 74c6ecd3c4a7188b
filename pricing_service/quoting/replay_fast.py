"""The fast path of replay: a logged quote judged identical without parsing its response.

Today's path (`replay.replay_record`) parses the whole line (the response is ~2.3 KB of
its ~2.7), reads the request back through the transport adapter and compares parsed
dicts. Here, for a line that is a quote record:

1. the line is cut at its structural keys `,"request":`, `,"response":` and `,"seq":`,
   and only the envelope, the request and the tail are parsed (orjson, ~0.5 KB);
2. the request is read by `canonical_request.read_canonical` (None unless canonical);
3. it is priced by THE engine (`engine.price`, which the service and today's replay
   run) under the archived policy, and the quote's document rendered to its canonical
   bytes (`quote_bytes`: quote_document's mapping from cached pieces);
4. the record is identical when those bytes ARE the recorded response's bytes.

Why that is exactly today's verdict. The four pieces between the cuts are each JSON on
their own (three parsed, the fourth the canonical bytes of a document) and their keys
are the record's keys, each once, so the line is a JSON object with exactly those
members: the record `parse_record` would read, of the shape `record_from_json` accepts
(checked here: version, key set, kind "quote", types, no error, no policies). The
canonical bytes of a document parse back to that document, so the recorded response IS
the document today's path renders (the same engine, on the domain request the adapter
would build, with the quote id of the same canonical request bytes): today's path finds
no difference either. Anything else, a line of another kind or of record version 1, a
request not canonical, a refusal by the engine, any byte of the response that differs,
an unknown policy, goes to `replay_record` unchanged, which judges and explains it
exactly as before: the fast path only ever says "identical", and only when today's path
would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from pricing_service.audit.record import RECORD_KEYS, RECORD_KEYS_V3
from pricing_service.domain.engine import price
from pricing_service.domain.policy import Policy
from pricing_service.quoting.canonical_request import read_canonical
from pricing_service.quoting.documents import quote_id_for
from pricing_service.quoting.quote_bytes import quote_bytes
from pricing_service.quoting.replay import ArchivedPolicies, ReplayFilter, ReplayReport

__all__ = ["FastQuotes"]

_REQUEST: Final = b',"request":'
_RESPONSE: Final = b',"response":'
_SEQ: Final = b',"seq":'
_TAIL_KEYS: Final = frozenset({"seq", "time", "v"})
_MIDDLE_KEYS: Final = frozenset({"request", "response"})
_HEAD_KEYS: Final = {
    2: RECORD_KEYS - _TAIL_KEYS - _MIDDLE_KEYS,
    3: RECORD_KEYS_V3 - _TAIL_KEYS - _MIDDLE_KEYS,
}
_HEAD_STRINGS: Final = ("origin", "caller", "peer", "code_version")
_SORTED: Final = orjson.OPT_SORT_KEYS


class FastQuotes:
    """Judges logged quotes identical on the fast path, counting them into a report."""

    __slots__ = ("archive", "fast", "selection")

    def __init__(self, archive: ArchivedPolicies, selection: ReplayFilter) -> None:
        self.archive = archive
        self.selection = selection
        self.fast = 0  # how many records this path judged (the rest went to replay_record)

    def replay(self, raw: bytes, seq: int, report: ReplayReport) -> bool:
        """Count the line into `report` if it is a quote record numbered `seq` that
        replays identically; False (and `report` untouched) for any other line."""
        found = self._judge(raw, seq)
        if found is None:
            return False
        request, document, digest = found
        report.records += 1
        if self.selection.selects(request, document):
            report.selected += 1
            report.quotes += 1
            report.policies.add(digest)
            report.matched += 1
        self.fast += 1
        return True

    def _judge(
        self, raw: bytes, seq: int
    ) -> tuple[Mapping[str, Any], Mapping[str, Any], str] | None:
        """(request, what of the response the selection reads, policy digest) of an identical
        quote record, else None."""
        i = raw.find(_REQUEST)
        j = raw.find(_RESPONSE, i)
        k = raw.rfind(_SEQ)
        if i < 0 or j < 0 or k < j:
            return None
        try:
            head = orjson.loads(raw[:i] + b"}")
            request = orjson.loads(raw[i + len(_REQUEST) : j])
            tail = orjson.loads(b"{" + raw[k + 1 :])
        except orjson.JSONDecodeError:
            return None
        if not (_envelope_ok(head, tail, seq) and type(request) is dict):
            return None
        digest: str = head["policy_digest"]
        policy = self.archive.get(digest)
        if not isinstance(policy, Policy):
            return None
        response = _response(request, policy)
        # The recorded response's bytes are those of the document's canonical form.
        if response is None or raw[j + len(_RESPONSE) : k] != response[0]:
            return None
        # All the selection reads of a response (see ReplayFilter.selects).
        return request, {"pricing_date": response[1]}, digest


def _envelope_ok(head: object, tail: object, seq: int) -> bool:
    """The record shape record_from_json accepts, for a quote with no error (v2 or v3)."""
    if type(head) is not dict or type(tail) is not dict or tail.keys() != _TAIL_KEYS:
        return False
    v = tail["v"]
    keys = _HEAD_KEYS.get(v) if type(v) is int else None
    if keys is None or head.keys() != keys:
        return False
    if type(tail["seq"]) is not int or tail["seq"] != seq or seq < 0:
        return False
    strings = (*_HEAD_STRINGS, "replica") if v == 3 else _HEAD_STRINGS
    return (
        head["kind"] == "quote"
        and head["error"] is None
        and head["policies"] is None
        and type(head["policy_digest"]) is str
        and type(tail["time"]) is str
        and all(type(head[key]) is str for key in strings)
    )


def _response(request: Mapping[str, Any], policy: Policy) -> tuple[bytes, str] | None:
    """(canonical bytes of the quote document today's path renders, its pricing date), or
    None to hand over."""
    domain = read_canonical(request)
    if domain is None:
        return None
    try:
        priced = price(domain, policy)
    except Exception:  # a refusal, or worse: today's path judges (or raises) it alike
        return None
    # The canonical request's bytes: a canonical document's strings are printable (no
    # escapes but \" and \\), where orjson writes exactly what dumps_canonical writes.
    quote_id = quote_id_for(orjson.dumps(request, option=_SORTED), policy.digest)
    return quote_bytes(priced, quote_id=quote_id, request=request), priced.pricing_date.isoformat()
