"""Replay: re-price every logged request under its recorded policy and diff the results.

A pure function of the log and its policy archive: no running service, no
current configuration. Quotes must come out identical field by field; refusals
must be refused again with the same status, reason and field violations. Denials
(refused by the permission table before any pricing) and policy switches were judged
by no policy: they are counted, never re-priced, and never a difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pricing_service.audit.archive import PolicyArchive
from pricing_service.audit.errors import PolicyArchiveError
from pricing_service.audit.reader import LogRecord
from pricing_service.audit.record import PRICED_KINDS
from pricing_service.domain.engine import beijing_date
from pricing_service.domain.errors import NoPolicyInForceError, PolicyError, PricingError
from pricing_service.domain.policy import Policy
from pricing_service.policy.store import load_policy_bytes
from pricing_service.quoting.incoming import IncomingQuote, RequestDecodeError
from pricing_service.quoting.pricing import price_under
from pricing_service.quoting.refusals import error_record

Decode = Callable[[Mapping[str, Any]], IncomingQuote]
"""Reads a recorded request document back (the transport adapter's reader)."""

MAX_DIFFS_PER_RECORD = 50


@dataclass(frozen=True, slots=True)
class Difference:
    """One field whose replayed value differs from the recorded one."""

    seq: int
    segment: str
    line: int
    quote_id: str
    field: str
    recorded: Any
    replayed: Any


@dataclass(slots=True)
class ReplayFilter:
    """Which records to replay: by Beijing pricing date, product and borrower."""

    date_from: date | None = None
    date_to: date | None = None
    product: str | None = None
    borrower: str | None = None

    def selects(self, request: Mapping[str, Any], response: Mapping[str, Any] | None) -> bool:
        """Whether a record's request (and response) falls in the selection."""
        if self.product is not None and request.get("product_id") != self.product:
            return False
        if self.borrower is not None and request.get("borrower_id") != self.borrower:
            return False
        if self.date_from is None and self.date_to is None:
            return True
        day = _pricing_date(request, response)
        if day is None:
            return False
        if self.date_from is not None and day < self.date_from:
            return False
        return self.date_to is None or day <= self.date_to


def _pricing_date(request: Mapping[str, Any], response: Mapping[str, Any] | None) -> date | None:
    if response is not None and "pricing_date" in response:
        return date.fromisoformat(response["pricing_date"])
    stamp = request.get("pricing_time")
    if not isinstance(stamp, str):
        return None
    try:
        # RFC 3339 as the log writes it; fromisoformat drops digits past microseconds.
        return beijing_date(datetime.fromisoformat(stamp))
    except ValueError:
        return None


@dataclass(slots=True)
class ReplayReport:
    """Counts and every difference found."""

    records: int = 0
    selected: int = 0
    quotes: int = 0
    refusals: int = 0
    denials: int = 0
    policy_switches: int = 0
    matched: int = 0
    differences: list[Difference] = field(default_factory=list)
    policies: set[str] = field(default_factory=set)

    @property
    def mismatched_records(self) -> int:
        """How many records had at least one difference."""
        return len({d.seq for d in self.differences})

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "records": self.records,
            "selected": self.selected,
            "quotes": self.quotes,
            "refusals": self.refusals,
            "denials": self.denials,
            "policy_switches": self.policy_switches,
            "matched": self.matched,
            "mismatched_records": self.mismatched_records,
            "policies": sorted(self.policies),
            "differences": [
                {
                    "seq": d.seq,
                    "segment": d.segment,
                    "line": d.line,
                    "quote_id": d.quote_id,
                    "field": d.field,
                    "recorded": d.recorded,
                    "replayed": d.replayed,
                }
                for d in self.differences
            ],
        }


