"""LPR lookup: the fixing in force at an instant, at and around every change point.

The expected table is written out from the NIFC history (DOMAIN.md §4), not read
from the policy file, so a wrong or missing fixing in the default policy fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pricing_builders import BEIJING, make_request

from pricing_service.domain.engine import price
from pricing_service.domain.errors import NoFixingInForceError
from pricing_service.domain.evidence import Tenor
from pricing_service.domain.lpr import Fixing, FixingTable
from pricing_service.domain.policy import Policy


def bj(y: int, m: int, d: int, hh: int, mm: int) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BEIJING)


# (publication instant in Beijing time, 1Y %, 5Y+ %): 09:30 until 2024-07-19,
# 09:00 from 2024-07-22 on.
CHANGE_POINTS = [
    (bj(2019, 8, 20, 9, 30), "4.25", "4.85"),
    (bj(2019, 9, 20, 9, 30), "4.20", "4.85"),
    (bj(2019, 11, 20, 9, 30), "4.15", "4.80"),
    (bj(2020, 2, 20, 9, 30), "4.05", "4.75"),
    (bj(2020, 4, 20, 9, 30), "3.85", "4.65"),
    (bj(2021, 12, 20, 9, 30), "3.80", "4.65"),
    (bj(2022, 1, 20, 9, 30), "3.70", "4.60"),
    (bj(2022, 5, 20, 9, 30), "3.70", "4.45"),
    (bj(2022, 8, 22, 9, 30), "3.65", "4.30"),
    (bj(2023, 6, 20, 9, 30), "3.55", "4.20"),
    (bj(2023, 8, 21, 9, 30), "3.45", "4.20"),
    (bj(2024, 2, 20, 9, 30), "3.45", "3.95"),
    (bj(2024, 7, 22, 9, 0), "3.35", "3.85"),
    (bj(2024, 10, 21, 9, 0), "3.10", "3.60"),
    (bj(2025, 5, 20, 9, 0), "3.00", "3.50"),
]
LATER = list(zip(CHANGE_POINTS[1:], CHANGE_POINTS[:-1], strict=True))
ONE_MICROSECOND = timedelta(microseconds=1)


def bp(percent: str) -> Decimal:
    return Decimal(percent) * 100


def test_default_policy_holds_exactly_the_nifc_change_points(policy: Policy) -> None:
    got = [(f.published_at, f.lpr_1y_bp, f.lpr_5y_bp) for f in policy.fixings.fixings]
    assert got == [(at, bp(one), bp(five)) for at, one, five in CHANGE_POINTS]


@pytest.mark.parametrize(
    ("change", "previous"), LATER, ids=[c[0].date().isoformat() for c, _ in LATER]
)
def test_one_microsecond_before_publication_the_previous_fixing_holds(
    policy: Policy, change: tuple[datetime, str, str], previous: tuple[datetime, str, str]
) -> None:
    fixing = policy.fixings.in_force(change[0] - ONE_MICROSECOND)
    assert fixing.published_at == previous[0]
    assert (fixing.lpr_1y_bp, fixing.lpr_5y_bp) == (bp(previous[1]), bp(previous[2]))


@pytest.mark.parametrize(
    "change", CHANGE_POINTS, ids=[c[0].date().isoformat() for c in CHANGE_POINTS]
)
def test_at_and_after_publication_the_new_fixing_holds(
    policy: Policy, change: tuple[datetime, str, str]
) -> None:
    at, one, five = change
    for instant in (at, at + ONE_MICROSECOND, at + timedelta(hours=15), at + timedelta(days=27)):
        fixing = policy.fixings.in_force(instant)
        assert fixing.published_at == at
        assert (fixing.lpr_1y_bp, fixing.lpr_5y_bp) == (bp(one), bp(five))


def test_lookup_compares_instants_not_wall_clocks_across_offsets(policy: Policy) -> None:
    # 2024-07-22 00:59:59 UTC is 08:59:59 in Beijing: one second before publication.
    before = datetime(2024, 7, 22, 0, 59, 59, tzinfo=UTC)
    assert policy.fixings.in_force(before).lpr_1y_bp == Decimal("345.00")
    assert policy.fixings.in_force(before + timedelta(seconds=1)).lpr_1y_bp == Decimal("335.00")


def test_fixing_long_after_the_last_change_is_the_last_fixing(policy: Policy) -> None:
    fixing = policy.fixings.in_force(bj(2026, 5, 20, 9, 0))
    assert fixing.published_at == bj(2025, 5, 20, 9, 0)
    assert fixing.lpr_1y_bp == Decimal("300.00")


def test_before_the_first_fixing_no_fixing_is_in_force(policy: Policy) -> None:
    first = CHANGE_POINTS[0][0]
    with pytest.raises(NoFixingInForceError) as info:
        policy.fixings.in_force(first - ONE_MICROSECOND)
    assert info.value.reason == "NO_FIXING_IN_FORCE"


def test_quote_before_the_first_fixing_is_refused_with_no_fixing_in_force(policy: Policy) -> None:
    req = make_request(pricing_time=bj(2019, 8, 20, 9, 29).astimezone(UTC))
    with pytest.raises(NoFixingInForceError):
        price(req, policy)


def test_fixing_table_sorts_its_input_by_publication() -> None:
    a = Fixing(bj(2020, 1, 20, 9, 30), Decimal(400), Decimal(480))
    b = Fixing(bj(2020, 2, 20, 9, 30), Decimal(390), Decimal(470))
    table = FixingTable([b, a])
    assert table.fixings == (a, b)
    assert table.in_force(bj(2020, 2, 1, 0, 0)) is a


def test_fixing_rate_bp_picks_the_tenor() -> None:
    f = Fixing(bj(2020, 1, 20, 9, 30), Decimal(400), Decimal(480))
    assert f.rate_bp(Tenor.ONE_YEAR) == Decimal(400)
    assert f.rate_bp(Tenor.FIVE_YEAR_PLUS) == Decimal(480)


# --- through the engine: the base rate of a quote --------------------------------------------


def test_quote_at_0830_beijing_on_2024_07_22_still_uses_3_45_and_3_95(policy: Policy) -> None:
    at = bj(2024, 7, 22, 8, 30).astimezone(UTC)
    short = price(make_request(pricing_time=at, term_months=12), policy)
    long = price(make_request(pricing_time=at, term_months=120), policy)
    assert (short.tenor, short.base_bp) == (Tenor.ONE_YEAR, Decimal("345.00"))
    assert (long.tenor, long.base_bp) == (Tenor.FIVE_YEAR_PLUS, Decimal("395.00"))
    assert short.base_published_at == bj(2024, 2, 20, 9, 30)
    assert short.steps[0].value == "3.45"
    assert long.steps[0].value == "3.95"


def test_quote_at_0900_beijing_on_2024_07_22_uses_the_new_3_35_and_3_85(policy: Policy) -> None:
    at = bj(2024, 7, 22, 9, 0).astimezone(UTC)
    short = price(make_request(pricing_time=at, term_months=12), policy)
    long = price(make_request(pricing_time=at, term_months=120), policy)
    assert short.base_bp == Decimal("335.00")
    assert long.base_bp == Decimal("385.00")
    assert short.steps[0].reason_en == (
        "1Y LPR published 2024-07-22 09:00 Beijing time, in force at pricing"
    )


@pytest.mark.parametrize(
    ("term", "tenor", "base"),
    [
        (1, Tenor.ONE_YEAR, "300.00"),
        (60, Tenor.ONE_YEAR, "300.00"),
        (61, Tenor.FIVE_YEAR_PLUS, "350.00"),
        (360, Tenor.FIVE_YEAR_PLUS, "350.00"),
    ],
)
def test_terms_up_to_60_months_use_1y_and_from_61_the_5y_plus_lpr(
    policy: Policy, term: int, tenor: Tenor, base: str
) -> None:
    quote = price(make_request(term_months=term), policy)
    assert quote.tenor is tenor
    assert quote.base_bp == Decimal(base)
