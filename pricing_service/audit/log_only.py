"""Audit sinks that do not make records durable: structlog lines, or nothing (benchmarks)."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import Future

import structlog

from pricing_service.audit.sink import AuditEvent, AuditPosition


class StructlogAuditSink:
    """Writes one JSON line per event via structlog; not durable, not provable."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._log = structlog.get_logger("pricing_service.audit")

    def register_policy(self, digest: str, canonical: bytes) -> None:
        """Log the policy digest once; there is no archive without a durable log."""
        self._log.info("audit_policy", policy_digest=digest, size=len(canonical))

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        """Log the event and resolve at once."""
        with self._lock:
            seq = next(self._seq)
        self._log.info(
            "audit_record",
            seq=seq,
            kind=event.kind,
            request=event.request,
            response=event.response,
            error=event.error,
            caller=event.caller,
            policy_digest=event.policy_digest,
            time=event.time,
        )
        done: Future[AuditPosition] = Future()
        done.set_result(AuditPosition(self.origin, seq, ""))
        return done

    def close(self) -> None:
        """Nothing to flush."""


class DisabledAuditSink(StructlogAuditSink):
    """Resolves every event at once without writing it. For benchmarks only."""

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        """Drop the event."""
        with self._lock:
            seq = next(self._seq)
        done: Future[AuditPosition] = Future()
        done.set_result(AuditPosition(self.origin, seq, ""))
        return done
