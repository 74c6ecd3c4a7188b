"""Replay: a log written under two policy versions re-prices to the same results;
an altered record shows up even when the attacker re-signs the log with its key."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import (
    FailedPrecondition,
    InvalidArgument,
    PricingClient,
    carbon_grade,
    mine_score,
    quote_request,
)

from pricing_service.api.incoming import decode_document
from pricing_service.audit.keys import default_key_file
from pricing_service.audit.note import Verifier
from pricing_service.audit.reader import iter_records
from pricing_service.audit.sink import AuditEvent
from pricing_service.audit.verify import verify_log
from pricing_service.audit.writer import AuditLogConfig, DurableAuditLog
from pricing_service.bootstrap import build_components, start_sync_server
from pricing_service.config import load_config
from pricing_service.policy.store import PolicySet, default_policy_bytes, load_policy_bytes
from pricing_service.quoting.replay import ArchivedPolicies, ReplayFilter, replay_records

BIN = Path(sys.executable).parent
ORIGIN = "test.example/pricing-audit/replay"


def _second_version() -> bytes:
    """The default policy re-issued from 2026-07-01 with a deeper 绿碳融 discount."""
    text = default_policy_bytes().decode()
    text = text.replace('version = "2026.1-default"', 'version = "2026.2-test"')
    text = text.replace("effective_from = 2019-08-20", "effective_from = 2026-07-01")
    text = text.replace('1 = "-200"', '1 = "-250"')
    assert '1 = "-250"' in text
    return text.encode()


def _requests() -> list[pb.CreateQuoteRequest]:
    out = []
    for i, when in enumerate(
        ["2026-03-02T10:00:00+08:00", "2026-06-30T23:59:00+08:00", "2026-07-01T00:01:00+08:00"]
    ):
        for grade in (1, 2):
            out.append(
                quote_request(
                    product_id="lvtanrong",
                    borrower_id=f"XJ-{i}-{grade}",
                    credit_rating="AA",
                    term_months=24,
                    repayment="equal-installment",
                    principal_cny="2000000",
                    upfront_fee_cny="5000",
                    request_id=f"replay-{i}-{grade}",
                    pricing_time=when,
                    carbon_grade=carbon_grade(grade, "2026-01-15", "changji-carbon-account"),
                )
            )
        out.append(
            quote_request(
                product_id="mine_score",
                borrower_id=f"MINE-{i}",
                credit_rating="BBB",
                term_months=72,
                repayment="equal-principal",
                principal_cny="76800000",
                request_id=f"replay-mine-{i}",
                pricing_time=when,
                mine_score=mine_score("87.5", 2, "2026-01-20"),
            )
        )
    return out


@pytest.fixture(scope="module")
def two_policy_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replay")
    audit_dir = root / "audit"
    policies = PolicySet(
        [load_policy_bytes(default_policy_bytes()), load_policy_bytes(_second_version())]
    )
    config = load_config(
        env={}, listen="127.0.0.1:0", audit_dir=str(audit_dir), audit_origin=ORIGIN
    )
    running = start_sync_server(build_components(config, policies=policies))
    try:
        with PricingClient(f"127.0.0.1:{running.port}") as client:
            rates = [client.create_quote(r).quote for r in _requests()]
            with pytest.raises(FailedPrecondition):  # grade 5: a refusal, logged
                client.create_quote(
                    quote_request(
                        product_id="lvtanrong",
                        borrower_id="XJ-REFUSED",
                        credit_rating="AA",
                        term_months=12,
                        repayment="interest-only",
                        principal_cny="100000",
                        pricing_time="2026-08-01T10:00:00+08:00",
                        carbon_grade=carbon_grade(5, "2026-01-15", "changji-carbon-account"),
                    )
                )
            with pytest.raises(InvalidArgument):
                client.create_quote(pb.CreateQuoteRequest(product_id="lvtanrong"))
            # A rating the policy does not know: the violation lists the policy's ratings,
            # which replay must list in the same order from the archived (JSON) policy.
            with pytest.raises(InvalidArgument):
                client.create_quote(
                    quote_request(
                        product_id="standard",
                        borrower_id="XJ-CCC",
                        credit_rating="CCC",
                        term_months=12,
                        repayment="interest-only",
                        principal_cny="100000",
                        pricing_time="2026-08-01T10:00:00+08:00",
                    )
                )
            # Before any policy: refused without a policy digest.
            with pytest.raises(FailedPrecondition):
                client.create_quote(
                    quote_request(
                        product_id="standard",
                        borrower_id="XJ-2001",
                        credit_rating="AA",
                        term_months=12,
                        repayment="interest-only",
                        principal_cny="100000",
                        pricing_time="2001-01-01T10:00:00+08:00",
                    )
                )
    finally:
        running.stop(grace=1)
    # The two versions really priced differently: -200 bp before July, -250 bp after.
    assert [q.annual_rate for q in rates[:2]] == ["1.40", "1.40"]
    assert [q.annual_rate for q in rates[6:8]] == ["0.90", "1.40"]
    return audit_dir


def test_two_policy_log_replays_with_zero_differences(two_policy_log: Path) -> None:
    report = replay_records(
        iter_records(two_policy_log), ArchivedPolicies(two_policy_log), decode=decode_document
    )
    assert report.differences == []
    assert (report.records, report.quotes, report.refusals) == (13, 9, 4)
    assert report.matched == 13
    assert len(report.policies) == 2


def test_replay_filters_by_date_product_and_borrower(two_policy_log: Path) -> None:
    archive = ArchivedPolicies(two_policy_log)
    since_july = replay_records(
        iter_records(two_policy_log),
        archive,
        ReplayFilter(date_from=datetime(2026, 7, 1, tzinfo=UTC).date()),
        decode=decode_document,
    )
    # Three quotes of 2026-07-01, the grade-5 and unknown-rating refusals of 2026-08-01,
    # and the malformed request priced at the server clock (today).
    assert (since_july.selected, since_july.differences) == (6, [])
    mines = replay_records(
        iter_records(two_policy_log),
        archive,
        ReplayFilter(product="mine_score"),
        decode=decode_document,
    )
    assert mines.selected == 3
    one = replay_records(
        iter_records(two_policy_log),
        archive,
        ReplayFilter(borrower="XJ-1-2"),
        decode=decode_document,
    )
    assert one.selected == 1


def test_replay_cli_reports_json_and_exits_zero(two_policy_log: Path) -> None:
    result = subprocess.run(
        [str(BIN / "pricing"), "audit", "replay", str(two_policy_log), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["selected"], report["mismatched_records"], report["differences"]) == (13, 0, [])


def test_altered_and_resigned_record_still_shows_in_replay(
    two_policy_log: Path, tmp_path: Path
) -> None:
    # The attacker holds the signing key: they rewrite the log from scratch with one
    # response altered, so every hash and checkpoint is consistent and signed.
    forged = tmp_path / "forged"
    forged.mkdir()
    # The key is kept outside the log (default_key_file); the attacker has it anyway.
    (forged / "audit.skey").write_bytes(default_key_file(two_policy_log).read_bytes())
    (forged / "audit.vkey").write_bytes((two_policy_log / "audit.vkey").read_bytes())
    (forged / "policies").mkdir()
    for policy in (two_policy_log / "policies").iterdir():
        (forged / "policies" / policy.name).write_bytes(policy.read_bytes())
    records = list(iter_records(two_policy_log))
    victim = records[3]
    assert victim.data["kind"] == "quote"
    with DurableAuditLog(
        AuditLogConfig(
            directory=forged,
            origin=ORIGIN,
            code_version=victim.data["code_version"],
            fsync=False,
        )
    ) as log:
        for rec in records:
            data = rec.data
            response = data["response"]
            if rec.seq == victim.seq:
                response = dict(response, annual_rate="0.01")
            log.submit(
                AuditEvent(
                    kind=data["kind"],
                    request=data["request"],
                    response=response,
                    error=data["error"],
                    caller=data["caller"],
                    policy_digest=data["policy_digest"],
                    time=data["time"],
                )
            ).result(timeout=10)
        log.checkpoint(timeout=10)

    verifier = Verifier.from_vkey((forged / "audit.vkey").read_text().strip())
    assert verify_log(forged, verifier).ok  # the signatures cannot catch a key holder...
    report = replay_records(iter_records(forged), ArchivedPolicies(forged), decode=decode_document)
    assert [(d.seq, d.field, d.recorded, d.replayed) for d in report.differences] == [
        (victim.seq, "response.annual_rate", "0.01", victim.data["response"]["annual_rate"])
    ]  # ...but re-pricing does.
    result = subprocess.run(
        [str(BIN / "pricing"), "audit", "replay", str(forged)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "response.annual_rate" in result.stdout
