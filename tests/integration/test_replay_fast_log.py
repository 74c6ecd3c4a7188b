"""Replay of a log the service writes today (version 2 records): the fast path takes every
unaltered quote, and the report, of an intact log and of an altered one, is today's
(`replay_records` over `iter_records`) byte for byte, for any number of jobs; what-if
gives the rows it gives through the adapter."""

from __future__ import annotations

import json
import random
import shutil
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pricing_service.api.incoming import PbIncoming, decode_document
from pricing_service.audit.reader import iter_lines, iter_records
from pricing_service.audit.writer import AuditLogConfig, DurableAuditLog
from pricing_service.policy.store import default_policies, default_policy_bytes, load_policy_bytes
from pricing_service.quoting.replay import ArchivedPolicies, ReplayFilter, replay_records
from pricing_service.quoting.replay_fast import FastQuotes
from pricing_service.quoting.replay_jobs import replay_log
from pricing_service.quoting.service import QuoteService
from pricing_service.simulate.whatif import whatif

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import workload

SEED = 20261208
COUNT = 240


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fastlog") / "log"
    log = DurableAuditLog(
        AuditLogConfig(directory=directory, origin="test.example/fast", code_version="0.1.0")
    )
    service = QuoteService(default_policies(), log)
    rng = random.Random(SEED)
    kinds = [name for name, _ in workload.MIX]
    try:
        pending = []
        for i in range(COUNT):
            req = workload.make_request(rng, kinds[i % len(kinds)], i, SEED)
            if i % 10 == 9:
                req.term_months = 600  # a refusal
            if i % 7 == 0:
                req.ClearField("request_id")
            pending.append(service.begin_create(PbIncoming(req), "bank"))
        for p in pending:
            p.future.result()
    finally:
        log.close()
    return directory


def _today(logdir: Path, selection: ReplayFilter | None = None) -> dict[str, object]:
    return replay_records(
        iter_records(logdir), ArchivedPolicies(logdir), selection, decode=decode_document
    ).to_json()


def test_every_unaltered_quote_takes_the_fast_path(logdir: Path) -> None:
    fast = FastQuotes(ArchivedPolicies(logdir), ReplayFilter())
    report = replay_records([], ArchivedPolicies(logdir), decode=decode_document)
    took = [fast.replay(line.raw, seq, report) for seq, line in enumerate(iter_lines(logdir))]
    today = _today(logdir)
    assert sum(took) == today["quotes"] == COUNT - COUNT // 10
    assert today["differences"] == []
    assert replay_log(logdir, decode=decode_document).to_json() == today


def _alter(logdir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "log"
    shutil.copytree(logdir, copy)
    (segment,) = sorted((copy / "segments").iterdir())
    lines = segment.read_bytes().splitlines(keepends=True)
    edits: dict[int, Callable[[dict[str, Any]], None]] = {
        3: lambda r: r["response"].update(annual_rate="0.01"),
        17: lambda r: r["response"]["steps"][1].update(reason_zh="改"),
        40: lambda r: r["response"]["repayment"].update(total_interest_fen="1"),
        41: lambda r: r["request"].update(term_months=13),
        59: lambda r: r["error"].update(reason="OTHER"),  # a refusal (every 10th)
    }
    for i, edit in edits.items():
        data = json.loads(lines[i])
        edit(data)
        lines[i] = (
            json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
            + b"\n"
        )
    segment.write_bytes(b"".join(lines))
    return copy


def test_an_altered_log_is_reported_field_by_field_as_today(logdir: Path, tmp_path: Path) -> None:
    altered = _alter(logdir, tmp_path)
    today = _today(altered)
    fields = {(d["seq"], d["field"]) for d in today["differences"]}  # type: ignore[attr-defined]
    assert {
        (3, "response.annual_rate"),
        (17, "response.steps[1].reason_zh"),
        (40, "response.repayment.total_interest_fen"),
        (41, "response.term_months"),
        (59, "error.reason"),
    } <= fields
    for jobs, chunk in ((1, 4096), (2, 7), (3, 16)):
        assert (
            replay_log(altered, decode=decode_document, jobs=jobs, chunk=chunk).to_json() == today
        )
    for selection in (
        ReplayFilter(date_from=date(2025, 10, 1), date_to=date(2026, 1, 31)),
        ReplayFilter(product="mine_score"),
        ReplayFilter(borrower="91650000MA00000003"),
    ):
        assert replay_log(
            altered, selection, decode=decode_document, jobs=2, chunk=5
        ).to_json() == _today(altered, selection)


def test_whatif_on_the_fast_path_is_whatif_through_the_adapter(
    logdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drafts = [
        load_policy_bytes(default_policy_bytes())[0],
        load_policy_bytes(
            default_policy_bytes()
            .replace(b'step_bp = "1"', b'step_bp = "0.5"')
            .replace(b'floor = "0.80"', b'floor = "2.50"')
            .replace(b'cap = "8.00"', b'cap = "5.00"')
        )[0],
    ]
    fast = [whatif(iter_records(logdir), d, decode=decode_document) for d in drafts]
    # Every document through the adapter, as before the fast path.
    # (The module by name: the package re-exports a function of the same name.)
    module = sys.modules["pricing_service.simulate.whatif"]
    monkeypatch.setattr(module, "read_canonical", lambda _document: None)
    slow = [whatif(iter_records(logdir), d, decode=decode_document) for d in drafts]
    for f, s in zip(fast, slow, strict=True):
        assert f.rows == s.rows
        assert f.to_json() == s.to_json()
    assert fast[1].to_json()["changed"]
