"""A log written by the code of 2026-12-07 (tests/fixtures/audit_log_2026_12) keeps
verifying and replaying: record format changes must read old logs as they were."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "audit_log_2026_12"
SEGMENT_SHA256 = "412143b7e3073328383eb6ac3b0160f9729329beb6fc93b1408f063c43dfa444"


@pytest.fixture
def old_log(tmp_path: Path) -> Path:
    """A copy of the fixture, so no run can write into the committed one."""
    copy = tmp_path / "audit_log_2026_12"
    shutil.copytree(FIXTURE, copy)
    return copy


def _pricing(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "pricing"), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_fixture_segment_is_the_committed_bytes() -> None:
    segment = FIXTURE / "segments" / "00000000000000000000.jsonl"
    assert hashlib.sha256(segment.read_bytes()).hexdigest() == SEGMENT_SHA256


def test_old_log_verifies_in_full(old_log: Path) -> None:
    result = _pricing(
        "audit",
        "verify",
        "--full",
        "--json",
        "--public-key",
        str(old_log / "audit.vkey"),
        str(old_log),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["ok"], report["records"], report["segments"], report["checkpoints"]) == (
        True,
        60,
        1,
        60,
    )
    assert (report["verified_size"], report["uncovered"], report["first_bad_record"]) == (
        60,
        0,
        None,
    )
    assert (report["checkpoint_problems"], report["other_problems"]) == ([], [])


def test_old_log_replays_with_zero_differences(old_log: Path) -> None:
    result = _pricing("audit", "replay", "--json", str(old_log))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("records", "selected", "quotes", "refusals", "matched")} == {
        "records": 60,
        "selected": 60,
        "quotes": 45,
        "refusals": 15,
        "matched": 60,
    }
    assert (report["mismatched_records"], report["differences"]) == (0, [])
    assert report["policies"] == [
        "bd4d27e1ca10fb56b025dffcea01ceed697cdfb622b9f05f68b7c3c4b3f03371"
    ]
