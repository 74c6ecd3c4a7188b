"""Binding-path denials as audit records, bounded per caller.

A CreateQuote the permission table refuses (PERMISSION_DENIED) is an audit record of
kind "denial": the request as received, the error, the caller's identity and peer, the
time. Nothing priced it, so it has no response and no policy digest, and it never
touches the idempotency index (a permitted caller may still use the request id).

Two choices, and why:

- *Bounded.* A caller hammering denied calls must not grow the log without limit: each
  identity has a token bucket (`audit_denials_per_second`, `audit_denials_burst`). A
  denial over it is still refused the same way, only not recorded; it is counted
  (`not_recorded`, the metric `ecoloan_audit_denials_not_recorded_total`) and logged as
  `denials_not_recorded` at most once a second. The bucket is per identity, so a flood
  from one caller never costs another caller's denials their records.
- *Not waited for.* The reply does not wait for the record to be durable. A denial binds
  the bank to nothing, so the record is evidence of an attempt, not of a promise; making
  the reply wait would let a denied caller hold a binding pool thread per call for an
  fsync, and would turn a slow or failed log into something other than the denial the
  caller was owed. A record that cannot be written is counted and logged instead.

UNAUTHENTICATED calls (a certificate naming no one, an unknown token) are not recorded:
they are refused before the request is read and name no identity to record or to bound
by, so any client that can open a connection could fill the log with them. Callers who
present nothing are "anonymous", which the table may deny: those denials are recorded,
all in the one "anonymous" bucket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import structlog

from pricing_service.audit.errors import RecordEncodingError
from pricing_service.audit.sink import AuditEvent, AuditPosition, AuditSink
from pricing_service.quoting.access import AccessError
from pricing_service.quoting.incoming import IncomingQuote
from pricing_service.quoting.limits import TokenBuckets
from pricing_service.quoting.refusals import error_record
from pricing_service.quoting.service import Clock, utc_now

log = structlog.get_logger("pricing_service.audit")

DEFAULT_PER_SECOND = 10.0
DEFAULT_BURST = 10
_REPORT_EVERY_S = 1.0  # at most one denials_not_recorded line a second


class DenialRecorder:
    """Submits denial records to the audit log, at most so many per caller a second."""

    def __init__(
        self,
        sink: AuditSink,
        clock: Clock = utc_now,
        *,
        per_second: float = DEFAULT_PER_SECOND,
        burst: int = DEFAULT_BURST,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("denial records need a rate > 0 and a burst >= 1")
        self.sink = sink
        self.clock = clock
        self.monotonic = monotonic
        self._buckets = TokenBuckets(per_second, burst, monotonic)
        self._lock = threading.Lock()
        self.submitted = 0
        self.recorded = 0
        self.not_recorded = 0
        self._reported_at = float("-inf")

    def record(
        self, request: IncomingQuote, caller: str, peer: str, error: AccessError
    ) -> Future[AuditPosition] | None:
        """Submit the denial's record; None when it is over the caller's bound (counted).

        Never raises and never waits for the disk: the caller replies with the denial
        whatever becomes of its record."""
        if not self._buckets.try_take(caller):
            self._not_recorded(caller, "over the per-caller bound")
            return None
        event = AuditEvent(
            kind="denial",
            request=request.document(),
            response=None,
            error=error_record(error),
            caller=caller,
            policy_digest=None,
            time=self.clock().isoformat().replace("+00:00", "Z"),
            peer=peer,
        )
        try:
            future = self.sink.submit(event)
        except RecordEncodingError:  # pragma: no cover - a request document is always JSON
            log.exception("denial_not_recorded", caller=caller, why="not encodable")
            self._not_recorded(caller, "not encodable")
            return None
        with self._lock:
            self.submitted += 1
        future.add_done_callback(lambda done: self._written(done, caller))
        return future

    def _written(self, done: Future[AuditPosition], caller: str) -> None:
        if done.exception() is None:
            with self._lock:
                self.recorded += 1
            return
        # The log is down: the quotes that need it fail on their own; this only counts.
        self._not_recorded(caller, f"audit log unavailable: {done.exception()}")

    def _not_recorded(self, caller: str, why: str) -> None:
        now = self.monotonic()
        with self._lock:
            self.not_recorded += 1
            total = self.not_recorded
            report = now - self._reported_at >= _REPORT_EVERY_S
            if report:
                self._reported_at = now
        if report:
            log.warning("denials_not_recorded", caller=caller, why=why, total=total)
