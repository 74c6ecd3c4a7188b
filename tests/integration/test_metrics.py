"""Prometheus metrics on their own address: exact counts after a known sequence of calls."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan.pricing.v1 import pricing_service_pb2_grpc as pb_grpc
from live_support import FIXED_NOW
from prometheus_client.parser import text_string_to_metric_families

from pricing_service.bootstrap import SyncServer, build_components, start_sync_server
from pricing_service.config import load_config


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SyncServer]:
    config = load_config(
        env={},
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        audit_dir=str(tmp_path / "audit"),
        audit_checkpoint_interval_ms=0,
        grace_seconds=1,
    )
    running = start_sync_server(build_components(config, clock=lambda: FIXED_NOW))
    try:
        yield running
    finally:
        running.stop(grace=1)


def lvtanrong(grade: int) -> pb.CreateQuoteRequest:
    req = pb.CreateQuoteRequest(
        request_id=f"metrics-{grade}",
        borrower_id="B-METRICS",
        product_id="lvtanrong",
        credit_rating="AA",
        principal_fen=100_000_000,
        term_months=12,
        repayment_method=pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
    )
    req.pricing_time.FromJsonString("2026-11-20T02:00:00Z")
    req.carbon_grade.CopyFrom(
        pb.CarbonGrade(grade=grade, assessed_on="2026-09-30", platform_id="p")
    )
    return req


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_what_happened(server: SyncServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.PricingServiceStub(channel)
        stub.CreateQuote(lvtanrong(1), timeout=10)
        with pytest.raises(grpc.RpcError):
            stub.CreateQuote(lvtanrong(5), timeout=10)  # grade 5: ineligible, a refusal record
        stub.ListProducts(pb.ListProductsRequest(), timeout=10)
    assert server.metrics.port is not None
    m = _scrape(server.metrics.port)
    assert m["ecoloan_rpcs_total", (("code", "OK"), ("method", "CreateQuote"))] == 1
    assert (
        m["ecoloan_rpcs_total", (("code", "FAILED_PRECONDITION"), ("method", "CreateQuote"))] == 1
    )
    assert m["ecoloan_rpcs_total", (("code", "OK"), ("method", "ListProducts"))] == 1
    assert m["ecoloan_rpc_duration_seconds_count", (("method", "CreateQuote"),)] == 2
    assert m["ecoloan_quotes_total", (("outcome", "quoted"), ("product", "lvtanrong"))] == 1
    refused = (("outcome", "CARBON_GRADE_INELIGIBLE"), ("product", "lvtanrong"))
    assert m["ecoloan_quotes_total", refused] == 1
    assert m["ecoloan_audit_log_records", ()] == 2  # the quote and the refusal
    assert m["ecoloan_audit_records_total", ()] == 2
    # Two batches, each signed before its reply: two checkpoints, two attest timings.
    assert m["ecoloan_audit_checkpoints_total", ()] == 2
    assert {k[1] for k in m if k[0] == "ecoloan_audit_attest_seconds"} == {
        (("quantile", "0.5"),),
        (("quantile", "0.99"),),
    }
    assert m["ecoloan_in_flight", (("kind", "binding"),)] == 0
    assert m["ecoloan_in_flight_limit", (("kind", "simulation"),)] == 2
    assert m["ecoloan_rejected_by_limit_total", (("kind", "binding"),)] == 0
    policy = next(k for k in m if k[0] == "ecoloan_policy_info")
    assert dict(policy[1])["version"] == "2026.1-default"


def test_product_ids_no_policy_names_are_one_series(server: SyncServer) -> None:
    # The label comes from the caller: 30 made-up products must not make 30 time series.
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.PricingServiceStub(channel)
        for i in range(30):
            request = lvtanrong(1)
            request.product_id = f"made-up-{i}"
            request.request_id = f"metrics-made-up-{i}"
            with pytest.raises(grpc.RpcError):
                stub.CreateQuote(request, timeout=10)
    assert server.metrics.port is not None
    m = _scrape(server.metrics.port)
    products = {dict(k[1])["product"] for k in m if k[0] == "ecoloan_quotes_total"}
    assert products == {"(other)"}
    assert m["ecoloan_quotes_total", (("outcome", "NOT_FOUND"), ("product", "(other)"))] == 30


def test_pricing_status_summarises_health_policy_log_and_load(
    server: SyncServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from pricing_service.cli.main import main  # noqa: PLC0415 - the CLI under test

    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        pb_grpc.PricingServiceStub(channel).CreateQuote(lvtanrong(2), timeout=10)
    url = f"http://127.0.0.1:{server.metrics.port}/metrics"
    assert main(["status", "--target", f"127.0.0.1:{server.port}", "--metrics", url]) == 0
    rows = {line[:21].strip(): line[21:].strip() for line in capsys.readouterr().out.splitlines()}
    assert rows["health"] == "SERVING"
    assert rows["policy"].startswith("2026.1-default (")
    assert rows["LPR 1Y"] == "3.00 %"
    assert rows["audit log records"] == "1"
    assert rows["RPCs: OK"] == "3"  # the quote, and status's own health check and policy
    assert rows["quotes: quoted"] == "1"
    assert rows["in flight: binding"] == "0 of 64, 0 refused"
