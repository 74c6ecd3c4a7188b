"""SimulateQuotes and DescribePolicy.policy_document over a real server and the typed client.

Expected numbers come from the shipped default policy, as in test_rpcs.py: on
2026-11-20 the 1Y LPR is 3.00 %; AA adds 30 bp; 12 months add no term spread; 绿碳融
grades 1-3 take -200 bp. A grade-1 AA 12-month 绿碳融 loan is therefore 3.30 % ordinary
and 1.30 % quoted.

The module's server allows 5 loans per call (PRICING_SIMULATE_MAX_LOANS), so the limit
is tested with 6 loans instead of 10,001.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PricingClient,
    ResourceExhausted,
    Unavailable,
    Unknown,
    carbon_grade,
    quote_request,
)
from ecoloan_client.simulation import simulation_from_pb
from live_support import FAST_BACKOFF, FIXED_NOW, LiveServer

from pricing_service.audit.writer import DurableAuditLog
from pricing_service.bootstrap import build_components, start_aio_server, start_sync_server
from pricing_service.config import load_config
from pricing_service.domain.policy import Policy
from pricing_service.policy.store import default_policies, default_policy_bytes, load_policy_bytes

PRICING_TIME = "2026-11-20T10:00:00+08:00"
POLICY_VERSION = "2026.1-default"
LIMIT = 5
METHOD = "/ecoloan.pricing.v1.PricingService/SimulateQuotes"


@dataclasses.dataclass
class SimServer:
    live: LiveServer
    log_path: Path

    @property
    def audit_size(self) -> int:
        sink = self.live.running.components.sink
        assert isinstance(sink, DurableAuditLog)
        return sink.size

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def sim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    """A real sync server with a durable audit log and a 5-loan simulation limit."""
    audit_dir = tmp_path_factory.mktemp("audit")
    config = load_config(
        env={"PRICING_SIMULATE_MAX_LOANS": str(LIMIT)},
        listen="127.0.0.1:0",
        audit_dir=str(audit_dir),
        grace_seconds=1,
    )
    assert config.simulate_max_loans == LIMIT
    log_path = audit_dir.parent / f"{audit_dir.name}-server.log"
    previous = structlog.get_config()
    with log_path.open("w") as log_file:
        # JSON lines, so the canonical per-RPC line can be read back field by field.
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            logger_factory=structlog.WriteLoggerFactory(file=log_file),
        )
        running = start_sync_server(build_components(config, clock=lambda: FIXED_NOW))
        try:
            yield SimServer(LiveServer(running, f"127.0.0.1:{running.port}"), log_path)
        finally:
            running.stop(grace=1)
            structlog.configure(**previous)


@pytest.fixture
def sim(sim_server: SimServer) -> Iterator[PricingClient]:
    with PricingClient(
        sim_server.live.target, default_timeout=10.0, backoff=FAST_BACKOFF, caller_id="pytest"
    ) as c:
        yield c


def lvtanrong(**overrides: Any) -> pb.CreateQuoteRequest:
    """A grade-1 AA 12-month 1,000,000 CNY 绿碳融 loan."""
    fields: dict[str, Any] = {
        "product_id": "lvtanrong",
        "borrower_id": "XJ-CJ-ALU-0001",
        "credit_rating": "AA",
        "principal_cny": "1000000",
        "term_months": 12,
        "repayment": "equal-installment",
        "pricing_time": PRICING_TIME,
        "carbon_grade": carbon_grade(1, "2026-09-30", "changji-carbon-account"),
    }
    fields.update(overrides)
    return quote_request(**fields)


def invalid_loan() -> pb.CreateQuoteRequest:
    return pb.CreateQuoteRequest(
        borrower_id="",
        product_id="lvtanrong",
        credit_rating="AA",
        principal_fen=0,
        term_months=0,
        carbon_grade=pb.CarbonGrade(grade=9, assessed_on="2026-9-30", platform_id="p"),
    )


INVALID_VIOLATIONS = [
    ("borrower_id", "required"),
    ("principal_fen", "must be > 0"),
    ("term_months", "must be 1 to 360"),
    ("repayment_method", "unknown or unspecified value 0"),
    ("carbon_grade.grade", "must be 1 to 5"),
    ("carbon_grade.assessed_on", "not a date YYYY-MM-DD: '2026-9-30'"),
]


def draft_toml(*replacements: tuple[str, str]) -> bytes:
    """The default policy document with exact text replacements (each must apply)."""
    text = default_policy_bytes().decode()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()


def comparable(policy: Policy) -> dict[str, object]:
    """A policy's fields by value: FixingTable and ScoreCurve compare by identity."""
    fields = {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy) if f.compare}
    fields["fixings"] = policy.fixings.fixings
    fields["products"] = {
        pid: (
            dataclasses.replace(p, curve=None),
            p.curve.anchors if p.curve is not None else None,
        )
        for pid, p in policy.products.items()
    }
    return fields


