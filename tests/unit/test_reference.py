"""A product's reference: its adjustment taken from the ordinary-loan rate or from the LPR.

"2 points below ordinary loans" (the seeds, `ordinary`, the default) and "LPR 减 200 个基点"
(`base`) price the same borrower differently. Pinned here at 2025-06-03 (LPR 3.00 / 3.50),
at the 2024-07-22 change point (3.45 until 09:00 Beijing time, 3.35 from then), and at the
floor (0.80 %): both readings, in the engine and in the compiled (vectorised) form.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from typing import Any

import numpy as np
import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from pricing_builders import (
    BEIJING,
    PRICING_TIME,
    default_text,
    edited,
    given_grade,
    make_request,
    output_emissions,
    policy_from_text,
)
from rich.console import Console
from test_simulate_vector import assert_same

from pricing_service.api import convert
from pricing_service.cli.quote_render import render_quote
from pricing_service.domain.engine import price
from pricing_service.domain.errors import PolicyError
from pricing_service.domain.evidence import Industry, Reference
from pricing_service.domain.policy import Policy
from pricing_service.domain.quote import PricedQuote
from pricing_service.domain.request import QuoteRequest
from pricing_service.policy.document import canonical_bytes, digest_of, parse_document
from pricing_service.simulate.calibrate import calibrate
from pricing_service.simulate.generator import generate_portfolio
from pricing_service.simulate.montecarlo import GradeTransitions, ScoreDrift, run_montecarlo
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.reference import price_portfolio_scalar
from pricing_service.simulate.results import UNITS_PER_BP
from pricing_service.simulate.vector import ordinary_units, price_portfolio, reference_units

NAME = 'name_en = "Carbon-account loan (Lü Tan Rong)"'
D = Decimal
DEFAULT_DIGEST = "bd4d27e1ca10fb56b025dffcea01ceed697cdfb622b9f05f68b7c3c4b3f03371"


def with_reference(keys: str, *edits: tuple[str, str]) -> Policy:
    """The default policy with `keys` (TOML lines) added to 绿碳融, and text edits."""
    text = edited(default_text(), NAME, f"{NAME}\n{keys}")
    for old, new in edits:
        text = edited(text, old, new)
    return policy_from_text(text)


ORDINARY = policy_from_text(default_text())
BASE = with_reference('reference = "base"')
BASE_SPREADS = with_reference('reference = "base"\nwith_spreads = true')
EXPLICIT_ORDINARY = with_reference('reference = "ordinary"')


def smelter(**kw: Any) -> QuoteRequest:
    """The README's electrolytic-aluminium borrower: AA, 12 months, grade 1 computed (K 0.5761)."""
    req = make_request(
        product_id="lvtanrong",
        principal_fen=1_000_000_000,
        carbon_emissions=output_emissions(
            "1050000", "200000", industry=Industry.ELECTROLYTIC_ALUMINIUM
        ),
    )
    return dataclasses.replace(req, **kw)


def step(quote: PricedQuote, code: str) -> tuple[str, str, str]:
    (found,) = [s for s in quote.steps if s.code == code]
    return found.value, found.reason_zh, found.reason_en


def codes(quote: PricedQuote) -> list[str]:
    return [s.code for s in quote.steps]


# --- the engine -------------------------------------------------------------------------------


def test_the_smelter_at_lpr_3_00_under_each_reading() -> None:
    ordinary, base, spreads = (price(smelter(), p) for p in (ORDINARY, BASE, BASE_SPREADS))
    # ordinary: 3.00 + 0.30 - 2.00 = 1.30; base without spreads: 3.00 - 2.00 = 1.00.
    assert (ordinary.rate_bp, base.rate_bp, spreads.rate_bp) == (D(130), D(100), D(130))
    # The concession is always against the ordinary rate (what the borrower saves).
    assert ordinary.ordinary_bp == base.ordinary_bp == spreads.ordinary_bp == 330
    assert (ordinary.concession_bp, base.concession_bp, spreads.concession_bp) == (
        D(200),
        D(230),
        D(200),
    )
    assert (ordinary.reference, base.reference, spreads.reference) == (
        Reference.ORDINARY,
        Reference.BASE,
        Reference.BASE,
    )
    assert ordinary.first_year_concession_fen == 10_909_350
    assert base.first_year_concession_fen == 12_540_056  # 125,400.56 CNY
    assert not base.floor_binding


