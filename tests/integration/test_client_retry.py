"""Client retries against an in-process server that injects UNAVAILABLE and slow replies.

The rule under test: UNAVAILABLE and DEADLINE_EXCEEDED are retried (bounded, with
backoff) for the read RPCs always, and for CreateQuote only when the request carries
a request_id. The fault injector sits in front of the real servicer and counts the
attempts that reach the server; a recording audit sink counts binding quotes.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from ecoloan_client import (
    Backoff,
    FailedPrecondition,
    PricingClient,
    Unavailable,
    carbon_grade,
    quote_request,
)
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from live_support import FIXED_NOW

from pricing_service.api.servicers import PricingServicer, RpcCore, add_to_server
from pricing_service.audit.sink import AuditEvent, AuditPosition
from pricing_service.bootstrap import NoProofs
from pricing_service.policy.store import default_policies
from pricing_service.quoting.service import QuoteService

BACKOFF = Backoff(initial=0.01, multiplier=2.0, maximum=0.05)

Fault = Callable[[grpc.ServicerContext], None]


def unavailable(context: grpc.ServicerContext) -> None:
    """A server restarting: the request never reached the servicer."""
    context.abort(grpc.StatusCode.UNAVAILABLE, "injected: restarting")


def unavailable_retry_after(seconds: float) -> Fault:
    """UNAVAILABLE with a google.rpc.RetryInfo hint, as the audit-log refusal sends."""

    def fault(context: grpc.ServicerContext) -> None:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(nanos=int(seconds * 1e9))
                if seconds < 1
                else duration_pb2.Duration(seconds=int(seconds))
            )
        )
        status = status_pb2.Status(
            code=code_pb2.UNAVAILABLE, message="injected: log busy", details=[detail]
        )
        context.abort_with_status(rpc_status.to_status(status))

    return fault


@dataclass
class FaultInjector(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Counts attempts per method; fails or delays the next ones as planned."""

    calls: Counter[str] = field(default_factory=Counter)
    before: dict[str, list[Fault]] = field(default_factory=dict)
    slow_reply: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, method: str, *faults: Fault) -> None:
        self.before.setdefault(method, []).extend(faults)

    def delay_reply(self, method: str, *seconds: float) -> None:
        """Run the real handler, then hold the reply: the server acted, the client times out."""
        self.slow_reply.setdefault(method, []).extend(seconds)

    def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = details.method.rsplit("/", 1)[-1]
        inner = handler.unary_unary

        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            with self.lock:
                self.calls[method] += 1
                planned = self.before.get(method)
                fault = planned.pop(0) if planned else None
                delays = self.slow_reply.get(method)
                delay = delays.pop(0) if delays else 0.0
            if fault is not None:
                fault(context)
            reply = inner(request, context)
            time.sleep(delay)
            return reply

        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class RecordingSink:
    """The audit seam, in memory: every binding quote or refusal the server logged."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self._lock = threading.Lock()

    def register_policy(self, digest: str, canonical: bytes) -> None:
        del digest, canonical

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        with self._lock:
            self.events.append(event)
            seq = len(self.events) - 1
        done: Future[AuditPosition] = Future()
        done.set_result(AuditPosition("test", seq, ""))
        return done

    def close(self) -> None:
        pass


@dataclass
class FlakyServer:
    target: str
    faults: FaultInjector
    sink: RecordingSink


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    faults, sink = FaultInjector(), RecordingSink()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        interceptors=[faults],
        options=[("grpc.so_reuseport", 0)],
    )
    policies = default_policies()
    service = QuoteService(policies, sink, lambda: FIXED_NOW)
    add_to_server(PricingServicer(RpcCore(service, NoProofs())), server)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield FlakyServer(f"127.0.0.1:{port}", faults, sink)
    finally:
        server.stop(0).wait()


@dataclass
class Sleeps:
    """Stands in for time.sleep: records the backoff instead of waiting."""

    seen: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)


def make_client(target: str, sleeps: Sleeps, **kwargs: Any) -> PricingClient:
    return PricingClient(
        target, backoff=BACKOFF, sleep=sleeps, rng=random.Random(20261120), **kwargs
    )


def request(request_id: str = "", grade: int = 1) -> Any:
    return quote_request(
        request_id=request_id,
        product_id="lvtanrong",
        borrower_id="XJ-CJ-ALU-0001",
        credit_rating="AA",
        principal_cny="1000000",
        term_months=12,
        repayment="equal-installment",
        pricing_time="2026-11-20T10:00:00+08:00",
        carbon_grade=carbon_grade(grade, "2026-09-30", "changji-carbon-account"),
    )


def test_read_rpcs_are_retried_after_unavailable(flaky: FlakyServer) -> None:
    sleeps = Sleeps()
    with make_client(flaky.target, sleeps) as client:
        quote_id = client.create_quote(request()).quote.quote_id
        for method in ("GetQuote", "ListProducts", "DescribePolicy", "Check"):
            flaky.faults.fail(method, unavailable, unavailable)
        assert client.get_quote(quote_id).quote.annual_rate == "1.30"
        assert client.list_products().products[1].product_id == "lvtanrong"
        assert client.describe_policy().fixings_in_force[0].rate == "3.00"
        assert client.health() == "SERVING"
    assert [flaky.faults.calls[m] for m in ("GetQuote", "ListProducts", "DescribePolicy")] == [
        3,
        3,
        3,
    ]
    assert flaky.faults.calls["Check"] == 3
    # Two sleeps per call, each under its full-jitter cap: 10 ms, then 20 ms.
    assert len(sleeps.seen) == 8
    for first, second in zip(sleeps.seen[::2], sleeps.seen[1::2], strict=True):
        assert 0 <= first <= 0.01
        assert 0 <= second <= 0.02


def test_create_quote_without_request_id_gets_one_and_is_retried_safely(
    flaky: FlakyServer,
) -> None:
    # The client generates the request_id the caller left out, so its retries are safe.
    flaky.faults.fail("CreateQuote", unavailable)
    sleeps = Sleeps()
    with make_client(flaky.target, sleeps) as client:
        response = client.create_quote(request())
    assert response.quote.request_id.startswith("py-")
    assert len(response.quote.request_id) == len("py-") + 36  # a UUID
    assert flaky.faults.calls["CreateQuote"] == 2
    assert len(sleeps.seen) == 1
    assert [e.kind for e in flaky.sink.events] == ["quote"]


def test_create_quote_with_request_id_is_retried_and_logged_once(flaky: FlakyServer) -> None:
    flaky.faults.fail("CreateQuote", unavailable, unavailable)
    sleeps = Sleeps()
    with make_client(flaky.target, sleeps) as client:
        response = client.create_quote(request("retry-ok-1"))
    assert response.quote.annual_rate == "1.30"
    assert flaky.faults.calls["CreateQuote"] == 3
    assert len(sleeps.seen) == 2
    assert [e.kind for e in flaky.sink.events] == ["quote"]


def test_retries_stop_after_max_attempts(flaky: FlakyServer) -> None:
    flaky.faults.fail("ListProducts", *[unavailable] * 10)
    sleeps = Sleeps()
    client = make_client(flaky.target, sleeps, max_attempts=3)
    with client, pytest.raises(Unavailable) as info:
        client.list_products()
    assert info.value.attempts == 3
    assert info.value.message == "injected: restarting"
    assert flaky.faults.calls["ListProducts"] == 3
    assert len(sleeps.seen) == 2


def test_refusals_are_answers_and_are_not_retried(flaky: FlakyServer) -> None:
    sleeps = Sleeps()
    with make_client(flaky.target, sleeps) as client, pytest.raises(FailedPrecondition) as info:
        client.create_quote(request("refused-1", grade=5))
    assert info.value.reason == "CARBON_GRADE_INELIGIBLE"
    assert info.value.attempts == 1
    assert flaky.faults.calls["CreateQuote"] == 1
    assert sleeps.seen == []


def test_deadline_exceeded_create_with_request_id_returns_the_quote_already_made(
    flaky: FlakyServer,
) -> None:
    # The first attempt is priced and logged, but its reply is held past the deadline.
    flaky.faults.delay_reply("CreateQuote", 0.6)
    sleeps = Sleeps()
    with make_client(flaky.target, sleeps) as client:
        response = client.create_quote(request("late-reply-1"), timeout=0.3)
    assert flaky.faults.calls["CreateQuote"] == 2
    assert len(sleeps.seen) == 1
    # The retry was answered from the stored quote: one binding quote, not two.
    assert [e.kind for e in flaky.sink.events] == ["quote"]
    assert response.audit_position.sequence == 0
    assert response.quote.annual_rate == "1.30"


def test_deadline_exceeded_create_without_request_id_never_mints_a_second_quote(
    flaky: FlakyServer,
) -> None:
    # Before, this retry was refused (no id, not idempotent); now the generated id makes
    # the retry return the quote the first attempt made.
    flaky.faults.delay_reply("CreateQuote", 0.6)
    sleeps = Sleeps()
    with make_client(flaky.target, sleeps) as client:
        response = client.create_quote(request(), timeout=0.3)
    assert flaky.faults.calls["CreateQuote"] == 2
    assert [e.kind for e in flaky.sink.events] == ["quote"]
    assert response.audit_position.sequence == 0


@pytest.mark.parametrize(("hint", "expected"), [(0.04, 0.04), (1.0, 0.05)])
def test_server_retry_info_is_a_floor_on_the_backoff_capped_by_maximum(
    flaky: FlakyServer, hint: float, expected: float
) -> None:
    flaky.faults.fail("DescribePolicy", unavailable_retry_after(hint))
    sleeps = Sleeps()
    with make_client(flaky.target, sleeps) as client:
        client.describe_policy()
    assert sleeps.seen == [pytest.approx(expected)]