# -- a mixed batch ---------------------------------------------------------------------------


def test_mixed_batch_answers_each_loan_in_order(sim: PricingClient) -> None:
    no_time = lvtanrong(request_id="sim-ignored-2")
    no_time.ClearField("pricing_time")
    loans = [
        lvtanrong(request_id="sim-ignored-1"),
        lvtanrong(carbon_grade=carbon_grade(4, "2026-09-30", "p")),
        invalid_loan(),
        lvtanrong(product_id="green-bond"),
        no_time,
    ]
    result = sim.simulate_quotes(loans)

    assert result.indicative is True
    assert (result.draft_policy_version, result.draft_policy_digest) == ("", "")
    assert [r.index for r in result.results] == [0, 1, 2, 3, 4]
    assert [r.ok for r in result.results] == [True, False, False, False, True]

    q = result.results[0].quote
    assert q is not None
    assert (q.annual_rate, q.ordinary_rate, q.concession_bp) == ("1.30", "3.30", "200")
    assert (q.quote_id, q.request_id) == ("", "")  # nothing binding, nothing to look up
    assert (q.policy_version, q.policy_digest) == (
        POLICY_VERSION,
        default_policies().versions[0].digest,
    )
    assert [(s.code, s.value) for s in q.steps] == [
        ("BASE_RATE", "3.00"),
        ("STANDARD_SPREAD", "30"),
        ("ORDINARY_RATE", "3.30"),
        ("CARBON_GRADE", "1"),
        ("CARBON_ADJUSTMENT", "-200"),
        ("ROUNDING", "1.30"),
        ("CONCESSION", "200"),
    ]
    assert (q.repayment.first_payment_fen, q.first_year_concession_fen) == (8_392_130, 1_090_935)

    ineligible = result.results[1].error
    assert isinstance(ineligible, FailedPrecondition)
    assert ineligible.code is grpc.StatusCode.FAILED_PRECONDITION
    assert ineligible.reason == "CARBON_GRADE_INELIGIBLE"
    assert ineligible.metadata == {"grade": "4", "eligible_grades": "1, 2, 3"}
    assert ineligible.domain == "pricing.ecoloan.example"

    invalid = result.results[2].error
    assert isinstance(invalid, InvalidArgument)
    assert invalid.field_violations == INVALID_VIOLATIONS

    unknown = result.results[3].error
    assert isinstance(unknown, NotFound)
    assert (unknown.resource_type, unknown.resource_name) == ("product", "green-bond")

    # Without pricing_time: the server's clock, 2026-11-20 10:00 Beijing time.
    clocked = result.results[4].quote
    assert clocked is not None
    assert clocked.pricing_time.ToDatetime().isoformat() == "2026-11-20T02:00:00"
    assert clocked.annual_rate == "1.30"
    assert result.quotes == [q, clocked]
    assert [r.index for r in result.errors] == [1, 2, 3]


def test_simulated_quote_is_the_binding_quote_without_its_ids(sim: PricingClient) -> None:
    binding = sim.create_quote(lvtanrong(request_id="sim-binding-twin")).quote
    simulated = sim.simulate_quotes([lvtanrong(request_id="sim-binding-twin")]).quotes[0]
    expected = pb.Quote()
    expected.CopyFrom(binding)
    expected.ClearField("quote_id")
    expected.ClearField("request_id")
    assert simulated == expected


