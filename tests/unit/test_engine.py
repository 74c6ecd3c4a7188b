"""The pricing engine end to end: 绿碳融, transition bands, evidence age, bounds,
rounding, request checks, determinism.

Unless a test says otherwise, quotes are priced at 2025-06-03 10:00 Beijing time,
when the LPR is 3.00% (1Y) / 3.50% (5Y+). Default spreads (bp): AAA 0, AA 30,
A 60, BBB 100, BB 160, B 250; term spreads: +0 up to 12 months, +10 up to 36,
+20 above.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pricing_builders import (
    BEIJING,
    PRICING_DATE,
    PRICING_TIME,
    default_text,
    given_grade,
    kpis,
    make_request,
    mine,
    output_emissions,
    policy_from_text,
    value_added_emissions,
    variant,
)

from pricing_service.domain import engine, schedule
from pricing_service.domain.engine import price
from pricing_service.domain.errors import (
    IneligibleError,
    InvalidRequestError,
    ProductNotFoundError,
)
from pricing_service.domain.evidence import (
    Emissions,
    GivenGrade,
    Industry,
    ProductKind,
    RepaymentMethod,
    Tenor,
)
from pricing_service.domain.policy import Policy
from pricing_service.domain.quote import CarbonAssessment, PricedQuote, Step
from pricing_service.domain.request import QuoteRequest
from pricing_service.domain.schedule import RepaymentSummary

EI = RepaymentMethod.EQUAL_INSTALLMENT
EP = RepaymentMethod.EQUAL_PRINCIPAL
IO = RepaymentMethod.INTEREST_ONLY_BULLET


def days_before(n: int) -> date:
    return PRICING_DATE - timedelta(days=n)


def carbon_request(
    grade: GivenGrade | None = None, emissions: Emissions | None = None, **kw: Any
) -> QuoteRequest:
    req = make_request(product_id="lvtanrong", carbon_grade=grade, carbon_emissions=emissions)
    return dataclasses.replace(req, **kw)


def codes(quote: PricedQuote) -> list[str]:
    return [s.code for s in quote.steps]


# --- 绿碳融: ordinary rate - 200 bp ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rating", "term", "method", "grade", "ordinary", "rate"),
    [
        ("AAA", 6, EI, 1, 300, 100),
        ("AA", 12, EI, 1, 330, 130),
        ("A", 24, EP, 2, 370, 170),
        ("BBB", 36, IO, 2, 410, 210),
        ("BB", 60, EI, 3, 480, 280),
        ("B", 120, EP, 3, 620, 420),  # 5Y+ LPR 350 + 250 + 20
    ],
)
def test_lvtanrong_with_a_given_grade_is_200_bp_below_the_ordinary_rate(
    policy: Policy,
    rating: str,
    term: int,
    method: RepaymentMethod,
    grade: int,
    ordinary: int,
    rate: int,
) -> None:
    req = carbon_request(
        given_grade(grade), credit_rating=rating, term_months=term, repayment=method
    )
    quote = price(req, policy)
    standard = price(dataclasses.replace(req, product_id="standard", carbon_grade=None), policy)
    assert quote.ordinary_bp == standard.rate_bp == Decimal(ordinary)
    assert quote.rate_bp == Decimal(rate)
    assert quote.concession_bp == Decimal(200)
    assert quote.carbon == CarbonAssessment(grade=grade, source="given", efficiency_k="", level="")
    assert codes(quote)[-4:] == ["CARBON_GRADE", "CARBON_ADJUSTMENT", "ROUNDING", "CONCESSION"]


@pytest.mark.parametrize(
    ("emissions", "rating", "term", "grade", "level", "rate"),
    [
        (output_emissions("526.2"), "AA", 12, 1, "", 130),  # power, K = 0.6
        (output_emissions("701.6"), "A", 60, 2, "", 180),  # K = 0.8
        (value_added_emissions("3000"), "BB", 61, 3, "高碳", 330),  # K = 1.2, 5Y+
        (value_added_emissions("300", industry=Industry.OTHER), "AAA", 1, 1, "低碳", 100),
    ],
)
def test_lvtanrong_with_a_computed_grade_is_200_bp_below_the_ordinary_rate(
    policy: Policy,
    emissions: Emissions,
    rating: str,
    term: int,
    grade: int,
    level: str,
    rate: int,
) -> None:
    quote = price(
        carbon_request(emissions=emissions, credit_rating=rating, term_months=term), policy
    )
    assert quote.rate_bp == Decimal(rate)
    assert quote.concession_bp == Decimal(200)
    assert quote.carbon is not None
    assert (quote.carbon.grade, quote.carbon.source, quote.carbon.level) == (
        grade,
        "computed",
        level,
    )
    assert "CARBON_EFFICIENCY_K" in codes(quote)


def test_lvtanrong_on_the_morning_of_an_lpr_change_uses_the_old_fixing(policy: Policy) -> None:
    at = datetime(2024, 7, 22, 8, 30, tzinfo=BEIJING).astimezone(UTC)
    quote = price(
        carbon_request(given_grade(1, date(2024, 7, 1)), pricing_time=at, term_months=12), policy
    )
    assert (quote.ordinary_bp, quote.rate_bp) == (Decimal(375), Decimal(175))


@pytest.mark.parametrize("grade", [4, 5])
def test_lvtanrong_refuses_a_given_grade_4_or_5(policy: Policy, grade: int) -> None:
    with pytest.raises(IneligibleError) as info:
        price(carbon_request(given_grade(grade)), policy)
    assert info.value.reason == "CARBON_GRADE_INELIGIBLE"
    assert info.value.metadata == {"grade": str(grade), "eligible_grades": "1, 2, 3"}


@pytest.mark.parametrize(("emissions", "grade"), [("1052.4001", 4), ("1754.0001", 5)])
def test_lvtanrong_refuses_a_computed_grade_4_or_5(
    policy: Policy, emissions: str, grade: int
) -> None:
    with pytest.raises(IneligibleError) as info:
        price(carbon_request(emissions=output_emissions(emissions)), policy)
    assert info.value.reason == "CARBON_GRADE_INELIGIBLE"
    assert info.value.metadata["grade"] == str(grade)


def test_lvtanrong_needs_a_grade_or_emissions(policy: Policy) -> None:
    with pytest.raises(InvalidRequestError) as info:
        price(carbon_request(), policy)
    assert [v.field for v in info.value.violations] == ["carbon_grade"]


def test_lvtanrong_refuses_both_a_grade_and_emissions(policy: Policy) -> None:
    with pytest.raises(InvalidRequestError) as info:
        price(carbon_request(given_grade(1), output_emissions("100")), policy)
    assert [v.field for v in info.value.violations] == ["carbon_emissions"]


def test_full_quote_for_a_computed_grade_is_exactly_this(policy: Policy) -> None:
    req = carbon_request(
        emissions=value_added_emissions("1500", "1000"),  # chemicals: L 1.5 (中碳), K 0.6
        credit_rating="A",
        term_months=36,
        repayment=EP,
        upfront_fee_fen=500_000,
    )
    bj = BEIJING
    expected = PricedQuote(
        product_id="lvtanrong",
        product_kind=ProductKind.CARBON_ACCOUNT,
        pricing_time=PRICING_TIME,
        pricing_date=PRICING_DATE,
        valid_until=PRICING_TIME + timedelta(hours=72),
        rate_bp=Decimal("170"),
        ordinary_bp=Decimal("370"),
        tenor=Tenor.ONE_YEAR,
        base_bp=Decimal("300.00"),
        base_published_at=datetime(2025, 5, 20, 9, 0, tzinfo=bj),
        concession_bp=Decimal("200"),
        # 1e8 fen x (2.00%/12) x (12 - 12*11/(2*36)) = 1,694,444.44 fen
        first_year_concession_fen=1_694_444,
        annualised_percent=Decimal("2.03"),
        repayment=RepaymentSummary(
            method=EP,
            installments=36,
            first_payment_fen=2_919_444,  # 1e8/36 + 1e8 x 1.70%/12
            total_payment_fen=102_620_833,
            total_interest_fen=2_620_833,  # P r (n+1)/2
        ),
        floor_binding=False,
        cap_binding=False,
        steps=(
            Step(
                "BASE_RATE",
                "3.00",
                "percent",
                "1Y LPR，2025-05-20 09:00（北京时间）公布，定价时点有效",
                "1Y LPR published 2025-05-20 09:00 Beijing time, in force at pricing",
            ),
            Step(
                "STANDARD_SPREAD",
                "60",
                "bp",
                "信用评级 A 的标准加点",
                "standard spread for credit rating A",
            ),
            Step("TENOR_SPREAD", "10", "bp", "期限 36 个月的期限加点", "term spread for 36 months"),
            Step(
                "ORDINARY_RATE",
                "3.70",
                "percent",
                "普通贷款利率 = LPR + 标准加点",
                "ordinary-loan rate = LPR + standard spread",
            ),
            Step(
                "CARBON_EFFICIENCY_K",
                "0.6000",
                "K",
                "碳效 K = 排放强度 ÷ 行业基准 2.50 tCO2/10k CNY",
                "K = intensity ÷ industry benchmark 2.50 tCO2/10k CNY",
            ),
            Step(
                "CARBON_GRADE",
                "1",
                "grade",
                "按碳效 K 计算等级：中碳1级",
                "grade computed from K: 1",
            ),
            Step(
                "CARBON_ADJUSTMENT",
                "-200",
                "bp",
                "绿碳融：碳账户 1 级较普通贷款利率调整",
                "Carbon-account loan (Lü Tan Rong): adjustment for carbon grade 1 vs the "
                "ordinary rate",
            ),
            Step(
                "ROUNDING",
                "1.70",
                "percent",
                "按 1 bp 银行家舍入，仅舍入一次",
                "rounded once to 1 bp, half_even",
            ),
            Step(
                "CONCESSION",
                "200",
                "bp",
                "较普通贷款利率的优惠",
                "concession versus the ordinary-loan rate",
            ),
        ),
        policy_version="2026.1-default",
        policy_digest=policy.digest,
        carbon=CarbonAssessment(grade=1, source="computed", efficiency_k="0.6000", level="中碳"),
    )
    assert price(req, policy) == expected


def test_given_grade_step_names_the_platform_and_assessment_date(policy: Policy) -> None:
    quote = price(carbon_request(given_grade(2, date(2025, 3, 31))), policy)
    step = quote.steps[codes(quote).index("CARBON_GRADE")]
    assert step.value == "2"
    assert step.reason_en == "carbon-account grade 2 (CJ-CARBON-PLATFORM, assessed 2025-03-31)"


# --- evidence age ----------------------------------------------------------------------------


def test_evidence_exactly_max_age_days_old_is_accepted(policy: Policy) -> None:
    assert policy.evidence_max_age_days == 365
    quote = price(carbon_request(given_grade(1, days_before(365))), policy)
    assert quote.rate_bp == Decimal(130)


def test_evidence_one_day_older_than_max_age_is_refused(policy: Policy) -> None:
    with pytest.raises(IneligibleError) as info:
        price(carbon_request(given_grade(1, days_before(366))), policy)
    assert info.value.reason == "EVIDENCE_TOO_OLD"
    assert info.value.metadata == {
        "field": "carbon_grade.assessed_on",
        "age_days": "366",
        "max_age_days": "365",
    }


@pytest.mark.parametrize(
    ("req", "field"),
    [
        (
            make_request(product_id="lvtanrong", carbon_emissions=output_emissions("1", "10")),
            "carbon_emissions.period_end",
        ),
        (make_request(product_id="mine_score", mine_score=mine("90.0")), "mine_score.accepted_on"),
        (
            make_request(product_id="transition", transition_kpis=kpis("300", "270")),
            "transition_kpis.verified_on",
        ),
    ],
)
def test_every_kind_of_evidence_has_the_same_age_limit(
    policy: Policy, req: QuoteRequest, field: str
) -> None:
    old = PRICING_TIME + timedelta(days=366)
    with pytest.raises(IneligibleError) as info:
        price(dataclasses.replace(req, pricing_time=old), policy)
    assert info.value.reason == "EVIDENCE_TOO_OLD"
    assert info.value.metadata["field"] == field
    ok = PRICING_TIME + timedelta(days=365)
    assert price(dataclasses.replace(req, pricing_time=ok), policy).rate_bp < Decimal(330)


def test_evidence_dated_after_the_pricing_date_is_an_invalid_request(policy: Policy) -> None:
    with pytest.raises(InvalidRequestError) as info:
        price(carbon_request(given_grade(1, days_before(-1))), policy)
    assert [v.field for v in info.value.violations] == ["carbon_grade.assessed_on"]


def test_evidence_age_counts_beijing_calendar_days(policy: Policy) -> None:
    # 2025-06-02 17:30 UTC is already 2025-06-03 in Beijing: evidence of the 3rd is
    # not in the future, and 2024-06-03 is exactly 365 days old.
    at = datetime(2025, 6, 2, 17, 30, tzinfo=UTC)
    for assessed in (date(2025, 6, 3), date(2024, 6, 3)):
        quote = price(carbon_request(given_grade(1, assessed), pricing_time=at), policy)
        assert quote.pricing_date == date(2025, 6, 3)


# --- transition bands ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "adjust", "rate"),
    [
        ("240", -60, 270),
        ("270", -60, 270),  # cut exactly 10%
        ("270.1", -30, 300),
        ("285", -30, 300),  # exactly 5%
        ("285.1", -10, 320),
        ("294", -10, 320),  # exactly 2%
    ],
)
def test_transition_band_at_each_edge(policy: Policy, after: str, adjust: int, rate: int) -> None:
    quote = price(make_request(product_id="transition", transition_kpis=kpis("300", after)), policy)
    assert quote.rate_bp == Decimal(rate)
    band = quote.steps[codes(quote).index("TRANSITION_BAND")]
    assert band.value == str(adjust)


def test_transition_band_step_shows_the_cut_and_the_band(policy: Policy) -> None:
    quote = price(
        make_request(product_id="transition", transition_kpis=kpis("300", "270.1")), policy
    )
    band = quote.steps[codes(quote).index("TRANSITION_BAND")]
    assert band.reason_en == "net coal consumption cut 9.97% meets the ≥5% band"


def test_transition_band_edge_is_exact_when_the_percentage_is_not(policy: Policy) -> None:
    # 333 -> 299.7 is a cut of exactly 10%, though 33.3/333 has no short decimal form.
    quote = price(
        make_request(product_id="transition", transition_kpis=kpis("333", "299.7")), policy
    )
    assert quote.rate_bp == Decimal(270)


def test_transition_cut_under_the_lowest_band_is_refused(policy: Policy) -> None:
    with pytest.raises(IneligibleError) as info:
        price(make_request(product_id="transition", transition_kpis=kpis("300", "294.1")), policy)
    assert info.value.reason == "TRANSITION_KPI_BELOW_MINIMUM"
    assert info.value.metadata == {"reduction_pct": "1.97"}


def test_transition_annual_reduction_under_the_minimum_is_refused(policy: Policy) -> None:
    low = kpis("300", "240", reduced="9999.9")
    with pytest.raises(IneligibleError) as info:
        price(make_request(product_id="transition", transition_kpis=low), policy)
    assert info.value.reason == "TRANSITION_KPI_BELOW_MINIMUM"
    assert info.value.metadata == {"annual_tco2_reduced": "9999.9"}
    at_minimum = kpis("300", "240", reduced="10000")
    assert price(make_request(product_id="transition", transition_kpis=at_minimum), policy)


# --- floor and cap ---------------------------------------------------------------------------


def test_floor_binds_and_is_flagged() -> None:
    high_floor = variant(('floor = "0.80"', 'floor = "1.50"'))
    quote = price(carbon_request(given_grade(1), credit_rating="AAA", term_months=6), high_floor)
    assert quote.rate_bp == Decimal(150)
    assert (quote.floor_binding, quote.cap_binding) == (True, False)
    assert quote.concession_bp == Decimal(150)
    floor = quote.steps[codes(quote).index("FLOOR")]
    assert floor.value == "1.50"
    assert floor.reason_en == "floor 1.50% binds (adjusted rate 1.00%)"


def test_rate_exactly_at_the_floor_is_not_flagged() -> None:
    floor_at_rate = variant(('floor = "0.80"', 'floor = "1.00"'))
    quote = price(carbon_request(given_grade(1), credit_rating="AAA", term_months=6), floor_at_rate)
    assert quote.rate_bp == Decimal(100)
    assert not quote.floor_binding
    assert "FLOOR" not in codes(quote)


def test_cap_binds_and_is_flagged() -> None:
    low_cap = variant(('cap = "8.00"', 'cap = "5.00"'))
    quote = price(make_request(credit_rating="B", term_months=120), low_cap)
    assert quote.ordinary_bp == Decimal(620)
    assert quote.rate_bp == Decimal(500)
    assert (quote.floor_binding, quote.cap_binding) == (False, True)
    assert quote.concession_bp == Decimal(120)
    cap = quote.steps[codes(quote).index("CAP")]
    assert cap.reason_en == "cap 5.00% binds (adjusted rate 6.20%)"


def test_default_policy_binds_neither_bound_for_an_ordinary_quote(policy: Policy) -> None:
    quote = price(make_request(), policy)
    assert not quote.floor_binding
    assert not quote.cap_binding


# --- rounding --------------------------------------------------------------------------------


@pytest.mark.parametrize(("spread", "rate"), [("30.5", 330), ("31.5", 332), ("30.4", 330)])
def test_half_bp_tie_rounds_half_even_with_a_1_bp_step(spread: str, rate: int) -> None:
    p = variant(('AA = "30"', f'AA = "{spread}"'))
    quote = price(make_request(), p)
    assert quote.rate_bp == Decimal(rate)
    assert quote.ordinary_bp == Decimal(rate)
    assert quote.steps[-2].value == f"{Decimal(rate) / 100:.2f}"


@pytest.mark.parametrize(("spread", "rate"), [("32.5", 330), ("37.5", 340), ("32.4", 330)])
def test_rounding_to_a_5_bp_step_is_half_even_in_steps(spread: str, rate: int) -> None:
    p = variant(('AA = "30"', f'AA = "{spread}"'), ('step_bp = "1"', 'step_bp = "5"'))
    quote = price(make_request(), p)
    assert quote.rate_bp == Decimal(rate)
    assert quote.steps[-2].reason_en == "rounded once to 5 bp, half_even"


def test_the_rate_is_rounded_once_not_after_each_step() -> None:
    # Ordinary 330.5 bp (shown rounded: 330); adjustment -200.6 bp. Rounded once:
    # 129.9 -> 130. Rounding the ordinary rate first would give 330 - 200.6 -> 129.
    p = variant(('AA = "30"', 'AA = "30.5"'), ('1 = "-200"', '1 = "-200.6"'))
    quote = price(carbon_request(given_grade(1)), p)
    assert quote.ordinary_bp == Decimal(330)
    assert quote.rate_bp == Decimal(130)
    assert quote.concession_bp == Decimal(200)


def test_half_up_rounding_mode_is_honoured() -> None:
    p = variant(('AA = "30"', 'AA = "30.5"'), ('mode = "half_even"', 'mode = "half_up"'))
    quote = price(make_request(), p)
    assert quote.rate_bp == Decimal(331)
    assert quote.steps[-2].reason_zh == "按 1 bp 四舍五入，仅舍入一次"


# --- request checks --------------------------------------------------------------------------


def test_unknown_product_is_not_found(policy: Policy) -> None:
    with pytest.raises(ProductNotFoundError):
        price(make_request(product_id="no_such_product"), policy)


def test_every_bad_field_is_listed_at_once(policy: Policy) -> None:
    req = make_request(
        credit_rating="CCC", term_months=361, principal_fen=600_000_000_000, upfront_fee_fen=10**12
    )
    with pytest.raises(InvalidRequestError) as info:
        price(req, policy)
    assert [v.field for v in info.value.violations] == [
        "credit_rating",
        "term_months",
        "principal_fen",
        "upfront_fee_fen",
    ]


def test_quote_records_validity_and_policy_identity(policy: Policy) -> None:
    quote = price(make_request(), policy)
    assert quote.valid_until == PRICING_TIME + timedelta(hours=72)
    assert quote.policy_version == "2026.1-default"
    assert quote.policy_digest == policy.digest
    assert quote.pricing_date == PRICING_DATE


# --- determinism -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reloaded() -> Policy:
    """A second, independent load of the default policy."""
    return policy_from_text(default_text())


RATINGS = ["AAA", "AA", "A", "BBB", "BB", "B"]
FIRST = datetime(2019, 8, 20, 1, 30, tzinfo=UTC)  # first fixing, 09:30 Beijing


@st.composite
def valid_requests(draw: st.DrawFn) -> QuoteRequest:
    at = FIRST + timedelta(seconds=draw(st.integers(0, 7 * 365 * 86400)))
    assessed = (at + timedelta(hours=8)).date() - timedelta(days=draw(st.integers(0, 365)))
    principal = draw(st.integers(100, 500_000_000_000))
    product = draw(st.sampled_from(["standard", "lvtanrong", "mine_score", "transition"]))
    evidence: dict[str, object] = {}
    if product == "lvtanrong" and draw(st.booleans()):
        evidence["carbon_grade"] = GivenGrade(draw(st.integers(1, 3)), assessed, "P")
    elif product == "lvtanrong":
        k = Decimal(draw(st.integers(0, 120))) / 100
        evidence["carbon_emissions"] = value_added_emissions(
            str(k * Decimal("2.50") * 400), "400", period_end=assessed
        )
    elif product == "mine_score":
        score = str(Decimal(draw(st.integers(600, 1000))) / 10)
        evidence["mine_score"] = mine(score, draw(st.integers(1, 3)), accepted_on=assessed)
    elif product == "transition":
        after = str(Decimal(draw(st.integers(2000, 2940))) / 10)
        evidence["transition_kpis"] = kpis("300", after, verified_on=assessed)
    return make_request(
        product_id=product,
        credit_rating=draw(st.sampled_from(RATINGS)),
        principal_fen=principal,
        term_months=draw(st.integers(1, 360)),
        repayment=draw(st.sampled_from(list(RepaymentMethod))),
        upfront_fee_fen=draw(st.sampled_from([0, principal // 100, principal // 7])),
        pricing_time=at,
        **evidence,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=valid_requests())
def test_same_request_same_policy_gives_the_same_quote(
    policy: Policy, reloaded: Policy, req: QuoteRequest
) -> None:
    first = price(req, policy)
    schedule.annualised_percent.cache_clear()  # recompute, don't just read the cache
    again = price(req, policy)
    fresh = price(req, reloaded)
    assert first == again == fresh
    assert reloaded.digest == policy.digest


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=valid_requests())
def test_quote_does_not_depend_on_the_callers_decimal_context(
    policy: Policy, req: QuoteRequest
) -> None:
    expected = price(req, policy)
    schedule.annualised_percent.cache_clear()
    with localcontext() as ctx:
        ctx.prec = 9
        ctx.rounding = ROUND_DOWN
        assert price(req, policy) == expected
    schedule.annualised_percent.cache_clear()
    with localcontext() as ctx:
        ctx.rounding = ROUND_UP
        assert price(req, policy) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reqs=st.lists(valid_requests(), min_size=1, max_size=8))
def test_quotes_are_the_same_when_the_policy_memo_keeps_being_emptied(
    policy: Policy, reqs: list[QuoteRequest]
) -> None:
    # A memo of at most 3 entries is emptied over and over while pricing: every
    # value it hands back must be the one a fresh computation gives.
    small = policy_from_text(default_text())
    expected = [price(r, policy) for r in reqs]
    original = engine._MEMO_LIMIT
    engine._MEMO_LIMIT = 3
    try:
        assert [price(r, small) for r in reqs] == expected
        assert len(small.memo) <= 3
    finally:
        engine._MEMO_LIMIT = original
