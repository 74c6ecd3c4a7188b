"""Every RPC of ecoloan.pricing.v1.PricingService over a real server and the typed client.

Expected numbers are derived here from the shipped default policy
(pricing_service/policy/default/policy.toml), not read back from the engine:

- LPR in force on 2026-11-20: the 2025-05-20 09:00 fixing, 1Y 3.00 %, 5Y+ 3.50 %;
  the 2024-07-22 09:00 fixing was 1Y 3.35 % / 5Y+ 3.85 %, the one before it
  (2024-02-20 09:30) 3.45 % / 3.95 %.
- Spreads: AAA 0, AA 30, A 60, BBB 100 bp; term bands +0 (<= 12 m), +10 (<= 36 m),
  +20 (<= 360 m); terms up to 60 months price off the 1Y LPR.
- 绿碳融 grades 1-3: -200 bp; mine curve anchor 90.0 -> -150 bp; transition band
  cut >= 10 % -> -60 bp. Rounding 1 bp half-even; validity 72 h; evidence <= 365 days.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path
from typing import Any

import grpc
import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import (
    SERVICE_NAME,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PricingClient,
    carbon_emissions,
    carbon_grade,
    mine_score,
    quote_request,
    transition_kpis,
)
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from live_support import FAST_BACKOFF, FIXED_NOW, LiveServer

from pricing_service.audit.merkle import leaf_hash, verify_inclusion
from pricing_service.audit.note import parse_checkpoint
from pricing_service.bootstrap import build_components, start_aio_server
from pricing_service.config import load_config
from pricing_service.policy.store import default_policies

PRICING_TIME = "2026-11-20T10:00:00+08:00"
POLICY_VERSION = "2026.1-default"


def lvtanrong(**overrides: Any) -> pb.CreateQuoteRequest:
    """The 绿碳融 request of a grade-1 electrolytic-aluminium borrower, AA, 12 m, 1,000,000 CNY."""
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


def _fen(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def annuity(principal_fen: int, annual_percent: str, months: int) -> Decimal:
    """等额本息 monthly payment in fen, exact to 60 digits: P r g / (g - 1), g = (1 + r)^n."""
    with localcontext() as ctx:
        ctx.prec = 60
        r = Decimal(annual_percent) / 1200
        g = (1 + r) ** months
        return Decimal(principal_fen) * r * g / (g - 1)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- CreateQuote: the numbers -------------------------------------------------------


def test_lvtanrong_grade1_aluminium_aa_12m_prices_200bp_below_ordinary(
    client: PricingClient,
) -> None:
    response = client.create_quote(lvtanrong(request_id="lvtanrong-numbers"))
    q = response.quote

    assert (q.annual_rate, q.ordinary_rate, q.concession_bp) == ("1.30", "3.30", "200")
    assert q.annualised_rate == "1.30"  # no fee: the annualised rate is the contract rate
    assert q.base_rate.tenor == pb.TENOR_1Y
    assert q.base_rate.rate == "3.00"
    assert q.base_rate.published_at.ToDatetime(UTC) == ts("2025-05-20T09:00:00+08:00")
    assert q.pricing_time.ToDatetime(UTC) == ts(PRICING_TIME)
    assert q.pricing_date == "2026-11-20"
    assert q.valid_until.ToDatetime(UTC) == ts(PRICING_TIME) + timedelta(hours=72)
    assert (q.floor_binding, q.cap_binding) == (False, False)
    assert (q.carbon.grade, q.carbon.source, q.carbon.efficiency_k) == (1, "given", "")
    assert (q.principal_fen, q.term_months) == (100_000_000, 12)
    assert (q.product_id, q.product_kind) == ("lvtanrong", pb.PRODUCT_KIND_CARBON_ACCOUNT)
    assert (q.borrower_id, q.request_id) == ("XJ-CJ-ALU-0001", "lvtanrong-numbers")
    assert (q.policy_version, q.policy_digest) == (
        POLICY_VERSION,
        default_policies().versions[0].digest,
    )
    assert q.quote_id.startswith("q_")
    assert len(q.quote_id) == 34

    assert [(s.code, s.value, s.unit) for s in q.steps] == [
        ("BASE_RATE", "3.00", "percent"),
        ("STANDARD_SPREAD", "30", "bp"),
        ("ORDINARY_RATE", "3.30", "percent"),
        ("CARBON_GRADE", "1", "grade"),
        ("CARBON_ADJUSTMENT", "-200", "bp"),
        ("ROUNDING", "1.30", "percent"),
        ("CONCESSION", "200", "bp"),
    ]
    assert all(s.reason_zh and s.reason_en for s in q.steps)

    # 等额本息 at 1.30 % over 12 months, and the first year's interest saved vs 3.30 %.
    paid = annuity(100_000_000, "1.30", 12)
    ordinary = annuity(100_000_000, "3.30", 12)
    assert q.repayment.method == pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT
    assert q.repayment.installments == 12
    assert q.repayment.first_payment_fen == _fen(paid) == 8_392_130
    assert q.repayment.total_payment_fen == _fen(paid * 12) == 100_705_564
    assert q.repayment.total_interest_fen == 705_564
    assert q.first_year_concession_fen == _fen((ordinary - paid) * 12) == 1_090_935

    # The position is where GetQuote finds the quote, and the leaf hash is a SHA-256.
    assert response.audit_position.log_origin == "ecoloan.example/pricing-audit/replica-1"
    assert client.get_quote(q.quote_id).audit_position == response.audit_position
    assert len(bytes.fromhex(response.audit_position.leaf_hash)) == 32


def test_lvtanrong_grade_computed_from_aluminium_emissions(client: PricingClient) -> None:
    # 500,000 tCO2 for 100,000 t: 5.0 t/t against the 9.1132 benchmark, K = 0.5487 <= 0.6.
    request = lvtanrong(
        carbon_grade=None,
        carbon_emissions=carbon_emissions(
            "electrolytic-aluminium",
            "500000",
            output_quantity="100000",
            period_end="2026-09-30",
            platform_id="changji-carbon-account",
        ),
    )
    q = client.create_quote(request).quote
    assert (q.carbon.grade, q.carbon.source, q.carbon.efficiency_k) == (1, "computed", "0.5487")
    assert (q.annual_rate, q.ordinary_rate, q.concession_bp) == ("1.30", "3.30", "200")
    assert [s.code for s in q.steps][3:5] == ["CARBON_EFFICIENCY_K", "CARBON_GRADE"]


def test_mine_score_anchor_90_rating_a_24m_adds_term_spread(client: PricingClient) -> None:
    # 3.00 + 60 bp (A) + 10 bp (<= 36 m) = 3.70; anchor 90.0 -> -150 bp: 2.20.
    request = quote_request(
        product_id="mine_score",
        borrower_id="XJ-CJ-MINE-07",
        credit_rating="A",
        principal_cny="20000000",
        term_months=24,
        repayment="equal-principal",
        pricing_time=PRICING_TIME,
        mine_score=mine_score("90.0", 1, "2026-06-30"),
    )
    q = client.create_quote(request).quote
    assert (q.annual_rate, q.ordinary_rate, q.concession_bp) == ("2.20", "3.70", "150")
    assert [(s.code, s.value) for s in q.steps][:5] == [
        ("BASE_RATE", "3.00"),
        ("STANDARD_SPREAD", "60"),
        ("TENOR_SPREAD", "10"),
        ("ORDINARY_RATE", "3.70"),
        ("MINE_SCORE_ADJUSTMENT", "-150"),
    ]
    # 等额本金: first payment = P/24 + P x 2.20 %/12 = 833,333.333... + 36,666.666... CNY.
    assert q.repayment.first_payment_fen == 87_000_000
    # Total interest = P r (n + 1) / 2 = 2e9 fen x 0.022/12 x 25/2 = 45,833,333.33... fen.
    assert q.repayment.total_interest_fen == 45_833_333


def test_transition_10pct_coal_cut_bbb_60m_on_1y_lpr(client: PricingClient) -> None:
    # 60 months is still the 1Y LPR; 3.00 + 100 (BBB) + 20 (<= 360 m) = 4.20; -60: 3.60.
    request = quote_request(
        product_id="transition",
        borrower_id="XJ-CJ-POWER-02",
        credit_rating="BBB",
        principal_cny="50000000",
        term_months=60,
        repayment="interest-only",
        pricing_time=PRICING_TIME,
        transition_kpis=transition_kpis("50000", "300", "270", "2026-10-15"),
    )
    q = client.create_quote(request).quote
    assert q.base_rate.tenor == pb.TENOR_1Y
    assert (q.annual_rate, q.ordinary_rate, q.concession_bp) == ("3.60", "4.20", "60")
    assert ("TRANSITION_BAND", "-60") in [(s.code, s.value) for s in q.steps]
    # Interest-only: 5e9 fen x 3.60 %/12 = 15,000,000 fen a month, principal at maturity.
    assert q.repayment.first_payment_fen == 15_000_000
    assert q.repayment.total_interest_fen == 15_000_000 * 60


def test_standard_120m_uses_5y_lpr_and_fee_raises_annualised_rate(client: PricingClient) -> None:
    # 120 months > 60: 5Y+ LPR 3.50 + 0 (AAA) + 20 (<= 360 m) = 3.70.
    request = quote_request(
        product_id="standard",
        borrower_id="B-STD-1",
        credit_rating="AAA",
        principal_cny="1000000",
        upfront_fee_cny="10000",
        term_months=120,
        repayment="equal-installment",
        pricing_time=PRICING_TIME,
    )
    q = client.create_quote(request).quote
    assert q.base_rate.tenor == pb.TENOR_5Y_PLUS
    assert (q.base_rate.rate, q.annual_rate, q.ordinary_rate) == ("3.50", "3.70", "3.70")
    assert (q.concession_bp, q.first_year_concession_fen) == ("0", 0)
    # A 1 % fee on a 10-year annuity costs roughly 0.2 percentage points a year.
    assert Decimal("3.85") < Decimal(q.annualised_rate) < Decimal("3.95")


def test_pricing_time_defaults_to_the_server_clock(client: PricingClient) -> None:
    request = lvtanrong()
    request.ClearField("pricing_time")
    q = client.create_quote(request).quote
    assert q.pricing_time.ToDatetime(UTC) == FIXED_NOW
    assert q.annual_rate == "1.30"


# -- idempotency and GetQuote ---------------------------------------------------------


def test_same_request_id_and_request_returns_the_same_quote(client: PricingClient) -> None:
    first = client.create_quote(lvtanrong(request_id="idem-1"))
    second = client.create_quote(lvtanrong(request_id="idem-1"))
    assert second.quote.quote_id == first.quote.quote_id
    assert second.quote.annual_rate == first.quote.annual_rate == "1.30"
    assert second == first  # the same audit position too: nothing was logged twice


def test_get_quote_returns_the_created_quote_and_position(client: PricingClient) -> None:
    created = client.create_quote(lvtanrong(request_id="get-1"))
    fetched = client.get_quote(created.quote.quote_id)
    assert fetched.quote == created.quote
    assert fetched.audit_position == created.audit_position


def test_get_quote_proof_verifies_against_the_checkpoint(client: PricingClient) -> None:
    created = client.create_quote(lvtanrong(request_id="proof-1"))
    proof = client.get_quote_proof(created.quote.quote_id)
    position = created.audit_position
    assert proof.audit_position == position
    assert leaf_hash(proof.record).hex() == position.leaf_hash
    checkpoint = parse_checkpoint(proof.checkpoint.split("\n\n")[0] + "\n")
    assert checkpoint.size == proof.tree_size
    assert proof.tree_size > position.sequence
    verify_inclusion(
        leaf_hash(proof.record),
        position.sequence,
        proof.tree_size,
        list(proof.inclusion_proof),
        checkpoint.root_hash,
    )


# -- errors -------------------------------------------------------------------------


def test_invalid_argument_lists_every_bad_field(client: PricingClient) -> None:
    request = pb.CreateQuoteRequest(
        borrower_id="",
        product_id="lvtanrong",
        credit_rating="AA",
        principal_fen=0,
        term_months=0,
        carbon_grade=pb.CarbonGrade(grade=9, assessed_on="2026-9-30", platform_id="p"),
    )
    with pytest.raises(InvalidArgument) as info:
        client.create_quote(request)
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.field_violations == [
        ("borrower_id", "required"),
        ("principal_fen", "must be > 0"),
        ("term_months", "must be 1 to 360"),
        ("repayment_method", "unknown or unspecified value 0"),
        ("carbon_grade.grade", "must be 1 to 5"),
        ("carbon_grade.assessed_on", "not a date YYYY-MM-DD: '2026-9-30'"),
    ]
    assert info.value.attempts == 1  # an answer, not a transport failure: never retried


def test_invalid_argument_for_policy_checks(client: PricingClient) -> None:
    # Checked against the policy once the request is well-formed: rating and fee.
    request = lvtanrong(credit_rating="ZZ", upfront_fee_cny="1000000")
    with pytest.raises(InvalidArgument) as info:
        client.create_quote(request)
    assert info.value.field_violations == [
        ("credit_rating", "unknown rating 'ZZ'; one of AAA, AA, A, BBB, BB, B"),
        ("upfront_fee_fen", "must be less than principal_fen"),
    ]


def test_malformed_quote_id_is_invalid_argument(client: PricingClient) -> None:
    with pytest.raises(InvalidArgument) as info:
        client.get_quote("not-a-quote-id")
    assert info.value.field_violations == [
        ("quote_id", "must look like q_ followed by 32 hex digits")
    ]


def test_grade_4_is_refused_carbon_grade_ineligible(client: PricingClient) -> None:
    with pytest.raises(FailedPrecondition) as info:
        client.create_quote(lvtanrong(carbon_grade=carbon_grade(4, "2026-09-30", "p")))
    assert info.value.reason == "CARBON_GRADE_INELIGIBLE"
    assert info.value.metadata == {"grade": "4", "eligible_grades": "1, 2, 3"}
    assert info.value.domain == "pricing.ecoloan.example"


def test_failed_mandatory_indicator_is_refused_whatever_the_score(client: PricingClient) -> None:
    request = quote_request(
        product_id="mine_score",
        borrower_id="XJ-CJ-MINE-08",
        credit_rating="A",
        principal_cny="1000000",
        term_months=12,
        repayment="equal-installment",
        pricing_time=PRICING_TIME,
        mine_score=mine_score("99.5", 1, "2026-06-30", mandatory_indicators_passed=False),
    )
    with pytest.raises(FailedPrecondition) as info:
        client.create_quote(request)
    assert info.value.reason == "MANDATORY_INDICATOR_FAILED"
    assert info.value.metadata == {"score": "99.5"}


def test_evidence_older_than_365_days_is_refused(client: PricingClient) -> None:
    # 2025-11-19 is 366 days before 2026-11-20.
    with pytest.raises(FailedPrecondition) as info:
        client.create_quote(lvtanrong(carbon_grade=carbon_grade(1, "2025-11-19", "p")))
    assert info.value.reason == "EVIDENCE_TOO_OLD"
    assert info.value.metadata == {
        "field": "carbon_grade.assessed_on",
        "age_days": "366",
        "max_age_days": "365",
    }
    # Exactly 365 days old is still accepted.
    ok = client.create_quote(lvtanrong(carbon_grade=carbon_grade(1, "2025-11-20", "p")))
    assert ok.quote.annual_rate == "1.30"


def test_unknown_product_is_not_found_with_resource_info(client: PricingClient) -> None:
    with pytest.raises(NotFound) as info:
        client.create_quote(lvtanrong(product_id="green-bond"))
    assert (info.value.resource_type, info.value.resource_name) == ("product", "green-bond")


def test_unknown_quote_id_is_not_found(client: PricingClient) -> None:
    missing = "q_" + "0" * 32
    with pytest.raises(NotFound) as info:
        client.get_quote(missing)
    assert (info.value.resource_type, info.value.resource_name) == ("quote", missing)


def test_request_id_reused_for_another_request_is_already_exists(client: PricingClient) -> None:
    first = client.create_quote(lvtanrong(request_id="reuse-1"))
    with pytest.raises(AlreadyExists) as info:
        client.create_quote(lvtanrong(request_id="reuse-1", principal_cny="2000000"))
    assert info.value.reason == "REQUEST_ID_REUSED"
    assert info.value.metadata == {"request_id": "reuse-1", "quote_id": first.quote.quote_id}
    assert info.value.attempts == 1


# -- ListProducts, DescribePolicy -----------------------------------------------------


def test_list_products_of_the_default_policy(client: PricingClient) -> None:
    response = client.list_products()
    assert response.policy_version == POLICY_VERSION
    assert response.policy_digest == default_policies().versions[0].digest
    assert [(p.product_id, p.kind, list(p.required_evidence)) for p in response.products] == [
        ("standard", pb.PRODUCT_KIND_STANDARD, []),
        ("lvtanrong", pb.PRODUCT_KIND_CARBON_ACCOUNT, ["carbon_grade|carbon_emissions"]),
        ("mine_score", pb.PRODUCT_KIND_MINE_SCORE, ["mine_score"]),
        ("transition", pb.PRODUCT_KIND_TRANSITION, ["transition_kpis"]),
    ]
    assert response.products[1].name_zh == "绿碳融"


def test_describe_policy_now(client: PricingClient) -> None:
    response = client.describe_policy()
    assert (response.policy_version, response.effective_from) == (POLICY_VERSION, "2019-08-20")
    assert [(f.tenor, f.rate) for f in response.fixings_in_force] == [
        (pb.TENOR_1Y, "3.00"),
        (pb.TENOR_5Y_PLUS, "3.50"),
    ]
    assert response.lpr_confirmed_through == "2026-05-20"
    assert list(response.credit_ratings) == ["AAA", "AA", "A", "BBB", "BB", "B"]
    assert (response.floor_rate, response.cap_rate) == ("0.80", "8.00")
    assert response.rounding == "1 bp half_even"


@pytest.mark.parametrize(
    ("as_of", "lpr_1y", "lpr_5y"),
    [
        # A fixing holds from its publication instant: one second before 09:00 on
        # 2024-07-22 the February fixing is still in force.
        ("2024-07-22T08:59:59+08:00", "3.45", "3.95"),
        ("2024-07-22T09:00:00+08:00", "3.35", "3.85"),
    ],
)
def test_describe_policy_as_of_a_fixing_boundary(
    client: PricingClient, as_of: str, lpr_1y: str, lpr_5y: str
) -> None:
    response = client.describe_policy(as_of)
    assert [f.rate for f in response.fixings_in_force] == [lpr_1y, lpr_5y]


def test_describe_policy_before_any_version_is_failed_precondition(
    client: PricingClient,
) -> None:
    with pytest.raises(FailedPrecondition) as info:
        client.describe_policy("2019-08-19T12:00:00+08:00")
    assert info.value.reason == "NO_POLICY_IN_FORCE"
    assert info.value.metadata == {"pricing_date": "2019-08-19"}


# -- health and reflection ------------------------------------------------------------


def test_health_is_serving_for_server_and_service(client: PricingClient) -> None:
    assert client.health() == "SERVING"
    assert client.health(SERVICE_NAME) == "SERVING"


def test_health_of_an_unknown_service_is_not_found(client: PricingClient) -> None:
    with pytest.raises(NotFound):
        client.health("no.such.Service")


def test_reflection_lists_and_describes_the_pricing_service(live_server: LiveServer) -> None:
    with grpc.insecure_channel(live_server.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {SERVICE_NAME, "grpc.health.v1.Health"} <= services
        service = DescriptorPool(database).FindServiceByName(SERVICE_NAME)
        assert service.file.name == "ecoloan/pricing/v1/pricing_service.proto"
        assert [m.name for m in service.methods] == [
            "CreateQuote",
            "GetQuote",
            "ListProducts",
            "DescribePolicy",
            "GetQuoteProof",
            "SimulateQuotes",
            "ReloadPolicy",
        ]


# -- the grpc.aio server ------------------------------------------------------------------


@pytest.fixture
def aio_target(tmp_path: Path) -> Iterator[str]:
    """The grpc.aio server on its own event loop thread, so the blocking client can call it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="aio-server", daemon=True)
    thread.start()
    config = load_config(
        env={}, listen="127.0.0.1:0", audit_dir=str(tmp_path / "audit"), server_mode="aio"
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


def test_aio_server_smoke(aio_target: str) -> None:
    with PricingClient(aio_target, backoff=FAST_BACKOFF) as aio_client:
        assert aio_client.health() == "SERVING"
        first = aio_client.create_quote(lvtanrong(request_id="aio-1"))
        assert (first.quote.annual_rate, first.quote.ordinary_rate) == ("1.30", "3.30")
        assert aio_client.create_quote(lvtanrong(request_id="aio-1")) == first
        assert aio_client.get_quote(first.quote.quote_id).quote == first.quote
        with pytest.raises(FailedPrecondition) as info:
            aio_client.create_quote(lvtanrong(carbon_grade=carbon_grade(5, "2026-09-30", "p")))
        assert info.value.reason == "CARBON_GRADE_INELIGIBLE"
        assert [p.product_id for p in aio_client.list_products().products][:2] == [
            "standard",
            "lvtanrong",
        ]


def test_shape_and_policy_violations_come_in_one_reply(client: PricingClient) -> None:
    """A bad principal (shape) and an unknown rating and missing evidence (policy) together."""
    req = pb.CreateQuoteRequest(
        borrower_id="B-ALL",
        product_id="lvtanrong",
        credit_rating="ZZ",
        principal_fen=0,
        term_months=12,
        repayment_method=pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
    )
    req.pricing_time.FromJsonString("2026-11-20T02:00:00Z")
    with pytest.raises(InvalidArgument) as info:
        client.create_quote(req)
    assert [field for field, _ in info.value.field_violations] == [
        "principal_fen",
        "credit_rating",
        "carbon_grade",
    ]


def test_reload_policy_revalidates_the_files_in_force(client: PricingClient) -> None:
    # The module's server runs the shipped default: a reload finds nothing changed.
    reloaded = client.reload_policy()
    assert (reloaded.policy_version, reloaded.versions, reloaded.changed) == (
        "2026.1-default",
        1,
        False,
    )
    assert reloaded.policy_digest == client.describe_policy().policy_digest