def test_simulations_leave_the_audit_log_and_request_ids_untouched(
    sim_server: SimServer, sim: PricingClient
) -> None:
    before = sim_server.audit_size
    draft = draft_toml(('1 = "-200"', '1 = "-150"'))
    sim.simulate_quotes([lvtanrong(request_id="sim-rid"), invalid_loan()])
    sim.simulate_quotes([lvtanrong(request_id="sim-rid")], draft)
    with pytest.raises(InvalidArgument):
        sim.simulate_quotes([lvtanrong()] * (LIMIT + 1))
    assert sim_server.audit_size == before

    # The request_id a simulation carried is not taken: a different binding request
    # may use it (a used id would be ALREADY_EXISTS), and that quote is logged.
    created = sim.create_quote(lvtanrong(request_id="sim-rid", principal_cny="2000000"))
    assert created.quote.request_id == "sim-rid"
    assert sim_server.audit_size == before + 1


def test_each_call_gets_its_canonical_log_line(sim_server: SimServer, sim: PricingClient) -> None:
    sim.simulate_quotes([lvtanrong(), invalid_loan(), lvtanrong(borrower_id="B-2")])
    with pytest.raises(InvalidArgument):
        sim.simulate_quotes([lvtanrong()] * (LIMIT + 1))
    lines = [line for line in sim_server.log_lines() if line.get("method") == METHOD]
    assert [(line["code"], line.get("loans"), line.get("priced")) for line in lines[-2:]] == [
        ("OK", 3, 2),
        ("INVALID_ARGUMENT", None, None),
    ]
    assert lines[-1]["event"] == "rpc"


# -- draft policies --------------------------------------------------------------------------


def test_draft_policy_with_a_smaller_discount_prices_exactly_that(sim: PricingClient) -> None:
    # -150 bp instead of -200 bp on grade 1, a new version, in force only from 2027: a
    # draft prices every loan whatever its effective date (a what-if, not a schedule).
    draft = draft_toml(
        ('1 = "-200"', '1 = "-150"'),
        ('version = "2026.1-default"', 'version = "2027.1-draft"'),
        ("effective_from = 2019-08-20", "effective_from = 2027-01-01"),
    )
    expected = load_policy_bytes(draft)[0]
    result = sim.simulate_quotes(
        [lvtanrong(), lvtanrong(carbon_grade=carbon_grade(2, "2026-09-30", "p"))], draft
    )
    assert (result.draft_policy_version, result.draft_policy_digest) == (
        "2027.1-draft",
        expected.digest,
    )
    grade1, grade2 = result.quotes
    assert (grade1.annual_rate, grade1.ordinary_rate, grade1.concession_bp) == (
        "1.80",
        "3.30",
        "150",
    )
    assert (grade1.policy_version, grade1.policy_digest) == ("2027.1-draft", expected.digest)
    assert grade2.annual_rate == "1.30"  # grade 2 keeps its -200 bp

    # The same draft again (served from the server's cache) gives the same answer.
    assert sim.simulate_quotes([lvtanrong()], draft).quotes == [grade1]
    # And the live policy is untouched by it.
    assert sim.simulate_quotes([lvtanrong()]).quotes[0].annual_rate == "1.30"


def test_draft_pricing_off_the_lpr_gives_1_00_and_says_so(sim: PricingClient) -> None:
    # "LPR - 200 bp": 3.00 - 2.00 = 1.00 % without the AA spread; the concession is still
    # measured against the ordinary 3.30 %: 230 bp.
    name = 'name_en = "Carbon-account loan (Lü Tan Rong)"'
    draft = draft_toml((name, f'{name}\nreference = "base"'))
    (quote,) = sim.simulate_quotes([lvtanrong()], draft).quotes
    assert (quote.annual_rate, quote.ordinary_rate, quote.concession_bp) == ("1.00", "3.30", "230")
    assert quote.pricing_reference == pb.PRICING_REFERENCE_BASE
    (step,) = [s for s in quote.steps if s.code == "PRICING_REFERENCE"]
    assert (step.value, step.reason_zh) == (
        "3.00",
        "绿碳融：较1Y LPR低200个基点（不加信用评级与期限加点）",
    )
    (live,) = sim.simulate_quotes([lvtanrong()]).quotes
    assert (live.annual_rate, live.pricing_reference) == ("1.30", pb.PRICING_REFERENCE_UNSPECIFIED)
    with pytest.raises(InvalidArgument) as info:
        sim.simulate_quotes([lvtanrong()], draft_toml((name, f'{name}\nreference = "lpr"')))
    assert info.value.field_violations == [
        (
            "draft_policy",
            "products.lvtanrong.reference: unknown reference 'lpr'; one of ordinary, base",
        )
    ]