def diff_fields(recorded: Any, replayed: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Leaf-by-leaf differences between two JSON values."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in sorted(set(recorded) | set(replayed)):
            yield from diff_fields(
                recorded.get(key), replayed.get(key), f"{path}.{key}" if path else key
            )
    elif isinstance(recorded, list) and isinstance(replayed, list):
        for i in range(max(len(recorded), len(replayed))):
            a = recorded[i] if i < len(recorded) else None
            b = replayed[i] if i < len(replayed) else None
            yield from diff_fields(a, b, f"{path}[{i}]")
    elif recorded != replayed:
        yield path, recorded, replayed


class ArchivedPolicies:
    """Policy versions by digest, from the log's archive, each loaded once."""

    def __init__(self, logdir: Path) -> None:
        self.archive = PolicyArchive(logdir)
        self._cache: dict[str, Policy | str] = {}

    def get(self, digest: str) -> Policy | str:
        """The policy, or a string saying why it cannot be had."""
        hit = self._cache.get(digest)
        if hit is None:
            hit = self._load(digest)
            self._cache[digest] = hit
        return hit

    def _load(self, digest: str) -> Policy | str:
        try:
            policy, _ = load_policy_bytes(self.archive.load(digest))
        except FileNotFoundError:
            return f"policy {digest} is not in the archive {self.archive.directory}"
        except (PolicyArchiveError, PolicyError) as exc:
            return str(exc)
        if policy.digest != digest:
            return f"archived policy {digest} re-digests to {policy.digest}"
        return policy


def replay_records(
    records: Iterable[LogRecord],
    archive: ArchivedPolicies,
    selection: ReplayFilter | None = None,
    on_record: Callable[[LogRecord], None] | None = None,
    *,
    decode: Decode,
) -> ReplayReport:
    """Re-price each selected record and collect every difference (streaming)."""
    selection = selection or ReplayFilter()
    report = ReplayReport()
    for rec in records:
        if on_record is not None:
            on_record(rec)
        replay_record(rec, archive, selection, report, decode=decode)
    return report


def replay_record(
    rec: LogRecord,
    archive: ArchivedPolicies,
    selection: ReplayFilter,
    report: ReplayReport,
    *,
    decode: Decode,
) -> None:
    """Count one record into `report`, and re-price it if it is selected: THE judgement of a
    record, which the fast path (replay_fast) hands every record it does not vouch for."""
    report.records += 1
    record = rec.record
    request = record.request
    if record.kind not in PRICED_KINDS or request is None:
        _count_unpriced(record.kind, report)
        return
    if not selection.selects(request, record.response):
        return
    report.selected += 1
    before = len(report.differences)
    _replay_one(rec, request, archive, decode, report)
    if len(report.differences) == before:
        report.matched += 1


def _count_unpriced(kind: str, report: ReplayReport) -> None:
    """Count a record no policy judged (whatever the selection: nothing to re-price)."""
    if kind == "denial":
        report.denials += 1
    elif kind == "policy_switch":
        report.policy_switches += 1


def _replay_one(
    rec: LogRecord,
    request_document: Mapping[str, Any],
    archive: ArchivedPolicies,
    decode: Decode,
    report: ReplayReport,
) -> None:
    record = rec.record
    kind = record.kind
    recorded_quote_id = record.quote_id

    def differ(field_: str, recorded: Any, replayed: Any) -> None:
        report.differences.append(
            Difference(
                rec.seq, rec.segment, rec.line, recorded_quote_id, field_, recorded, replayed
            )
        )

    if kind == "quote":
        report.quotes += 1
    else:
        report.refusals += 1
    try:
        request = decode(request_document)
    except RequestDecodeError as exc:
        differ("request", "unparseable", str(exc))
        return
    digest = record.policy_digest
    replayed_response: dict[str, Any] | None = None
    replayed_error: dict[str, Any] | None = None
    if digest is None:
        # The service records no digest only when no policy was in force at the request's
        # instant (or the instant was malformed): the converter must refuse it again, or,
        # if it is well-formed, the only refusal the service can have given is that one.
        try:
            request.to_domain()
            replayed_error = {
                "code": "FAILED_PRECONDITION",
                "reason": NoPolicyInForceError("").reason,
            }
        except PricingError as exc:
            replayed_error = dict(error_record(exc))
    else:
        report.policies.add(digest)
        policy = archive.get(digest)
        if isinstance(policy, str):
            differ("policy_digest", digest, policy)
            return
        try:
            replayed_response = price_under(request, policy).document
        except PricingError as exc:
            replayed_error = dict(error_record(exc))
    if kind == "quote":
        if replayed_response is None:
            differ("error", None, replayed_error)
            return
        if record.response == replayed_response:
            # Equal as JSON values (C-speed): diff_fields would find nothing. It still
            # runs on any inequality, so a null-versus-absent field judges as before.
            return
        for count, (path, a, b) in enumerate(diff_fields(record.response, replayed_response)):
            if count >= MAX_DIFFS_PER_RECORD:
                break
            differ(f"response.{path}", a, b)
    else:
        if replayed_error is None:
            differ("response", None, replayed_response)
            return
        recorded_error = record.error or {}
        for key in ("code", "reason", "field_violations"):
            if recorded_error.get(key) != replayed_error.get(key):
                differ(f"error.{key}", recorded_error.get(key), replayed_error.get(key))
