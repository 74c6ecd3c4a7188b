"""The canonical per-RPC log line, pinned for every RPC in both server modes.

Each RPC writes exactly one structlog line when it ends (the interceptor), with the
fields the servicer bound before and after its work: method, status code, caller,
the request id or the quote asked for, and for a quote its id and rate. Both modes
run one servicer core (api/servicers.py), so the lines must be the same, field for
field; before the core was shared, the aio CreateQuote line had no quote id or rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan.pricing.v1 import pricing_service_pb2_grpc as pb_grpc
from ecoloan_client import carbon_grade, quote_request
from live_support import server_in_mode
from structlog.testing import capture_logs

SERVICE = "/ecoloan.pricing.v1.PricingService/"
CALLER_ID = ("x-caller-id", "core-banking-07")
UNKNOWN_QUOTE = "q_" + "0" * 32


@pytest.fixture(params=["sync", "aio"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A server of each mode on 127.0.0.1, port 0, with a fixed clock."""
    with server_in_mode(tmp_path / "audit", request.param) as address:
        yield address


def lvtanrong(request_id: str = "") -> pb.CreateQuoteRequest:
    return quote_request(
        request_id=request_id,
        product_id="lvtanrong",
        borrower_id="XJ-ALU-0001",
        credit_rating="AA",
        principal_cny="1000000",
        term_months=12,
        repayment="equal-installment",
        pricing_time="2026-11-20T10:00:00+08:00",
        carbon_grade=carbon_grade(1, "2026-09-30", "changji-carbon-account"),
    )


def _calls(stub: pb_grpc.PricingServiceStub) -> str:
    """Every RPC, answered and refused; returns the created quote's id."""
    meta = (CALLER_ID,)
    created = stub.CreateQuote(lvtanrong("log-1"), metadata=meta)
    invalid = lvtanrong("log-2")
    invalid.term_months = 0
    failures: list[Callable[[], object]] = [
        lambda: stub.CreateQuote(invalid, metadata=meta),
        lambda: stub.GetQuote(pb.GetQuoteRequest(quote_id=UNKNOWN_QUOTE)),
        lambda: stub.SimulateQuotes(pb.SimulateQuotesRequest(draft_policy=b"not toml [")),
    ]
    stub.GetQuote(pb.GetQuoteRequest(quote_id=created.quote.quote_id), metadata=meta)
    stub.ListProducts(pb.ListProductsRequest())
    stub.DescribePolicy(pb.DescribePolicyRequest())
    stub.GetQuoteProof(pb.GetQuoteProofRequest(quote_id=created.quote.quote_id))
    stub.SimulateQuotes(pb.SimulateQuotesRequest(loans=[lvtanrong()]))
    for call in failures:
        with pytest.raises(grpc.RpcError):
            call()
    return created.quote.quote_id


CALLS = 9  # _calls makes six answered and three refused calls


def _rpc_lines(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e.get("event") == "rpc" and e["method"].startswith(SERVICE)]


def test_every_rpc_writes_its_canonical_line(target: str) -> None:
    with (
        capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs,
        grpc.insecure_channel(target) as channel,
    ):
        quote_id = _calls(pb_grpc.PricingServiceStub(channel))
        # grpc.aio sends a refusal's status before the interceptor's line is written: wait
        # (bounded) for the last line rather than race it.
        for _ in range(500):
            if len(_rpc_lines(logs)) >= CALLS:
                break
            time.sleep(0.01)
    lines = _rpc_lines(logs)
    for line in lines:
        assert isinstance(line.pop("duration_ms"), float)
        peer = line.pop("peer")
        assert peer.startswith("ipv4:127.0.0.1:")
        assert (line.pop("event"), line.pop("log_level")) == ("rpc", "info")
    # The identity and how it was established; the transport peer is its own field.
    me = {"caller": "core-banking-07", "via": "header"}
    anonymous = {"caller": "anonymous", "via": "none"}
    assert lines == [
        me
        | {
            "method": SERVICE + "CreateQuote",
            "code": "OK",
            "request_id": "log-1",
            "quote_id": quote_id,
            "annual_rate": "1.30",
        },
        me
        | {
            "method": SERVICE + "GetQuote",
            "code": "OK",
            "quote_id": quote_id,
            "annual_rate": "1.30",
        },
        anonymous | {"method": SERVICE + "ListProducts", "code": "OK"},
        anonymous | {"method": SERVICE + "DescribePolicy", "code": "OK"},
        anonymous | {"method": SERVICE + "GetQuoteProof", "code": "OK", "quote_id": quote_id},
        anonymous | {"method": SERVICE + "SimulateQuotes", "code": "OK", "loans": 1, "priced": 1},
        me | {"method": SERVICE + "CreateQuote", "code": "INVALID_ARGUMENT", "request_id": "log-2"},
        anonymous
        | {"method": SERVICE + "GetQuote", "code": "NOT_FOUND", "quote_id": UNKNOWN_QUOTE},
        anonymous | {"method": SERVICE + "SimulateQuotes", "code": "INVALID_ARGUMENT"},
    ]
