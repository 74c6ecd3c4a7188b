"""The seam every binding quote (and refused binding request) goes through."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What the service hands to the audit log for one binding event.

    `request` and `response` are the protobuf JSON mapping (field names as in the
    .proto, int64 as decimal strings) of CreateQuoteRequest and Quote, so that they
    render to canonical sorted-key JSON with no binary float anywhere. The record's
    shape per kind is in `pricing_service.audit.record`.
    """

    kind: str  # "quote", "refusal", "denial" or "policy_switch"
    request: Mapping[str, Any] | None  # None only for a policy_switch
    response: Mapping[str, Any] | None
    error: Mapping[str, Any] | None  # {"code", "message", "reason", "field_violations"}
    caller: str  # the identity only, never the peer
    policy_digest: str | None
    time: str  # RFC 3339 UTC instant the request was received
    peer: str = ""  # the transport peer; "" when the event came from no connection
    policies: Mapping[str, Any] | None = None  # policy_switch: {"new", "old"}
    # A quote's request fingerprints (not part of the record): a store that binds request
    # ids itself (PostgreSQL) keeps them, so a retry on another replica can be matched.
    request_prints: tuple[int, ...] = ()

    def record_fields(self) -> dict[str, Any]:
        """The record fields the event sets (the log adds seq, origin, code_version, v)."""
        return {
            "request": self.request,
            "response": self.response,
            "error": self.error,
            "caller": self.caller,
            "peer": self.peer,
            "policy_digest": self.policy_digest,
            "policies": self.policies,
            "time": self.time,
        }


@dataclass(frozen=True, slots=True)
class AuditPosition:
    """Where a record landed: its log, leaf index and RFC 6962 leaf hash (hex)."""

    log_origin: str
    sequence: int
    leaf_hash: str


class AuditUnavailableError(Exception):
    """The log cannot take records now (disk full, permissions, I/O error)."""


class DuplicateRequestError(Exception):
    """The log already binds this request id to a quote (written by this or another
    replica): the record was not written, and the original is here instead."""

    def __init__(
        self,
        request_id: str,
        quote_id: str,
        request_prints: tuple[int, ...],
        record: bytes,
        position: AuditPosition,
    ) -> None:
        super().__init__(f"request id {request_id!r} is bound to quote {quote_id}")
        self.request_id = request_id
        self.quote_id = quote_id
        self.request_prints = request_prints
        self.record = record
        self.position = position


class AuditSink(Protocol):
    """Accepts audit events; the returned future resolves once the record is durable.

    The future fails with AuditUnavailableError when the record could not be written;
    the caller must then refuse the quote.
    """

    def register_policy(self, digest: str, canonical: bytes) -> None:
        """Make sure the policy version `digest` is archived beside the log."""

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        """Queue `event`; resolves with its position after it is on disk."""

    def close(self) -> None:
        """Flush what is queued and release the log."""
