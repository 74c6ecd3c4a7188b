"""What a live server writes to its audit log beyond quotes and refusals: identity and peer
as separate fields, a denial record per denied CreateQuote (bounded per caller), and a
policy_switch record per reload; verify and replay take a log holding every kind."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan.pricing.v1 import pricing_service_pb2_grpc as pb_grpc
from live_support import FIXED_NOW

from pricing_service.api.incoming import decode_document
from pricing_service.audit.keys import load_verifier
from pricing_service.audit.reader import LogRecord, iter_records
from pricing_service.audit.record import RecordV2
from pricing_service.audit.verify import verify_log
from pricing_service.bootstrap import SyncServer, build_components, start_sync_server
from pricing_service.cli.serve import _reload_on_sighup
from pricing_service.config import load_config
from pricing_service.policy.store import default_policy_bytes
from pricing_service.quoting.replay import ArchivedPolicies, replay_records
from pricing_service.quoting.replay_jobs import replay_log

TOKENS = {"core-banking-01": "quoter-token", "product-team": "sim-token", "operator": "ops-token"}
TABLE: dict[str, Any] = {
    "permissions": {
        "core-banking-01": ["quote:standard", "read"],
        "product-team": ["simulate", "describe"],
        "operator": ["reload"],
    },
    "tokens": {name: hashlib.sha256(t.encode()).hexdigest() for name, t in TOKENS.items()},
}
PEER = re.compile(r"ipv4:127\.0\.0\.1:\d+")


@contextmanager
def serving(directory: Path, **settings: Any) -> Iterator[tuple[SyncServer, grpc.Channel]]:
    """A server with the table above and a durable log in `directory`; stopped (its log
    closed, so every submitted record is on disk) when the block ends."""
    config = load_config(
        env={},
        listen="127.0.0.1:0",
        audit_dir=str(directory),
        access=TABLE,
        grace_seconds=1,
        **settings,
    )
    running = start_sync_server(build_components(config, clock=lambda: FIXED_NOW))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield running, channel
    finally:
        running.stop(grace=1)


def loan(request_id: str = "rec-1") -> pb.CreateQuoteRequest:
    req = pb.CreateQuoteRequest(
        request_id=request_id,
        borrower_id="B-RECORDS",
        product_id="standard",
        credit_rating="AAA",
        principal_fen=10_000_000,
        term_months=12,
        repayment_method=pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET,
    )
    req.pricing_time.FromJsonString("2026-11-20T02:00:00Z")
    return req


def loan_document(request_id: str = "rec-1") -> dict[str, Any]:
    return {
        "borrower_id": "B-RECORDS",
        "credit_rating": "AAA",
        "pricing_time": "2026-11-20T02:00:00Z",
        "principal_fen": "10000000",
        "product_id": "standard",
        "repayment_method": "REPAYMENT_METHOD_INTEREST_ONLY_BULLET",
        "request_id": request_id,
        "term_months": 12,
    }


def create(channel: grpc.Channel, who: str, request: pb.CreateQuoteRequest) -> Any:
    """The reply, or the status code of the failed call."""
    stub = pb_grpc.PricingServiceStub(channel)
    metadata = (("authorization", f"Bearer {TOKENS[who]}"),)
    try:
        return stub.CreateQuote(request, metadata=metadata, timeout=10)
    except grpc.RpcError as exc:
        return cast(grpc.Call, exc).code()


def records(directory: Path) -> list[LogRecord]:
    return list(iter_records(directory))


def test_a_denied_create_quote_leaves_one_denial_record(tmp_path: Path) -> None:
    with serving(tmp_path) as (_, channel):
        assert create(channel, "product-team", loan()) is grpc.StatusCode.PERMISSION_DENIED
        quoted = create(channel, "core-banking-01", loan("rec-2"))
        assert quoted.quote.annual_rate == "3.00"
    denial, quote = (r.record for r in records(tmp_path))
    assert isinstance(denial, RecordV2)
    assert isinstance(quote, RecordV2)
    assert (denial.kind, denial.caller, denial.request, denial.response) == (
        "denial",
        "product-team",
        loan_document(),
        None,
    )
    assert denial.error == {
        "code": "PERMISSION_DENIED",
        "message": "caller 'product-team' may not call CreateQuote of 'standard'",
        "reason": "PERMISSION_DENIED",
    }
    assert (denial.policy_digest, denial.policies, denial.time) == (
        None,
        None,
        "2026-11-20T02:00:00Z",
    )
    assert PEER.fullmatch(denial.peer), denial.peer
    # A quote names its caller by identity alone; the peer is its own field.
    assert (quote.kind, quote.caller, quote.quote_id) == (
        "quote",
        "core-banking-01",
        quoted.quote.quote_id,
    )
    assert PEER.fullmatch(quote.peer), quote.peer


def test_a_flood_of_denials_records_the_bucket_and_counts_the_rest(tmp_path: Path) -> None:
    # A bucket of 5 that refills once in 1,000 s: exactly 5 of any burst are recorded.
    with serving(tmp_path, audit_denials_per_second=0.001, audit_denials_burst=5) as (
        running,
        channel,
    ):
        codes = [create(channel, "product-team", loan(f"flood-{i}")) for i in range(50)]
        assert codes == [grpc.StatusCode.PERMISSION_DENIED] * 50
        # The flood never holds up an allowed caller.
        assert create(channel, "core-banking-01", loan("allowed-1")).quote.annual_rate == "3.00"
    kinds = [
        (r.record.kind, r.record.caller, (r.record.request or {}).get("request_id"))
        for r in records(tmp_path)
    ]
    assert kinds == [("denial", "product-team", f"flood-{i}") for i in range(5)] + [
        ("quote", "core-banking-01", "allowed-1")
    ]
    registry = running.metrics.registry
    assert registry.get_sample_value("ecoloan_audit_denials_recorded_total") == 5
    assert registry.get_sample_value("ecoloan_audit_denials_not_recorded_total") == 45


def test_a_denied_request_id_still_prices_for_a_permitted_caller_after_restart(
    tmp_path: Path,
) -> None:
    with serving(tmp_path) as (_, channel):
        assert (
            create(channel, "product-team", loan("shared-1")) is grpc.StatusCode.PERMISSION_DENIED
        )
    # The restart indexes the log's request ids: the denial must not enter the index.
    with serving(tmp_path) as (_, channel):
        first = create(channel, "core-banking-01", loan("shared-1"))
        again = create(channel, "core-banking-01", loan("shared-1"))
    assert first.quote.annual_rate == "3.00"
    assert again.quote.quote_id == first.quote.quote_id  # a retry, not a second quote
    assert [r.record.kind for r in records(tmp_path)] == ["denial", "quote"]
    report = replay_records(
        iter_records(tmp_path), ArchivedPolicies(tmp_path), decode=decode_document
    )
    assert (report.records, report.selected, report.quotes, report.denials) == (2, 1, 1, 1)
    assert (report.matched, report.differences) == (1, [])
    verified = verify_log(tmp_path, load_verifier(tmp_path / "audit.vkey"), full=True)
    assert (verified.ok, verified.kinds) == (True, {"denial": 1, "quote": 1})


def test_unauthenticated_calls_are_not_recorded(tmp_path: Path) -> None:
    with serving(tmp_path) as (_, channel):
        stub = pb_grpc.PricingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreateQuote(loan(), metadata=(("authorization", "Bearer nope"),), timeout=10)
        assert cast(grpc.Call, caught.value).code() is grpc.StatusCode.UNAUTHENTICATED
        assert create(channel, "core-banking-01", loan("after")).quote.annual_rate == "3.00"
    assert [r.record.kind for r in records(tmp_path)] == ["quote"]


def _reload(channel: grpc.Channel) -> Any:
    stub = pb_grpc.PricingServiceStub(channel)
    metadata = (("authorization", f"Bearer {TOKENS['operator']}"),)
    try:
        return stub.ReloadPolicy(pb.ReloadPolicyRequest(), metadata=metadata, timeout=10)
    except grpc.RpcError as exc:
        return cast(grpc.Call, exc).code()


DEFAULT = default_policy_bytes().decode()


def _version(name: str) -> str:
    return DEFAULT.replace('version = "2026.1-default"', f'version = "{name}"')


def test_each_reload_that_switches_writes_one_policy_switch_record(tmp_path: Path) -> None:
    policies, logdir = tmp_path / "policies", tmp_path / "audit"
    policies.mkdir()
    (policies / "policy.toml").write_text(DEFAULT)
    with serving(logdir, policy_paths=str(policies)) as (running, channel):
        before = create(channel, "core-banking-01", loan("before")).quote
        (policies / "policy.toml").write_text(_version("2026.1-rpc"))
        assert _reload(channel).changed is True
        assert _reload(channel).changed is False  # the same set again: no switch, no record
        (policies / "policy.toml").write_text(_version("2026.1-rpc").replace("effective_from", "x"))
        assert _reload(channel) is grpc.StatusCode.FAILED_PRECONDITION  # refused: no record
        middle = create(channel, "core-banking-01", loan("middle")).quote
        (policies / "policy.toml").write_text(_version("2026.1-hup"))
        reloader = running.components.reloader
        assert reloader is not None
        _reload_on_sighup(reloader)  # what SIGHUP runs
        after = create(channel, "core-banking-01", loan("after")).quote
    logged = [r.record for r in records(logdir)]
    assert [r.kind for r in logged] == ["quote", "policy_switch", "quote", "policy_switch", "quote"]
    assert (before.policy_version, middle.policy_version, after.policy_version) == (
        "2026.1-default",
        "2026.1-rpc",
        "2026.1-hup",
    )
    by_rpc, by_signal = (r for r in logged if isinstance(r, RecordV2) and r.kind == "policy_switch")
    assert (by_rpc.caller, by_rpc.time, by_rpc.policies) == (
        "operator",
        "2026-11-20T02:00:00Z",
        {
            "old": {"digest": before.policy_digest, "version": "2026.1-default"},
            "new": {"digest": middle.policy_digest, "version": "2026.1-rpc"},
        },
    )
    assert PEER.fullmatch(by_rpc.peer), by_rpc.peer
    assert (by_signal.caller, by_signal.peer, by_signal.policies) == (
        "signal:SIGHUP",
        "",
        {
            "old": {"digest": middle.policy_digest, "version": "2026.1-rpc"},
            "new": {"digest": after.policy_digest, "version": "2026.1-hup"},
        },
    )
    report = replay_records(iter_records(logdir), ArchivedPolicies(logdir), decode=decode_document)
    assert (report.records, report.selected, report.quotes, report.policy_switches) == (5, 3, 3, 2)
    assert (report.matched, report.differences, len(report.policies)) == (3, [], 3)
    # Several processes, one record per chunk: the same counts, kinds and all.
    assert replay_log(logdir, decode=decode_document, jobs=2, chunk=1).to_json() == report.to_json()
    verified = verify_log(logdir, load_verifier(logdir / "audit.vkey"), full=True)
    assert (verified.ok, verified.kinds) == (True, {"policy_switch": 2, "quote": 3})
    # Each switch's new version is in the archive the moment it is announced.
    archived = {p.name for p in (logdir / "policies").iterdir()}
    assert archived == {f"{q.policy_digest}.json" for q in (before, middle, after)}
