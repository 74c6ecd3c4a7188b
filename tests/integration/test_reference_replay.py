"""A policy version that prices 绿碳融 off the LPR, over a real server: CreateQuote says which
reference priced each quote, the audit record carries it only for `base`, and the log (two
versions, both references) replays with zero differences, through the API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import PricingClient, carbon_grade, quote_request

from pricing_service.api.incoming import decode_document
from pricing_service.audit.reader import iter_records
from pricing_service.bootstrap import build_components, start_sync_server
from pricing_service.config import load_config
from pricing_service.policy.store import PolicySet, default_policy_bytes, load_policy_bytes
from pricing_service.quoting.replay import ArchivedPolicies, replay_records

BIN = Path(sys.executable).parent
ORIGIN = "test.example/pricing-audit/reference"
NAME = 'name_en = "Carbon-account loan (Lü Tan Rong)"'


def _base_version() -> bytes:
    """The default policy re-issued from 2026-07-01 with 绿碳融 priced off the LPR."""
    text = default_policy_bytes().decode()
    for old, new in (
        ('version = "2026.1-default"', 'version = "2026.2-lpr"'),
        ("effective_from = 2019-08-20", "effective_from = 2026-07-01"),
        (NAME, f'{NAME}\nreference = "base"'),
    ):
        assert text.count(old) == 1
        text = text.replace(old, new)
    return text.encode()


def _loan(when: str, i: int, rating: str = "AA") -> pb.CreateQuoteRequest:
    return quote_request(
        product_id="lvtanrong",
        borrower_id=f"XJ-ALU-{i}",
        credit_rating=rating,
        term_months=24,
        repayment="interest-only",
        principal_cny="1000000",
        request_id=f"reference-{i}",
        pricing_time=when,
        carbon_grade=carbon_grade(1, "2026-06-01", "changji-carbon-account"),
    )


@pytest.fixture(scope="module")
def quoted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[pb.Quote]]:
    audit_dir = tmp_path_factory.mktemp("reference") / "audit"
    policies = PolicySet(
        [load_policy_bytes(default_policy_bytes()), load_policy_bytes(_base_version())]
    )
    config = load_config(
        env={}, listen="127.0.0.1:0", audit_dir=str(audit_dir), audit_origin=ORIGIN
    )
    running = start_sync_server(build_components(config, policies=policies))
    try:
        with PricingClient(f"127.0.0.1:{running.port}") as client:
            quotes = [
                client.create_quote(_loan("2026-06-30T23:59:00+08:00", 0)).quote,
                client.create_quote(_loan("2026-07-01T00:01:00+08:00", 1)).quote,
                client.create_quote(_loan("2026-07-01T10:00:00+08:00", 2, "AAA")).quote,
            ]
    finally:
        running.stop(grace=1)
    return audit_dir, quotes


def test_create_quote_prices_each_version_off_its_reference(
    quoted: tuple[Path, list[pb.Quote]],
) -> None:
    _, (june, july, aaa) = quoted
    # AA, 24 months: ordinary 3.00 + 0.30 + 0.10 = 3.40 %. June: 3.40 - 2.00 = 1.40 %;
    # July, off the LPR: 3.00 - 2.00 = 1.00 % (concession 240 bp against 3.40 %).
    assert (june.annual_rate, june.ordinary_rate, june.concession_bp) == ("1.40", "3.40", "200")
    assert (july.annual_rate, july.ordinary_rate, july.concession_bp) == ("1.00", "3.40", "240")
    # AAA has no rating spread: 3.10 % ordinary, 1.00 % off the LPR, 210 bp saved.
    assert (aaa.annual_rate, aaa.ordinary_rate, aaa.concession_bp) == ("1.00", "3.10", "210")
    assert june.pricing_reference == pb.PRICING_REFERENCE_UNSPECIFIED
    assert july.pricing_reference == aaa.pricing_reference == pb.PRICING_REFERENCE_BASE
    assert "PRICING_REFERENCE" not in [s.code for s in june.steps]
    (step,) = [s for s in july.steps if s.code == "PRICING_REFERENCE"]
    assert (step.value, step.reason_en) == (
        "3.00",
        "Carbon-account loan (Lü Tan Rong): 200 bp below the 1Y LPR, "
        "without the rating and term spreads",
    )


def test_the_record_carries_the_reference_only_when_it_is_base(
    quoted: tuple[Path, list[pb.Quote]],
) -> None:
    logdir, _ = quoted
    responses = [r.record.response for r in iter_records(logdir)]
    assert [None if r is None else r.get("pricing_reference") for r in responses] == [
        None,
        "PRICING_REFERENCE_BASE",
        "PRICING_REFERENCE_BASE",
    ]


def test_a_log_of_both_references_replays_with_zero_differences(
    quoted: tuple[Path, list[pb.Quote]],
) -> None:
    logdir, _ = quoted
    report = replay_records(iter_records(logdir), ArchivedPolicies(logdir), decode=decode_document)
    assert report.differences == []
    assert (report.records, report.quotes, report.matched) == (3, 3, 3)
    result = subprocess.run(
        [str(BIN / "pricing"), "audit", "replay", str(logdir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["differences"] == []