def test_the_base_breakdown_names_the_reference_in_both_languages() -> None:
    base = price(smelter(), BASE)
    assert codes(base) == [
        "BASE_RATE",
        "STANDARD_SPREAD",
        "ORDINARY_RATE",
        "CARBON_EFFICIENCY_K",
        "CARBON_GRADE",
        "CARBON_ADJUSTMENT",
        "PRICING_REFERENCE",
        "ROUNDING",
        "CONCESSION",
    ]
    assert step(base, "PRICING_REFERENCE") == (
        "3.00",
        "绿碳融：较1Y LPR低200个基点（不加信用评级与期限加点）",
        "Carbon-account loan (Lü Tan Rong): 200 bp below the 1Y LPR, "
        "without the rating and term spreads",
    )
    assert step(base, "CARBON_ADJUSTMENT") == (
        "-200",
        "绿碳融：碳账户 1 级较LPR调整",
        "Carbon-account loan (Lü Tan Rong): adjustment for carbon grade 1 vs the LPR",
    )
    assert step(base, "ROUNDING")[0] == "1.00"
    assert step(base, "CONCESSION") == (
        "230",
        "较普通贷款利率的优惠",
        "concession versus the ordinary-loan rate",
    )
    spreads = price(smelter(), BASE_SPREADS)
    assert step(spreads, "PRICING_REFERENCE") == (
        "3.30",
        "绿碳融：较1Y LPR低200个基点（另加信用评级与期限加点）",
        "Carbon-account loan (Lü Tan Rong): 200 bp below the 1Y LPR "
        "plus the rating and term spreads",
    )


def test_an_ordinary_quote_is_what_it_always_was() -> None:
    # Written out or left to its default, `ordinary` gives the same quote, step for step.
    default = price(smelter(), ORDINARY)
    explicit = price(smelter(), EXPLICIT_ORDINARY)
    assert "PRICING_REFERENCE" not in codes(default)
    assert default.steps == explicit.steps
    assert (default.rate_bp, explicit.rate_bp) == (D(130), D(130))
    assert step(default, "CARBON_ADJUSTMENT")[2].endswith("vs the ordinary rate")


@pytest.mark.parametrize(
    ("hour", "minute", "lpr", "ordinary_rate", "base_rate"),
    [
        (8, 59, 345, 175, 145),  # before 09:00 the 2024-02-20 fixing (3.45) holds
        (9, 0, 335, 165, 135),  # from 09:00 the 2024-07-22 fixing (3.35)
    ],
)
def test_both_readings_at_an_lpr_change_point(
    hour: int, minute: int, lpr: int, ordinary_rate: int, base_rate: int
) -> None:
    at = datetime(2024, 7, 22, hour, minute, tzinfo=BEIJING).astimezone(UTC)
    req = make_request(product_id="lvtanrong", carbon_grade=given_grade(1, at.date()))
    req = dataclasses.replace(req, pricing_time=at)
    ordinary, base = price(req, ORDINARY), price(req, BASE)
    assert ordinary.base_bp == base.base_bp == lpr
    assert (ordinary.rate_bp, base.rate_bp) == (D(ordinary_rate), D(base_rate))
    assert base.concession_bp == ordinary.ordinary_bp - base_rate == 230
    assert step(base, "PRICING_REFERENCE")[0] == f"{Decimal(lpr) / 100:.2f}"


def test_a_base_discount_below_the_floor_is_floored_and_flagged() -> None:
    # -250 bp: from the ordinary 3.30 % it reaches 0.80 %, exactly the floor (not flagged);
    # from the LPR 3.00 % it would be 0.50 %: floored at 0.80 % and flagged.
    deep = ('1 = "-200"', '1 = "-250"')
    ordinary = price(smelter(), policy_from_text(edited(default_text(), *deep)))
    base = price(smelter(), with_reference('reference = "base"', deep))
    assert (ordinary.rate_bp, ordinary.floor_binding) == (D(80), False)
    assert (base.rate_bp, base.floor_binding, base.cap_binding) == (D(80), True, False)
    assert base.concession_bp == 250
    assert step(base, "FLOOR")[2] == "floor 0.80% binds (adjusted rate 0.50%)"
    assert codes(base)[-5:] == [
        "CARBON_ADJUSTMENT",
        "PRICING_REFERENCE",
        "FLOOR",
        "ROUNDING",
        "CONCESSION",
    ]


def test_a_standard_product_on_base_is_priced_at_the_lpr() -> None:
    policy = policy_from_text(
        edited(
            default_text(),
            'name_en = "Ordinary loan"',
            'name_en = "Ordinary loan"\nreference = "base"',
        )
    )
    quote = price(make_request(credit_rating="AA", term_months=24), policy)
    assert (quote.ordinary_bp, quote.rate_bp, quote.concession_bp) == (D(340), D(300), D(40))
    assert step(quote, "PRICING_REFERENCE")[2] == (
        "Ordinary loan: level with the 1Y LPR, without the rating and term spreads"
    )