def test_live_document_edited_as_json_is_a_draft(sim: PricingClient) -> None:
    document, _digest = sim.live_policy_document()
    doc = json.loads(document)
    doc["products"]["lvtanrong"]["grade_adjust_bp"]["1"] = "-100"
    draft = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    result = sim.simulate_quotes([lvtanrong()], draft)
    assert result.quotes[0].annual_rate == "2.30"
    assert result.draft_policy_digest == hashlib.sha256(draft).hexdigest()


def test_broken_draft_is_invalid_argument_listing_every_problem(sim: PricingClient) -> None:
    draft = draft_toml(
        ('floor = "0.80"', "floor = 0.80"),
        ('mode = "half_even"', 'mode = "half_up_maybe"\nsurprise = 1'),
    )
    with pytest.raises(InvalidArgument) as info:
        sim.simulate_quotes([lvtanrong()], draft)
    assert info.value.field_violations == [
        (
            "draft_policy",
            "rounding.surprise: unknown key; expected one of annualised_decimals, mode, step_bp",
        ),
        ("draft_policy", 'bounds.floor: must be a decimal string like "0.8", not a float'),
        ("draft_policy", "rounding.mode: must be one of half_even, half_up, got 'half_up_maybe'"),
    ]
    assert info.value.attempts == 1


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\xff\xfe", "not UTF-8 text: invalid start byte at byte 0"),
        (
            b"{not json",
            "not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        (
            b"[[",
            "not valid TOML: Invalid initial character for a key part (at end of document)",
        ),
    ],
)
def test_unreadable_draft_is_invalid_argument(sim: PricingClient, raw: bytes, problem: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        sim.simulate_quotes([lvtanrong()], raw)
    assert info.value.field_violations == [("draft_policy", problem)]


def test_a_hostile_number_in_a_draft_is_a_policy_problem(sim: PricingClient) -> None:
    # A number past Python's 4,300-digit int limit: the validator reports it as a problem
    # of the document (it used to escape as a bare ValueError).
    raw = b'{"schema": ' + b"1" * 5000 + b"}"
    with pytest.raises(InvalidArgument) as info:
        sim.simulate_quotes([lvtanrong()], raw)
    assert info.value.field_violations == [
        ("draft_policy", "schema: integer out of the 64-bit range")
    ]


# -- the batch limit -------------------------------------------------------------------------


def test_one_loan_over_the_limit_fails_the_whole_call(sim: PricingClient) -> None:
    assert len(sim.simulate_quotes([lvtanrong()] * LIMIT).quotes) == LIMIT
    with pytest.raises(InvalidArgument) as info:
        sim.simulate_quotes([lvtanrong()] * (LIMIT + 1))
    assert info.value.field_violations == [("loans", "at most 5 loans per call, got 6")]


def test_an_empty_batch_is_an_empty_answer(sim: PricingClient) -> None:
    result = sim.simulate_quotes([])
    assert (result.results, result.indicative) == ((), True)


def test_a_large_batch_reply_over_4_mib_reaches_the_client(live_server: LiveServer) -> None:
    # The shared server runs the default limit (10,000). 4,000 quotes of about 1.2 KB
    # exceed gRPC's default 4 MiB receive limit: the client raises its own.
    loans = [lvtanrong()] * 4000
    with PricingClient(live_server.target, default_timeout=60.0) as client:
        result = client.simulate_quotes(loans)
    assert len(result.quotes) == 4000
    assert {q.annual_rate for q in result.quotes} == {"1.30"}
    assert sum(q.ByteSize() for q in result.quotes) > 4 * 1024 * 1024

    # What a client left at gRPC's default gets: the reply refused on arrival.
    four_mib = [("grpc.max_receive_message_length", 4 * 1024 * 1024)]
    with (
        PricingClient(live_server.target, default_timeout=60.0, options=four_mib) as client,
        pytest.raises(ResourceExhausted) as info,
    ):
        client.simulate_quotes(loans)
    assert info.value.attempts == 1


def test_the_default_limit_is_10000_loans(live_server: LiveServer) -> None:
    with (
        PricingClient(live_server.target, default_timeout=60.0) as client,
        pytest.raises(InvalidArgument) as info,
    ):
        client.simulate_quotes([lvtanrong()] * 10_001)
    assert info.value.field_violations == [("loans", "at most 10000 loans per call, got 10001")]


def test_simulate_is_retried_on_unavailable() -> None:
    sleeps: list[float] = []
    # Nothing listens on port 1: every attempt fails UNAVAILABLE.
    with (
        PricingClient(
            "127.0.0.1:1", max_attempts=3, backoff=FAST_BACKOFF, sleep=sleeps.append
        ) as client,
        pytest.raises(Unavailable) as info,
    ):
        client.simulate_quotes([lvtanrong()])
    assert info.value.attempts == 3
    assert len(sleeps) == 2


# -- DescribePolicy.policy_document ----------------------------------------------------------


def test_policy_document_hashes_to_the_digest_and_loads_back(sim: PricingClient) -> None:
    described = sim.describe_policy()
    document = described.policy_document
    live = default_policies().versions[0]
    assert hashlib.sha256(document).hexdigest() == described.policy_digest == live.digest
    assert document == default_policies().canonical(live.digest)

    loaded, canonical = load_policy_bytes(document)
    assert canonical == document
    assert loaded.digest == live.digest
    assert comparable(loaded) == comparable(live)

    assert sim.live_policy_document() == (document, live.digest)


# -- the grpc.aio server ---------------------------------------------------------------------


@pytest.fixture
def aio_target(tmp_path: Path) -> Iterator[str]:
    """The grpc.aio server on its own event loop thread, limit 5 like the sync one."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="aio-server", daemon=True)
    thread.start()
    config = load_config(
        env={},
        listen="127.0.0.1:0",
        audit_dir=str(tmp_path / "audit"),
        server_mode="aio",
        simulate_max_loans=LIMIT,
    )
    components = build_components(config, clock=lambda: FIXED_NOW)
    running = asyncio.run_coroutine_threadsafe(start_aio_server(components), loop).result(10)
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        asyncio.run_coroutine_threadsafe(running.stop(1), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_aio_server_simulates(aio_target: str) -> None:
    draft = draft_toml(('1 = "-200"', '1 = "-150"'))
    with PricingClient(aio_target, backoff=FAST_BACKOFF) as client:
        result = client.simulate_quotes(
            [
                lvtanrong(),
                lvtanrong(carbon_grade=carbon_grade(4, "2026-09-30", "p")),
                invalid_loan(),
            ]
        )
        assert result.indicative is True
        assert result.quotes[0].annual_rate == "1.30"
        ineligible, invalid = (r.error for r in result.errors)
        assert isinstance(ineligible, FailedPrecondition)
        assert ineligible.reason == "CARBON_GRADE_INELIGIBLE"
        assert isinstance(invalid, InvalidArgument)
        assert invalid.field_violations == INVALID_VIOLATIONS

        assert client.simulate_quotes([lvtanrong()], draft).quotes[0].annual_rate == "1.80"
        with pytest.raises(InvalidArgument) as info:
            client.simulate_quotes([lvtanrong()] * (LIMIT + 1))
        assert info.value.field_violations == [("loans", "at most 5 loans per call, got 6")]
        with pytest.raises(InvalidArgument) as info:
            client.simulate_quotes([lvtanrong()], b"{not json")
        assert [field for field, _ in info.value.field_violations] == ["draft_policy"]

        document, digest = client.live_policy_document()
        assert hashlib.sha256(document).hexdigest() == digest


# -- settings and the client's reading of results ------------------------------------------


def test_a_limit_below_one_loan_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="simulate_max_loans must be >= 1, got 0"):
        load_config(env={"PRICING_SIMULATE_MAX_LOANS": "0"})


def test_a_result_with_neither_quote_nor_error_reads_as_an_error() -> None:
    # A newer server's result kind, or a bug: never a silent gap in the results.
    response = pb.SimulateQuotesResponse(indicative=True, results=[pb.SimulatedQuote()])
    [result] = simulation_from_pb(response).results
    assert (result.ok, result.quote) == (False, None)
    assert isinstance(result.error, Unknown)
