"""SimulateQuotes in a worker process answers byte for byte what the server's own process does.

One spawned worker serves the whole module (spawning costs about a second). The batch
mixes products, a loan the policy refuses, a loan without pricing_time (priced at the
batch's instant, which the server gives) and is compared with `Simulator.simulate` on
the same request, policies and instant; a draft policy, a batch over the limit, a bad
draft and a reload (a new policy set) are compared the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import carbon_grade, mine_score, quote_request

from pricing_service.api.simulating import Simulator
from pricing_service.api.simulation_pool import Serialized, SimulationPool, outcome
from pricing_service.domain.errors import FieldViolation, InvalidRequestError
from pricing_service.policy.store import (
    PolicySet,
    default_policies,
    default_policy_bytes,
    load_policy_bytes,
)
from pricing_service.quoting.refusals import SimulationUnavailableError

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
MAX_LOANS = 6


def _loans() -> list[pb.CreateQuoteRequest]:
    common: dict[str, Any] = {"borrower_id": "91650000MA0000000X", "credit_rating": "AA"}
    at = "2026-11-20T10:00:00+08:00"
    return [
        quote_request(
            product_id="standard", term_months=12, repayment="EQUAL_INSTALLMENT",
            principal_cny="1000000", pricing_time=at, **common,
        ),
        quote_request(
            product_id="lvtanrong", term_months=12, repayment="INTEREST_ONLY_BULLET",
            principal_cny="50000000", pricing_time=at,
            carbon_grade=carbon_grade(1, "2026-10-01", "changji-carbon"), **common,
        ),
        quote_request(
            product_id="mine_score", term_months=60, repayment="EQUAL_PRINCIPAL",
            principal_cny="80000000", pricing_time=at,
            mine_score=mine_score("92.5", 1, "2026-09-01"), **common,
        ),
        quote_request(  # refused: the term is outside the policy
            product_id="standard", term_months=999, repayment="EQUAL_INSTALLMENT",
            principal_cny="1000000", pricing_time=at, **common,
        ),
        quote_request(  # no pricing_time: the batch's instant
            product_id="standard", term_months=240, repayment="EQUAL_INSTALLMENT",
            principal_cny="3427000", **common,
        ),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def pool() -> Iterator[SimulationPool]:
    p = SimulationPool(1, MAX_LOANS)
    yield p
    p.close()


def _in_process(request: pb.SimulateQuotesRequest, policies: PolicySet) -> bytes:
    simulator = Simulator(lambda: policies, lambda: NOW, max_loans=MAX_LOANS)
    return simulator.simulate(request).SerializeToString()


def _violations(call: object) -> list[FieldViolation]:
    with pytest.raises(InvalidRequestError) as caught:
        call()  # type: ignore[operator]
    return list(caught.value.violations)


def test_worker_reply_is_the_in_process_reply(pool: SimulationPool) -> None:
    policies = default_policies()
    request = pb.SimulateQuotesRequest(loans=_loans())
    answer = pool.simulate(request.SerializeToString(), policies, NOW)
    expected = _in_process(request, policies)
    assert isinstance(answer, Serialized)
    assert answer.data == expected
    reply = pb.SimulateQuotesResponse.FromString(answer.data)
    assert [r.WhichOneof("result") for r in reply.results] == [
        "quote", "quote", "quote", "error", "quote"
    ]  # fmt: skip
    # 1Y LPR 3.00 % + 30 bp (AA), no term spread at 12 months, grade 1: -200 bp.
    assert reply.results[1].quote.annual_rate == "1.30"
    assert reply.results[4].quote.pricing_time.ToDatetime(UTC) == NOW
    assert answer.fields == {"loans": 5, "priced": 4} == outcome(reply)


def test_draft_policy_priced_in_the_worker(pool: SimulationPool) -> None:
    draft = default_policy_bytes().replace(b'version = "2026.1-default"', b'version = "draft-7"')
    assert draft != default_policy_bytes()
    request = pb.SimulateQuotesRequest(loans=_loans()[:2], draft_policy=draft)
    answer = pool.simulate(request.SerializeToString(), default_policies(), NOW)
    assert answer.data == _in_process(request, default_policies())
    reply = pb.SimulateQuotesResponse.FromString(answer.data)
    assert reply.draft_policy_version == "draft-7"
    assert answer.fields["draft_policy_digest"] == reply.draft_policy_digest


def test_whole_batch_errors_cross_the_process_boundary(pool: SimulationPool) -> None:
    policies = default_policies()
    too_many = pb.SimulateQuotesRequest(loans=_loans() + _loans())
    assert _violations(lambda: pool.simulate(too_many.SerializeToString(), policies, NOW)) == [
        FieldViolation("loans", "at most 6 loans per call, got 10")
    ]
    bad = pb.SimulateQuotesRequest(loans=_loans()[:1], draft_policy=b"version = ")
    in_worker = _violations(lambda: pool.simulate(bad.SerializeToString(), policies, NOW))
    assert in_worker == _violations(lambda: _in_process(bad, policies))
    assert in_worker
    assert all(v.field == "draft_policy" for v in in_worker)


def test_a_new_policy_set_reaches_the_worker(pool: SimulationPool) -> None:
    request = pb.SimulateQuotesRequest(loans=_loans()[:1])
    first = pool.simulate(request.SerializeToString(), default_policies(), NOW)
    raised = default_policy_bytes().replace(
        b'version = "2026.1-default"', b'version = "2026.2-reloaded"'
    )
    reloaded = PolicySet([load_policy_bytes(raised)])
    second = pool.simulate(request.SerializeToString(), reloaded, NOW)
    quote = pb.SimulateQuotesResponse.FromString(second.data).results[0].quote
    assert quote.policy_version == "2026.2-reloaded"
    assert second.data == _in_process(request, reloaded) != first.data


def test_a_killed_worker_is_unavailable_once_then_replaced() -> None:
    pool = SimulationPool(1, MAX_LOANS)
    try:
        request = pb.SimulateQuotesRequest(loans=_loans()[:1]).SerializeToString()
        before = pool.simulate(request, default_policies(), NOW)
        for pid in list(pool._executor._processes):  # the worker the first batch started
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(SimulationUnavailableError):
            pool.simulate(request, default_policies(), NOW)
        assert pool.simulate(request, default_policies(), NOW).data == before.data
    finally:
        pool.close()


def test_worker_leaves_with_its_server(tmp_path: Path) -> None:
    # A server killed with SIGKILL cannot stop its worker: the worker notices and exits.
    script = tmp_path / "server.py"
    script.write_text(
        "import datetime, time\n"
        "from pricing_service.api.simulation_pool import SimulationPool\n"
        "from pricing_service.policy.store import default_policies\n"
        "if __name__ == '__main__':  # spawned workers import this file\n"
        "    pool = SimulationPool(1, 1)\n"
        "    pool.simulate(b'', default_policies(), datetime.datetime.now(datetime.UTC))\n"
        "    print(*pool._executor._processes, flush=True)\n"
        "    time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
    ) as server:
        assert server.stdout is not None
        worker = int(server.stdout.readline())
        os.kill(worker, 0)  # alive
        server.kill()
    for _ in range(100):
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"worker {worker} outlived its server by 10 s")
