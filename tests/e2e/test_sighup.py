"""SIGHUP reloads the policy files: a valid change switches at once, an invalid file is
refused with every problem logged while the old policies keep serving; the process never
dies of it, and its log replays with zero differences under the versions that priced it."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from ecoloan_client import PricingClient
from test_sigterm import BIN, ServerProcess, lvtanrong, start

from pricing_service.api.incoming import decode_document
from pricing_service.audit.reader import iter_records
from pricing_service.policy.store import default_policy_bytes
from pricing_service.quoting.replay import ArchivedPolicies, replay_records

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

DEFAULT = default_policy_bytes().decode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ServerProcess, str, Path]]:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "policy.toml").write_text(DEFAULT)
    exe = shutil.which("pricing-service", path=str(BIN))
    assert exe is not None
    for proc, target in start([exe], tmp_path, ("--policy", str(policies))):
        yield proc, target, policies


def test_sighup_switches_to_a_valid_policy_and_refuses_an_invalid_one(
    server: tuple[ServerProcess, str, Path], tmp_path: Path
) -> None:
    proc, target, policies = server
    with PricingClient(target) as client:
        before = client.create_quote(lvtanrong("hup-1")).quote
        assert (before.annual_rate, before.policy_version) == ("1.30", "2026.1-default")
        draft = DEFAULT.replace('1 = "-200"', '1 = "-150"').replace(
            'version = "2026.1-default"', 'version = "2026.1-hup"'
        )
        assert draft != DEFAULT
        (policies / "policy.toml").write_text(draft)
        proc.proc.send_signal(signal.SIGHUP)
        reloaded = proc.wait_for("policy_reloaded")
        assert (reloaded["changed"], reloaded["version"]) == (True, "2026.1-hup")
        after = client.create_quote(lvtanrong("hup-2")).quote
        assert (after.annual_rate, after.policy_version) == ("1.80", "2026.1-hup")
        (policies / "policy.toml").write_text(draft.replace('version = "2026.1-hup"', ""))
        proc.proc.send_signal(signal.SIGHUP)
        refused = proc.wait_for("policy_reload_refused")
        assert any("version" in problem for problem in refused["problems"])
        still = client.create_quote(lvtanrong("hup-3")).quote
        assert (still.annual_rate, still.policy_version) == ("1.80", "2026.1-hup")
        assert client.health() == "SERVING"
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(30) == 0
    logdir = tmp_path / "audit"
    report = replay_records(iter_records(logdir), ArchivedPolicies(logdir), decode=decode_document)
    # Three quotes and the one switch that was made (the refused reload wrote nothing).
    assert (report.records, report.matched, report.differences) == (4, 3, [])
    assert (report.quotes, report.policy_switches) == (3, 1)
    assert len(report.policies) == 2
    switch = next(r.data for r in iter_records(logdir) if r.data["kind"] == "policy_switch")
    assert (switch["caller"], switch["peer"], switch["policies"]) == (
        "signal:SIGHUP",
        "",
        {
            "old": {"digest": before.policy_digest, "version": "2026.1-default"},
            "new": {"digest": after.policy_digest, "version": "2026.1-hup"},
        },
    )
