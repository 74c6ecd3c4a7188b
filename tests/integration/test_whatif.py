"""What-if over a real server's audit log: its own policy changes nothing; a draft
with a deeper grade-1 discount moves exactly the grade-1 quotes, by exactly 50 bp."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import (
    FailedPrecondition,
    InvalidArgument,
    PricingClient,
    carbon_grade,
    quote_request,
)

from pricing_service.api.incoming import decode_document
from pricing_service.audit.reader import iter_records
from pricing_service.bootstrap import build_components, start_sync_server
from pricing_service.cli.main import main
from pricing_service.config import load_config
from pricing_service.policy.store import default_policies, default_policy_bytes, load_policy_bytes
from pricing_service.quoting.replay import ReplayFilter
from pricing_service.simulate.whatif import Outcome, whatif

ORIGIN = "test.example/pricing-audit/whatif"
WHEN = "2026-11-20T10:00:00+08:00"


def _draft(grade_one_bp: str) -> bytes:
    text = default_policy_bytes().decode()
    text = text.replace('version = "2026.1-default"', 'version = "2026.2-draft"')
    text = text.replace('1 = "-200"', f'1 = "{grade_one_bp}"')
    assert f'1 = "{grade_one_bp}"' in text
    return text.encode()


def _loan(grade: int, i: int) -> pb.CreateQuoteRequest:
    return quote_request(
        product_id="lvtanrong",
        borrower_id=f"XJ-{grade}-{i}",
        credit_rating="AA",
        term_months=12,
        repayment="interest-only",
        principal_cny="1000000",
        pricing_time=WHEN,
        carbon_grade=carbon_grade(grade, "2026-06-01", "changji-carbon-account"),
    )


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    audit_dir = tmp_path_factory.mktemp("whatif") / "audit"
    config = load_config(
        env={}, listen="127.0.0.1:0", audit_dir=str(audit_dir), audit_origin=ORIGIN
    )
    running = start_sync_server(build_components(config, policies=default_policies()))
    try:
        with PricingClient(f"127.0.0.1:{running.port}") as client:
            for grade in (1, 2, 3):
                for i in range(2):
                    client.create_quote(_loan(grade, i))
            with pytest.raises(FailedPrecondition):
                client.create_quote(_loan(4, 0))
            with pytest.raises(InvalidArgument):
                client.create_quote(pb.CreateQuoteRequest(product_id="lvtanrong"))
    finally:
        running.stop(grace=1)
    return audit_dir


def test_whatif_under_the_log_own_policy_changes_nothing(logdir: Path) -> None:
    (policy,) = default_policies().versions
    result = whatif(iter_records(logdir), policy, decode=decode_document)
    assert result.records == 8
    assert result.selected == 8
    assert result.changed == []
    summary = result.to_json()
    assert summary["unchanged"] == 8
    assert summary["first_year_concession_fen"] == {
        "actual": 6 * 2_000_000,  # 1,000,000 CNY x 2.00% for 12 months, interest-only
        "draft": 6 * 2_000_000,
        "change": 0,
    }
    statuses = [r.actual.status for r in result.rows]
    assert statuses == ["PRICED"] * 6 + ["CARBON_GRADE_INELIGIBLE", "INVALID_ARGUMENT"]


def test_whatif_deeper_grade_one_discount_moves_grade_one_only(logdir: Path) -> None:
    draft, _ = load_policy_bytes(_draft("-250"))
    result = whatif(iter_records(logdir), draft, decode=decode_document)
    changed = result.changed
    assert [r.borrower_id for r in changed] == ["XJ-1-0", "XJ-1-1"]
    for row in changed:
        assert row.actual == Outcome("PRICED", 1_300_000, 2_000_000, 2_000_000)
        assert row.draft == Outcome("PRICED", 800_000, 2_500_000, 2_500_000)
    summary = result.to_json()
    assert summary["rate_down"] == 2
    assert summary["rate_up"] == 0
    assert summary["first_year_concession_fen"]["change"] == 1_000_000
    assert summary["draft_policy_version"] == "2026.2-draft"


def test_whatif_under_a_draft_priced_off_the_lpr_moves_every_carbon_quote(logdir: Path) -> None:
    # The same -200 bp taken from the LPR: 3.00 - 2.00 = 1.00 % instead of 1.30 %; the
    # concession against the ordinary 3.30 % grows to 230 bp (23,000.00 CNY a year).
    name = 'name_en = "Carbon-account loan (Lü Tan Rong)"'
    text = default_policy_bytes().decode().replace(name, f'{name}\nreference = "base"')
    draft, _ = load_policy_bytes(text.encode())
    result = whatif(iter_records(logdir), draft, decode=decode_document)
    assert len(result.changed) == 6
    for row in result.changed:
        assert row.actual == Outcome("PRICED", 1_300_000, 2_000_000, 2_000_000)
        assert row.draft == Outcome("PRICED", 1_000_000, 2_300_000, 2_300_000)
    assert result.to_json()["first_year_concession_fen"]["change"] == 6 * 300_000


def test_whatif_selects_by_borrower_and_sees_eligibility_flips(logdir: Path) -> None:
    text = default_policy_bytes().decode().replace('3 = "-200"', '3 = "-200"\n4 = "-100"')
    draft, _ = load_policy_bytes(text.encode())
    result = whatif(
        iter_records(logdir), draft, ReplayFilter(borrower="XJ-4-0"), decode=decode_document
    )
    assert result.selected == 1
    (row,) = result.rows
    assert row.actual == Outcome("CARBON_GRADE_INELIGIBLE")
    assert row.draft == Outcome("PRICED", 2_300_000, 1_000_000, 1_000_000)
    assert result.to_json()["now_priced"] == 1


def test_whatif_command_writes_rows_summary_and_report(logdir: Path, tmp_path: Path) -> None:
    draft = tmp_path / "draft.toml"
    draft.write_bytes(_draft("-250"))
    out = tmp_path / "out"
    assert main(["simulate", "whatif", str(logdir), "--draft", str(draft), "--out", str(out)]) == 0
    with (out / "whatif.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8
    changed = [r for r in rows if r["changed"] == "yes"]
    assert [(r["borrower_id"], r["actual_rate"], r["draft_rate"]) for r in changed] == [
        ("XJ-1-0", "1.30", "0.80"),
        ("XJ-1-1", "1.30", "0.80"),
    ]
    assert [r["rate_change_bp"] for r in changed] == ["-50", "-50"]
    summary = json.loads((out / "whatif.json").read_text())
    assert summary["changed"] == 2
    assert "What-if" in (out / "report.html").read_text(encoding="utf-8")