# --- the policy -------------------------------------------------------------------------------


def test_the_default_policy_keeps_ordinary_and_its_digest() -> None:
    assert ORDINARY.digest == DEFAULT_DIGEST
    assert all(p.reference is Reference.ORDINARY for p in ORDINARY.products.values())
    assert all(p.adds_spreads for p in ORDINARY.products.values())
    assert b"reference" not in canonical_bytes(parse_document(default_text().encode()))


def test_the_digest_covers_the_reference() -> None:
    digests = {p.digest for p in (ORDINARY, BASE, BASE_SPREADS, EXPLICIT_ORDINARY)}
    assert len(digests) == 4
    assert BASE.digest == digest_of(
        canonical_bytes(
            parse_document(edited(default_text(), NAME, f'{NAME}\nreference = "base"').encode())
        )
    )


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        (
            'reference = "lpr"',
            "products.lvtanrong.reference: unknown reference 'lpr'; one of ordinary, base",
        ),
        (
            "reference = 1",
            "products.lvtanrong.reference: unknown reference 1; one of ordinary, base",
        ),
        (
            'reference = "base"\nwith_spreads = "yes"',
            "products.lvtanrong.with_spreads: must be true or false, got 'yes'",
        ),
        (
            "with_spreads = true",
            'products.lvtanrong.with_spreads: only with reference = "base" '
            "(the ordinary rate has its spreads already)",
        ),
        (
            'reference = "ordinary"\nwith_spreads = false',
            'products.lvtanrong.with_spreads: only with reference = "base" '
            "(the ordinary rate has its spreads already)",
        ),
    ],
)
def test_a_bad_reference_is_a_listed_problem(keys: str, problem: str) -> None:
    with pytest.raises(PolicyError) as info:
        with_reference(keys)
    assert problem in info.value.problems


def test_a_misspelt_reference_key_is_an_unknown_key() -> None:
    with pytest.raises(PolicyError) as info:
        with_reference('refrence = "base"')
    assert any(
        p.startswith("products.lvtanrong.refrence: unknown key") for p in info.value.problems
    )


def test_the_default_policy_file_shows_base_in_a_commented_product() -> None:
    text = default_text()
    assert "\nreference =" not in text  # the shipped products keep the default, ordinary
    start = text.index("# [products.lvtanrong_lpr]")
    block = text[start : text.index("\n\n", start)]
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    policy = policy_from_text(f"{text}\n{uncommented}\n")
    product = policy.products["lvtanrong_lpr"]
    assert (product.reference, product.with_spreads) == (Reference.BASE, False)
    quote = price(smelter(product_id="lvtanrong_lpr"), policy)
    assert (quote.rate_bp, quote.concession_bp) == (D(100), D(230))
    assert price(smelter(), policy).rate_bp == 130


# --- the compiled form ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy", [BASE, BASE_SPREADS, EXPLICIT_ORDINARY], ids=["base", "base_spreads", "ordinary"]
)
def test_the_vector_pricer_honours_the_reference(policy: Policy) -> None:
    book = generate_portfolio(3000, 7, PRICING_TIME.astimezone(BEIJING).date())
    vector = price_portfolio(book, policy, PRICING_TIME)
    assert_same(vector, price_portfolio_scalar(book, policy, PRICING_TIME))
    carbon = (book.product_id == "lvtanrong") & (vector.status == "PRICED")
    assert carbon.any()
    # Under `base` without spreads a 绿碳融 loan is priced off the LPR: 200 bp below it.
    expected = vector.base_units if policy is BASE else vector.ordinary_units
    lifted = expected[carbon] - 200 * UNITS_PER_BP
    rate = vector.rate_units[carbon]
    floor = vector.floor_binding[carbon]
    assert (rate[~floor] == lifted[~floor]).all()


def test_reference_units_pick_the_lpr_only_for_base_without_spreads() -> None:
    book = generate_portfolio(500, 3, PRICING_TIME.astimezone(BEIJING).date())
    ordinary = ordinary_units(book, BASE, PRICING_TIME)
    on_lpr = book.product_id == "lvtanrong"
    reference = reference_units(book, BASE, PRICING_TIME)
    assert (reference[on_lpr] == ordinary.base[on_lpr]).all()
    assert (reference[~on_lpr] == ordinary.raw[~on_lpr]).all()
    assert (reference_units(book, BASE_SPREADS, PRICING_TIME) == ordinary.raw).all()


