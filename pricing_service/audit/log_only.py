"""The audit sink of a benchmark server: quotes are NOT logged (never in production)."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import Future

from pricing_service.audit.sink import AuditEvent, AuditPosition


class DisabledAuditSink:
    """Resolves every event at once without writing it. For benchmarks only."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def register_policy(self, digest: str, canonical: bytes) -> None:
        """Nothing is archived without a log."""
        del digest, canonical

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        """Drop the event; resolve with a position in no log."""
        del event
        with self._lock:
            seq = next(self._seq)
        done: Future[AuditPosition] = Future()
        done.set_result(AuditPosition(self.origin, seq, ""))
        return done

    def close(self) -> None:
        """Nothing to flush."""
