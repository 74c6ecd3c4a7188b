"""The request mix every benchmark uses: realistic, deterministic, built once up front.

One seeded generator makes CreateQuoteRequest messages across all products
(standard, 绿碳融 with a given or a computed grade, mine score, transition), all
credit ratings, terms 6-360 months, the three repayment methods, some with an
upfront fee, and pricing instants spread over a year under the default policy.
Every request of the mix prices successfully (no refusals), so a figure is a
figure of binding quotes.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ecoloan.pricing.v1 import pricing_service_pb2 as pb

# Shares of the mix, by request kind (sums to 1).
MIX: tuple[tuple[str, float], ...] = (
    ("standard", 0.35),
    ("lvtanrong_given", 0.20),
    ("lvtanrong_computed", 0.15),
    ("mine_score", 0.15),
    ("transition", 0.15),
)
PRODUCT_OF = {
    "standard": "standard",
    "lvtanrong_given": "lvtanrong",
    "lvtanrong_computed": "lvtanrong",
    "mine_score": "mine_score",
    "transition": "transition",
}
RATINGS: tuple[tuple[str, float], ...] = (
    ("AAA", 0.10),
    ("AA", 0.25),
    ("A", 0.30),
    ("BBB", 0.20),
    ("BB", 0.10),
    ("B", 0.05),
)
COMMON_TERMS = (6, 12, 12, 24, 36, 36, 60, 60, 84, 120, 180, 240, 360)
REPAYMENTS = (
    pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
    pb.REPAYMENT_METHOD_EQUAL_PRINCIPAL,
    pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET,
)
FEE_SHARE = 0.30
# Pricing instants: a year in which the default policy's last fixing is in force.
FIRST_INSTANT = datetime(2025, 6, 3, 1, 0, tzinfo=UTC)
SPAN_SECONDS = 330 * 86400
# (industry, basis benchmark) of the default policy; K is drawn so grades are 1-3.
OUTPUT_INDUSTRIES = (
    (pb.INDUSTRY_POWER, Decimal("0.877")),
    (pb.INDUSTRY_ELECTROLYTIC_ALUMINIUM, Decimal("9.1132")),
)
VALUE_ADDED_INDUSTRIES = (
    (pb.INDUSTRY_CHEMICALS, Decimal("2.50")),
    (pb.INDUSTRY_PETROCHEMICALS, Decimal("1.80")),
    (pb.INDUSTRY_COKING, Decimal("4.20")),
    (pb.INDUSTRY_OTHER, Decimal("0.60")),
)


@dataclass(frozen=True)
class Workload:
    """A request mix: the messages and what kind each one is."""

    requests: tuple[pb.CreateQuoteRequest, ...]
    kinds: tuple[str, ...]
    seed: int

    def kind_counts(self) -> dict[str, int]:
        """How many requests of each kind the mix holds."""
        return dict(sorted(Counter(self.kinds).items()))

    def describe(self) -> dict[str, object]:
        """The mix's parameters, for a result file."""
        with_fee = sum(1 for r in self.requests if r.upfront_fee_fen > 0)
        return {
            "seed": self.seed,
            "size": len(self.requests),
            "kinds": self.kind_counts(),
            "with_upfront_fee": with_fee,
            "terms_months": [
                min(r.term_months for r in self.requests),
                max(r.term_months for r in self.requests),
            ],
            "pricing_time_range": [
                FIRST_INSTANT.isoformat(),
                (FIRST_INSTANT + timedelta(seconds=SPAN_SECONDS)).isoformat(),
            ],
            "refusals": 0,
        }


def _weighted(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    names = [n for n, _ in table]
    weights = [w for _, w in table]
    return rng.choices(names, weights)[0]


def _decimal_str(value: float, places: int) -> str:
    return str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places)))


def _evidence_date(rng: random.Random, instant: datetime) -> str:
    # Beijing date of the instant minus 5-300 days: well inside the 365-day limit.
    beijing = (instant + timedelta(hours=8)).date()
    return (beijing - timedelta(days=rng.randint(5, 300))).isoformat()


def make_request(rng: random.Random, kind: str, index: int, seed: int) -> pb.CreateQuoteRequest:
    """One request of `kind`; `index` makes borrower and request ids unique."""
    instant = FIRST_INSTANT + timedelta(
        seconds=rng.randrange(SPAN_SECONDS), microseconds=rng.randrange(1_000_000)
    )
    term = rng.choice(COMMON_TERMS) if rng.random() < 0.6 else rng.randint(6, 360)
    # Principal log-uniform from 100k CNY to 500M CNY, in fen, rounded to 100 CNY.
    principal = int(10 ** rng.uniform(7, 10.7)) // 10_000 * 10_000
    fee = 0
    if rng.random() < FEE_SHARE:
        fee = principal * rng.randint(5, 150) // 10_000  # 0.05%-1.5%
    req = pb.CreateQuoteRequest(
        request_id=f"bench-{seed}-{index:07d}",
        borrower_id=f"91650000MA{index:08d}",
        product_id=PRODUCT_OF[kind],
        credit_rating=_weighted(rng, RATINGS),
        principal_fen=principal,
        term_months=term,
        repayment_method=rng.choice(REPAYMENTS),
        upfront_fee_fen=fee,
    )
    req.pricing_time.FromDatetime(instant)
    if kind == "lvtanrong_given":
        req.carbon_grade.grade = rng.choice((1, 2, 2, 3, 3))
        req.carbon_grade.assessed_on = _evidence_date(rng, instant)
        req.carbon_grade.platform_id = rng.choice(("changji-carbon", "xj-carbon-account"))
    elif kind == "lvtanrong_computed":
        e = req.carbon_emissions
        k = rng.uniform(0.35, 1.15)  # grade 1, 2 or 3
        if rng.random() < 0.5:
            industry, bench = rng.choice(OUTPUT_INDUSTRIES)
            activity = rng.uniform(1_000, 2_000_000)
            e.output_quantity = _decimal_str(activity, 1)
        else:
            industry, bench = rng.choice(VALUE_ADDED_INDUSTRIES)
            activity = rng.uniform(500, 500_000)
            e.value_added_10k_cny = _decimal_str(activity, 2)
        e.industry = industry
        e.emissions_tco2 = _decimal_str(k * float(bench) * activity, 1)
        e.period_end = _evidence_date(rng, instant)
        e.platform_id = "changji-carbon"
    elif kind == "mine_score":
        m = req.mine_score
        m.score = _decimal_str(rng.uniform(60, 100), 1)
        m.construction_class = rng.choice((1, 2, 3))
        m.mandatory_indicators_passed = True
        m.accepted_on = _evidence_date(rng, instant)
    elif kind == "transition":
        t = req.transition_kpis
        before = rng.uniform(290, 340)
        cut_pct = rng.uniform(2.5, 18)
        t.annual_tco2_reduced = _decimal_str(rng.uniform(12_000, 900_000), 0)
        t.coal_g_per_kwh_before = _decimal_str(before, 1)
        t.coal_g_per_kwh_after = _decimal_str(before * (1 - cut_pct / 100), 1)
        t.verified_on = _evidence_date(rng, instant)
    return req


def build(size: int, seed: int = 20261122) -> Workload:
    """`size` requests of the mix, reproducible from `seed`."""
    rng = random.Random(seed)
    kinds = tuple(_weighted(rng, MIX) for _ in range(size))
    requests = tuple(make_request(rng, kind, i, seed) for i, kind in enumerate(kinds))
    return Workload(requests, kinds, seed)