def _carbon_book(*grades: int) -> Portfolio:
    p = Portfolio.empty(len(grades))
    for i, grade in enumerate(grades):
        p.loan_id[i], p.borrower_id[i] = f"L{i}", f"B{i}"
        p.product_id[i], p.credit_rating[i] = "lvtanrong", "AA"
        p.principal_fen[i], p.term_months[i] = 100_000_000, 36
        p.repayment[i], p.upfront_fee_fen[i] = "interest_only_bullet", 0
        p.carbon_grade[i] = grade
        p.carbon_assessed_on[i] = np.datetime64("2025-05-01")
    return p


def test_monte_carlo_prices_base_states_off_the_lpr_and_refused_ones_at_the_ordinary_rate() -> None:
    # AA, 36 months: ordinary 3.00 + 0.30 + 0.10 = 3.40 %; under `base` grade 3 is
    # 3.00 - 2.00 = 1.00 % (concession 240 bp: 24,000.00 CNY a year on 1,000,000.00).
    # Grade 3 -> 4 from year 2: grade 4 is not eligible, the loan runs on at 3.40 %.
    moving = GradeTransitions(
        tuple(
            tuple(Decimal(int(h == (4 if g == 3 else g))) for h in range(1, 6)) for g in range(1, 6)
        )
    )
    result = run_montecarlo(
        _carbon_book(3),
        BASE,
        PRICING_TIME,
        years=5,
        paths=2,
        seed=1,
        transitions=moving,
        score_drift=ScoreDrift.none(),
    )
    assert result.path_rate_units.tolist() == [[1_000_000, 3_400_000, 3_400_000, 0, 0]] * 2
    assert result.path_concession_fen.tolist() == [[2_400_000, 0, 0, 0, 0]] * 2
    assert result.baseline_rate_units.tolist() == [1_000_000] * 3 + [0, 0]


def test_calibrate_solves_a_base_discount_off_the_lpr() -> None:
    # AA, 36 months, interest-only 1,000,000.00 CNY, grade 3: ordinary 3.40 %. Off the LPR
    # the rate is 300 + x bp and the concession 340 - round(300 + x): a budget of
    # 1,234,567 fen allows 123 bp, so 300 + x must round to 217: x = -83.49 at most
    # generous (-83.50 gives 216.50, half-even 216, 124 bp). The shipped -200 bp costs 240 bp.
    doc = parse_document(default_text().encode())
    doc["products"]["lvtanrong"]["reference"] = "base"
    loan = Portfolio.empty(1)
    loan.loan_id[0], loan.borrower_id[0] = "L0", "B0"
    loan.product_id[0], loan.credit_rating[0] = "lvtanrong", "AA"
    loan.principal_fen[0], loan.term_months[0] = 100_000_000, 36
    loan.repayment[0], loan.upfront_fee_fen[0] = "interest_only_bullet", 0
    loan.carbon_grade[0], loan.carbon_assessed_on[0] = 3, np.datetime64("2025-05-01")
    result = calibrate(loan, doc, "products.lvtanrong.grade_adjust_bp", 1_234_567, PRICING_TIME)
    summary = result.to_json()
    assert (summary["value"], summary["cost_fen"]) == ("-83.49", 1_230_000)
    assert (summary["next_value"], summary["next_cost_fen"]) == ("-83.50", 1_240_000)
    assert (summary["original_value"], summary["original_cost_fen"]) == ("-200", 2_400_000)
    assert result.document["products"]["lvtanrong"]["reference"] == "base"


def test_pricing_quote_renders_the_reference_of_a_base_quote() -> None:
    def rendered(policy: Policy) -> str:
        quote = price(smelter(), policy)
        request = {"pricing_time": "2025-06-03T02:00:00Z", "principal_fen": "1000000000"}
        buffer = StringIO()
        console = Console(file=buffer, width=160, color_system=None)
        render_quote(console, convert.quote_to_pb(quote, quote_id="q_x", request=request), None)
        return buffer.getvalue()

    base = rendered(BASE)
    assert "priced from 定价基准" in base
    assert "the 1Y LPR (product reference: base)" in base
    assert "定价基准" not in rendered(ORDINARY)


def test_list_products_says_which_reference_a_product_takes() -> None:
    base = convert.product_to_pb(BASE.products["lvtanrong"])
    spreads = convert.product_to_pb(BASE_SPREADS.products["lvtanrong"])
    ordinary = convert.product_to_pb(ORDINARY.products["lvtanrong"])
    assert base.pricing_reference == spreads.pricing_reference == pb.PRICING_REFERENCE_BASE
    assert ordinary.pricing_reference == pb.PRICING_REFERENCE_UNSPECIFIED
    assert base.description.endswith(
        "Adjustment taken from the LPR of the tenor, without the rating and term spreads."
    )
    assert (
        ordinary.description
        == "Ordinary rate adjusted by carbon-account grade; eligible grades 1, 2, 3."
    )
