"""The structlog pipeline that turns an audit event into a canonical record line.

The audit log is written through structlog like every other log line of the service,
but with its own processor chain and "logger", never through the global configuration
(which renders for humans and may drop or reorder keys):

    AuditLogger.audit(kind, **fields)
      -> kind_from_event          structlog's positional "event" becomes "kind"
      -> AddLogFields             seq, origin, code_version, v (not overridable)
      -> render_canonical         validates the record shape, canonical JSON bytes
      -> RecordQueue.audit(bytes) the durable writer's queue; returns the Future

structlog returns whatever the final logger method returns, so `AuditLogger.audit`
hands the caller the writer's Future directly.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from concurrent.futures import Future
from typing import Any, Protocol, cast

import structlog

from pricing_service.audit.errors import RecordEncodingError
from pricing_service.audit.record import (
    RECORD_VERSION,
    RECORD_VERSION_REPLICA,
    RecordShapeError,
    RecordV2,
    canonical_json,
)
from pricing_service.audit.sink import AuditPosition

__all__ = [
    "AddLogFields",
    "AuditLogger",
    "RecordQueue",
    "kind_from_event",
    "make_audit_logger",
    "render_canonical",
]

EventDict = MutableMapping[str, Any]


class RecordQueue(Protocol):
    """The structlog "logger" at the end of the chain: queues one rendered record."""

    def audit(self, rendered: bytes) -> Future[AuditPosition]:
        """Queue the canonical record bytes; the Future resolves once they are durable."""


class AuditLogger(structlog.BoundLoggerBase):
    """A structlog bound logger with the one method the audit log needs."""

    def audit(self, kind: str, **fields: Any) -> Future[AuditPosition]:
        """Render and queue one record of `kind` (one of `record.KINDS`)."""
        return cast("Future[AuditPosition]", self._proxy_to_logger("audit", kind, **fields))


def kind_from_event(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    """Rename structlog's positional ``event`` to the record's ``kind``."""
    event_dict["kind"] = event_dict.pop("event", None)
    return event_dict


class AddLogFields:
    """Adds the fields the log owns: ``seq``, ``origin``, ``code_version``, ``v``, and
    ``replica`` where the log names the replica writing (version 3).

    `next_seq` is read, not consumed: the writer commits the number only when it queues
    the record, so an event that fails to render does not burn a sequence number.
    """

    __slots__ = ("_code_version", "_next_seq", "_origin", "_replica")

    def __init__(
        self,
        *,
        origin: str,
        code_version: str,
        next_seq: Callable[[], int],
        replica: str | None = None,
    ) -> None:
        self._origin = origin
        self._code_version = code_version
        self._next_seq = next_seq
        self._replica = replica

    def __call__(self, _logger: object, _method: str, event_dict: EventDict) -> EventDict:
        """Add the log-owned fields; refuse an event that tries to set them itself."""
        for key in ("seq", "origin", "code_version", "v", "replica"):
            if key in event_dict:
                raise RecordEncodingError(f"{key!r} is set by the log, not the caller")
        event_dict["seq"] = self._next_seq()
        event_dict["origin"] = self._origin
        event_dict["code_version"] = self._code_version
        if self._replica is None:
            event_dict["v"] = RECORD_VERSION
        else:
            event_dict["replica"] = self._replica
            event_dict["v"] = RECORD_VERSION_REPLICA
        return event_dict


def render_canonical(_logger: object, _method: str, event_dict: EventDict) -> bytes:
    """Check the record's shape and render its canonical bytes (the Merkle leaf data).

    The shape is the typed record's of the version written (`RecordV2.from_json`): the
    writer accepts exactly what the reader reads back.
    """
    try:
        RecordV2.from_json(event_dict)
    except RecordShapeError as exc:
        raise RecordEncodingError(str(exc), path=exc.path) from None
    return canonical_json(event_dict)


def make_audit_logger(
    queue: RecordQueue,
    *,
    origin: str,
    code_version: str,
    next_seq: Callable[[], int],
    replica: str | None = None,
) -> AuditLogger:
    """Build the audit chain ending in `queue`, independent of structlog's global config."""
    processors: list[Callable[..., Any]] = [
        kind_from_event,
        AddLogFields(origin=origin, code_version=code_version, next_seq=next_seq, replica=replica),
        render_canonical,
    ]
    return AuditLogger(queue, processors=processors, context={})
