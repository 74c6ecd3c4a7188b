"""Benchmark 5: portfolio simulation, vectorised engine vs the scalar reference, one core.

`run_vector_bench` builds a realistic synthetic book with a seeded numpy
generator (not timed) at 10k, 100k and 1M loans and times
`simulate.vector.price_portfolio` on the whole book, and in the same run
`simulate.reference.price_portfolio_scalar` (every loan through engine.price)
on its first 10k-20k loans; the ratio of the two rates is the figure to read.
The vectorised result on that subset is checked equal to the scalar one,
column by column. Every functools cache of pricing_service.domain is emptied
before each timed stretch, so neither side profits from loans priced before.

The book: 40 % standard, 30 % 绿碳融 with a given grade, 10 % 绿碳融 with the
grade computed from emissions, 15 % mine score, 5 % transition; ratings AAA-B;
terms 6-360 months (60 % common terms); the three repayment methods; principal
log-uniform 100k-500M CNY; 30 % with an upfront fee; evidence 0-400 days old.
Some loans are refused as a real book's would be (stale evidence, grades 4-5,
scores below 60, small coal cuts): about 80 % price.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from bench.common import machine_info, now_iso, pinned, ratio
from bench.engine_bench import domain_caches

VECTOR_TARGET_LOANS_PER_S = 1_000_000
AS_OF = datetime(2026, 11, 20, 10, 0, tzinfo=timezone(timedelta(hours=8)))
PRODUCTS = (
    ("standard", 0.40),
    ("lvtanrong_given", 0.30),
    ("lvtanrong_computed", 0.10),
    ("mine_score", 0.15),
    ("transition", 0.05),
)
RATINGS = (("AAA", 0.10), ("AA", 0.25), ("A", 0.30), ("BBB", 0.20), ("BB", 0.10), ("B", 0.05))
COMMON_TERMS = (6, 12, 12, 24, 36, 36, 60, 60, 84, 120, 180, 240, 360)
REPAYMENTS = ("equal_installment", "equal_principal", "interest_only_bullet")
# Industry and its default-policy benchmark (tCO2 per unit of output or per 万元).
INDUSTRIES = (
    ("power", 0.877),
    ("electrolytic_aluminium", 9.1132),
    ("chemicals", 2.50),
    ("petrochemicals", 1.80),
    ("coking", 4.20),
    ("other", 0.60),
)
OUTPUT_BASED = frozenset({"power", "electrolytic_aluminium"})


def _pick(rng: np.random.Generator, table: tuple[tuple[str, float], ...], n: int) -> Any:
    names = np.array([name for name, _ in table], dtype=object)
    return names[rng.choice(len(table), size=n, p=[share for _, share in table])]


def _days_before(rng: np.random.Generator, n: int, most: int = 400) -> Any:
    pricing_day = np.datetime64(AS_OF.date(), "D")
    return pricing_day - rng.integers(0, most + 1, n).astype("timedelta64[D]")


def build_portfolio(n: int, seed: int = 20261120) -> Any:
    """A realistic synthetic book of n loans (deterministic for a seed)."""
    from pricing_service.simulate.portfolio import ABSENT, MICRO, Portfolio  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    p = Portfolio.empty(n)
    kind = _pick(rng, PRODUCTS, n)
    p.loan_id[:] = np.array([f"L{i:08d}" for i in range(n)], dtype=object)
    p.borrower_id[:] = p.loan_id
    p.product_id[:] = np.where(
        (kind == "lvtanrong_given") | (kind == "lvtanrong_computed"), "lvtanrong", kind
    )
    p.credit_rating[:] = _pick(rng, RATINGS, n)
    common = np.array(COMMON_TERMS)[rng.integers(0, len(COMMON_TERMS), n)]
    p.term_months[:] = np.where(rng.random(n) < 0.6, common, rng.integers(6, 361, n))
    p.repayment[:] = np.array(REPAYMENTS, dtype=object)[rng.integers(0, 3, n)]
    principal = np.exp(rng.uniform(np.log(1e7), np.log(5e10), n)).astype(np.int64)
    p.principal_fen[:] = principal
    fee_rate = rng.uniform(0.0005, 0.015, n)
    p.upfront_fee_fen[:] = np.where(rng.random(n) < 0.3, (principal * fee_rate).astype(np.int64), 0)

    given = kind == "lvtanrong_given"
    grade = rng.choice(5, size=n, p=[0.25, 0.30, 0.27, 0.12, 0.06]) + 1
    p.carbon_grade[:] = np.where(given, grade, ABSENT)
    p.carbon_assessed_on[given] = _days_before(rng, int(given.sum()))

    computed = kind == "lvtanrong_computed"
    industry = rng.integers(0, len(INDUSTRIES), n)
    names = np.array([name for name, _ in INDUSTRIES], dtype=object)
    bench = np.array([b for _, b in INDUSTRIES])[industry]
    activity = (np.exp(rng.uniform(np.log(1e3), np.log(1e7), n)) * MICRO).astype(np.int64)
    k = rng.uniform(0.3, 1.6, n)
    emissions = (k * bench * activity).astype(np.int64)
    on_output = np.isin(names[industry], list(OUTPUT_BASED))
    p.industry[computed] = names[industry][computed]
    p.emissions_tco2[:] = np.where(computed, emissions, ABSENT)
    p.output_quantity[:] = np.where(computed & on_output, activity, ABSENT)
    p.value_added_10k_cny[:] = np.where(computed & ~on_output, activity, ABSENT)
    p.emissions_period_end[computed] = _days_before(rng, int(computed.sum()))

    mine = kind == "mine_score"
    p.mine_score_tenths[:] = np.where(mine, rng.integers(550, 1001, n), ABSENT)
    p.construction_class[:] = np.where(mine, rng.integers(1, 4, n), ABSENT)
    p.mandatory_passed[:] = mine & (rng.random(n) < 0.97)
    p.mine_accepted_on[mine] = _days_before(rng, int(mine.sum()))

    transition = kind == "transition"
    before = rng.integers(280 * MICRO, 330 * MICRO, n)
    cut = rng.uniform(0.0, 0.15, n)
    p.annual_tco2_reduced[:] = np.where(transition, rng.integers(5_000, 200_000, n) * MICRO, ABSENT)
    p.coal_g_per_kwh_before[:] = np.where(transition, before, ABSENT)
    p.coal_g_per_kwh_after[:] = np.where(transition, (before * (1 - cut)).astype(np.int64), ABSENT)
    p.kpis_verified_on[transition] = _days_before(rng, int(transition.sum()))
    return p


def _clear(caches: dict[str, Any]) -> None:
    for cached in caches.values():
        cached.cache_clear()


def _timed(call: Any, caches: dict[str, Any]) -> tuple[float, float, Any]:
    """(wall s, this thread's CPU s, result) of one call after emptying the domain caches."""
    _clear(caches)
    c0 = time.thread_time()
    t0 = time.perf_counter()
    result = call()
    return time.perf_counter() - t0, time.thread_time() - c0, result


def _differences(a: Any, b: Any) -> dict[str, int]:
    from pricing_service.simulate.results import LoanResults  # noqa: PLC0415

    out = {}
    for name in LoanResults.column_names():
        x, y = getattr(a, name), getattr(b, name)
        if not np.array_equal(x, y):
            out[name] = int(np.count_nonzero(x != y))
    return out


def _one_size(
    n: int, reps: int, scalar_n: int, scalar_reps: int, policy: Any, caches: dict[str, Any]
) -> dict[str, Any]:
    from pricing_service.simulate.reference import price_portfolio_scalar  # noqa: PLC0415
    from pricing_service.simulate.vector import price_portfolio  # noqa: PLC0415

    t0 = time.perf_counter()
    book = build_portfolio(n)
    build_s = time.perf_counter() - t0
    subset = book.take(slice(0, min(scalar_n, n)))
    price_portfolio(subset, policy, AS_OF)  # warm: policy tables, imports
    vector_rates: list[float] = []
    vector_cpu: list[float] = []
    scalar_rates: list[float] = []
    scalar_cpu: list[float] = []
    result: Any = None
    scalar_result: Any = None
    # Interleaved, so background load hits both alike.
    for rep in range(max(reps, scalar_reps)):
        if rep < reps:
            wall, cpu, result = _timed(lambda: price_portfolio(book, policy, AS_OF), caches)
            vector_rates.append(n / wall)
            vector_cpu.append(n / cpu if cpu > 0 else 0.0)
        if rep < scalar_reps:
            wall, cpu, scalar_result = _timed(
                lambda: price_portfolio_scalar(subset, policy, AS_OF), caches
            )
            scalar_rates.append(len(subset) / wall)
            scalar_cpu.append(len(subset) / cpu if cpu > 0 else 0.0)
    vector = statistics.median(vector_rates)
    scalar = statistics.median(scalar_rates)
    statuses = Counter(str(s) for s in result.status)
    return {
        "loans": n,
        "build_seconds": round(build_s, 2),
        "vector": {
            "loans_per_s": round(vector, 1),
            "loans_per_cpu_s": round(statistics.median(vector_cpu), 1),
            "seconds": round(n / vector, 4),
            "reps_loans_per_s": [round(r, 1) for r in vector_rates],
        },
        "scalar": {
            "loans": len(subset),
            "loans_per_s": round(scalar, 1),
            "loans_per_cpu_s": round(statistics.median(scalar_cpu), 1),
            "reps_loans_per_s": [round(r, 1) for r in scalar_rates],
        },
        "vector_vs_scalar": ratio(vector, scalar),
        "vector_vs_target": ratio(vector, VECTOR_TARGET_LOANS_PER_S),
        "subset_differences": _differences(price_portfolio(subset, policy, AS_OF), scalar_result),
        "status_shares": {k: round(v / n, 4) for k, v in sorted(statuses.items())},
    }


def _stages(policy: Any) -> dict[str, float]:
    """Seconds per stage of one 1M-loan pricing (cProfile cumulative, top functions)."""
    import cProfile  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    from pricing_service.simulate.vector import price_portfolio  # noqa: PLC0415

    book = build_portfolio(1_000_000)
    profiler = cProfile.Profile()
    profiler.enable()
    price_portfolio(book, policy, AS_OF)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows: list[tuple[str, float]] = []
    for (file, _line, name), (_cc, _nc, _tt, cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "pricing_service/simulate" in file:
            rows.append((f"{file.rsplit('/', 1)[-1]}:{name}", cum))
    return {k: round(v, 4) for k, v in sorted(rows, key=lambda kv: -kv[1])[:14]}


def run_vector_bench(quick: bool = False, core: int = 0, profile: bool = False) -> dict[str, Any]:
    """Vectorised vs scalar portfolio pricing at 10k, 100k and 1M loans."""
    from pricing_service.policy.store import default_policies  # noqa: PLC0415

    policy = default_policies().versions[0]
    caches = domain_caches()
    scalar_n = 10_000 if quick else 20_000
    plan = (
        (10_000, 5 if quick else 9, 1 if quick else 3),
        (100_000, 3 if quick else 5, 1),
        (1_000_000, 2 if quick else 3, 1),
    )
    with pinned(core) as used_core:
        sizes = {
            str(n): _one_size(n, reps, scalar_n, scalar_reps, policy, caches)
            for n, reps, scalar_reps in plan
        }
        stages = _stages(policy) if profile else None
    largest = sizes[str(plan[-1][0])]
    out: dict[str, Any] = {
        "core": used_core,
        "policy_version": policy.version,
        "policy_digest": policy.digest,
        "as_of": AS_OF.isoformat(),
        "sizes": sizes,
        "meets_target": largest["vector"]["loans_per_s"] >= VECTOR_TARGET_LOANS_PER_S,
        "identical_on_subsets": all(not s["subset_differences"] for s in sizes.values()),
    }
    if stages is not None:
        out["profile_1m_cumulative_s"] = stages
    return out


def run(quick: bool = False, profile: bool = False) -> dict[str, Any]:
    """The simulate benchmark group; returns the result document."""
    vector = run_vector_bench(quick=quick, profile=profile)
    largest = vector["sizes"][max(vector["sizes"], key=int)]
    return {
        "benchmark": "simulate",
        "timestamp": now_iso(),
        "quick": quick,
        "machine": machine_info(),
        "parameters": {
            "statistic": "median of repetitions; vector and scalar interleaved",
            "scalar_baseline": "price_portfolio_scalar on the first 10k-20k loans of each book",
        },
        "results": {"vector": vector},
        "ratios": {
            "vector_vs_scalar_1m": largest["vector_vs_scalar"],
            "vector_vs_target_1m": largest["vector_vs_target"],
        },
        "targets": {"vector_loans_per_s": VECTOR_TARGET_LOANS_PER_S},
        "meets_target": vector["meets_target"],
    }
