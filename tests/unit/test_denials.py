"""Denial records: what one holds, and the per-caller bound on how many are written."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime

import structlog
from ecoloan.pricing.v1 import pricing_service_pb2 as pb

from pricing_service.api.incoming import PbIncoming
from pricing_service.audit.sink import AuditEvent, AuditPosition, AuditUnavailableError
from pricing_service.quoting.access import PermissionDeniedError
from pricing_service.quoting.denials import DenialRecorder

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
PEER = "ipv4:10.1.2.3:40280"


class Sink:
    """Keeps every event; resolves at once, or fails each with `fail`."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.events: list[AuditEvent] = []
        self.fail = fail

    def register_policy(self, digest: str, canonical: bytes) -> None:
        del digest, canonical

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        self.events.append(event)
        done: Future[AuditPosition] = Future()
        if self.fail is not None:
            done.set_exception(self.fail)
        else:
            done.set_result(AuditPosition("o", len(self.events) - 1, ""))
        return done

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _request() -> PbIncoming:
    return PbIncoming(
        pb.CreateQuoteRequest(
            request_id="denied-1", product_id="standard", principal_fen=10_000_000, term_months=12
        )
    )


def _denied(caller: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"caller {caller!r} may not call CreateQuote of 'standard'",
        reason="PERMISSION_DENIED",
        caller=caller,
        method="CreateQuote",
    )


def _recorder(sink: Sink, clock: Clock) -> DenialRecorder:
    return DenialRecorder(sink, lambda: NOW, per_second=10.0, burst=10, monotonic=clock)


def test_a_denial_record_holds_the_request_the_error_the_caller_and_the_peer() -> None:
    sink = Sink()
    future = _recorder(sink, Clock()).record(_request(), "teller", PEER, _denied("teller"))
    assert future is not None
    assert future.result().sequence == 0
    assert sink.events == [
        AuditEvent(
            kind="denial",
            request={
                "principal_fen": "10000000",
                "product_id": "standard",
                "request_id": "denied-1",
                "term_months": 12,
            },
            response=None,
            error={
                "code": "PERMISSION_DENIED",
                "message": "caller 'teller' may not call CreateQuote of 'standard'",
                "reason": "PERMISSION_DENIED",
            },
            caller="teller",
            policy_digest=None,
            time="2026-11-20T02:00:00Z",
            peer=PEER,
        )
    ]


def test_a_burst_records_the_bucket_and_counts_the_rest_without_touching_others() -> None:
    sink, clock = Sink(), Clock()
    recorder = _recorder(sink, clock)
    with structlog.testing.capture_logs() as logs:
        results = [recorder.record(_request(), "flood", PEER, _denied("flood")) for _ in range(50)]
        other = recorder.record(_request(), "teller", PEER, _denied("teller"))
    assert sum(r is not None for r in results) == 10
    assert results[:10] == [r for r in results if r is not None]  # the first ten, in order
    assert other is not None  # another caller's bucket is its own
    assert (recorder.submitted, recorder.recorded, recorder.not_recorded) == (11, 11, 40)
    assert [e.caller for e in sink.events] == ["flood"] * 10 + ["teller"]
    # One line for the whole burst: the excess is counted, not logged call by call.
    assert [(x["event"], x["caller"], x["total"]) for x in logs] == [
        ("denials_not_recorded", "flood", 1)
    ]
    clock.now += 0.5  # five tokens back at 10 a second
    again = [recorder.record(_request(), "flood", PEER, _denied("flood")) for _ in range(8)]
    assert sum(r is not None for r in again) == 5
    assert (recorder.recorded, recorder.not_recorded) == (16, 43)


def test_a_record_the_log_cannot_take_is_counted_and_the_denial_stands() -> None:
    sink = Sink(fail=AuditUnavailableError("disk full"))
    recorder = _recorder(sink, Clock())
    with structlog.testing.capture_logs() as logs:
        future = recorder.record(_request(), "teller", PEER, _denied("teller"))
    assert future is not None
    assert isinstance(future.exception(), AuditUnavailableError)
    assert (recorder.submitted, recorder.recorded, recorder.not_recorded) == (1, 0, 1)
    assert [(x["event"], x["why"]) for x in logs] == [
        ("denials_not_recorded", "audit log unavailable: disk full")
    ]
