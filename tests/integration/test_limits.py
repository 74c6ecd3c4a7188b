"""Limits answer at once with RESOURCE_EXHAUSTED + RetryInfo, lose nothing and log nothing
half; a call past its deadline is not priced; message sizes and reflection are settings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan.pricing.v1 import pricing_service_pb2_grpc as pb_grpc
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from live_support import FIXED_NOW, GatedSink

from pricing_service.api.servicers import METHODS, PricingServicer, RpcCore, add_to_server
from pricing_service.bootstrap import NoProofs, build_components, start_sync_server
from pricing_service.config import load_config
from pricing_service.policy.store import default_policies
from pricing_service.quoting.limits import Admission, LimitSettings, OverloadedError
from pricing_service.quoting.service import QuoteService


def loan(rid: str) -> pb.CreateQuoteRequest:
    req = pb.CreateQuoteRequest(
        request_id=rid,
        borrower_id="B-LIMIT",
        product_id="standard",
        credit_rating="AAA",
        principal_fen=10_000_000 + int(rid.rsplit("-", 1)[-1]),
        term_months=12,
        repayment_method=pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET,
    )
    req.pricing_time.FromJsonString("2026-11-20T02:00:00Z")
    return req


@pytest.fixture
def gated() -> Iterator[tuple[pb_grpc.PricingServiceStub, GatedSink]]:
    sink = GatedSink()
    service = QuoteService(default_policies(), sink, lambda: FIXED_NOW)
    admission = Admission(LimitSettings(binding_in_flight=2))
    server = grpc.server(ThreadPoolExecutor(max_workers=16))
    add_to_server(PricingServicer(RpcCore(service, NoProofs(), admission=admission)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield pb_grpc.PricingServiceStub(channel), sink
    finally:
        sink.gate.set()
        server.stop(1).wait()


def test_over_the_binding_limit_is_resource_exhausted_at_once(
    gated: tuple[pb_grpc.PricingServiceStub, GatedSink],
) -> None:
    stub, sink = gated
    with ThreadPoolExecutor(2) as first_two:
        held = [first_two.submit(stub.CreateQuote, loan(f"lim-{i}"), timeout=20) for i in (0, 1)]
        while len(sink.events) < 2:  # both priced, both waiting on the log
            threading.Event().wait(0.01)
        refused = []
        for i in range(2, 6):
            with pytest.raises(grpc.RpcError) as info:
                stub.CreateQuote(loan(f"lim-{i}"), timeout=20)
            refused.append(cast(grpc.Call, info.value))
        sink.gate.set()
        answered = [f.result() for f in held]
    assert [c.code() for c in refused] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 4
    status = rpc_status.from_call(refused[0])
    assert status is not None
    retry, why = error_details_pb2.RetryInfo(), error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(retry)
    assert status.details[1].Unpack(why)
    assert (retry.retry_delay.seconds, why.reason) == (1, "TOO_MANY_IN_FLIGHT")
    assert refused[0].details() == "2 binding calls in flight, the most this server takes"
    # Nothing lost, nothing half-logged: the two answered are the two records.
    assert sorted(a.quote.request_id for a in answered) == ["lim-0", "lim-1"]
    assert len(sink.events) == 2
    # The limit frees as calls end.
    assert stub.CreateQuote(loan("lim-9"), timeout=20).quote.request_id == "lim-9"


def test_kinds_have_their_own_allowance_and_rates_refill() -> None:
    now = [0.0]
    admission = Admission(
        LimitSettings(simulations_in_flight=1, caller_rate_per_s=2.0, caller_burst=2),
        clock=lambda: now[0],
    )
    with admission.admit("SimulateQuotes", "a"):
        with pytest.raises(OverloadedError) as full, admission.admit("SimulateQuotes", "b"):
            pass
        with admission.admit("CreateQuote", "b"):  # a simulation never takes a binding slot
            pass
    assert full.value.reason == "TOO_MANY_IN_FLIGHT"
    assert admission.in_flight["simulation"].rejected == 1
    with (
        pytest.raises(OverloadedError) as rate,  # "b": its burst of 2 is spent
        admission.admit("GetQuote", "b"),
    ):
        pass
    assert (rate.value.reason, rate.value.retry_after_s) == ("CALLER_RATE_EXCEEDED", 0.5)
    now[0] = 0.5  # one token back
    with admission.admit("GetQuote", "b"):
        pass


class _PastDeadline:
    """The servicer context of a call whose deadline passed while it waited in the queue."""

    aborted: grpc.StatusCode | None = None

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def time_remaining(self) -> float:
        return -0.05

    def abort_with_status(self, status: grpc.Status) -> None:
        self.aborted = status.code
        raise grpc.RpcError()


def test_a_call_past_its_deadline_is_not_priced_nor_logged() -> None:
    sink = GatedSink()
    sink.gate.set()
    service = QuoteService(default_policies(), sink, lambda: FIXED_NOW)
    shell = PricingServicer(RpcCore(service, NoProofs()))
    context = _PastDeadline()
    create = next(m for m in METHODS if m.name == "CreateQuote")
    with pytest.raises(grpc.RpcError):
        shell.serve(create, loan("late-1").SerializeToString(), cast(Any, context))
    assert context.aborted is grpc.StatusCode.DEADLINE_EXCEEDED
    assert sink.events == []


def _server(tmp_path: Path, **settings: Any) -> Any:
    config = load_config(
        env={}, listen="127.0.0.1:0", audit_dir=str(tmp_path), grace_seconds=1, **settings
    )
    return start_sync_server(build_components(config, clock=lambda: FIXED_NOW))


def test_message_size_and_reflection_are_settings(tmp_path: Path) -> None:
    running = _server(tmp_path, max_receive_message_bytes=1024, reflection=False)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            big = loan("big-1")
            big.borrower_id = "B" * 2000
            with pytest.raises(grpc.RpcError) as info:
                pb_grpc.PricingServiceStub(channel).CreateQuote(big, timeout=10)
            assert cast(grpc.Call, info.value).code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            ask = reflection_pb2.ServerReflectionRequest(list_services="")
            with pytest.raises(grpc.RpcError) as off:
                next(iter(stub.ServerReflectionInfo(iter([ask]), timeout=10)))
            assert cast(grpc.Call, off.value).code() is grpc.StatusCode.UNIMPLEMENTED
    finally:
        running.stop(grace=1)
