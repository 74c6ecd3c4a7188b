"""Benchmark 1: the pricing engine in process, on one core, and the service path around it.

Three figures over the same request mix (bench/workload.py), built before timing:

- engine:        `engine.price(domain_request, policy)`, the pure domain function;
- service_path:  `api.quoting.price_effective(pb_request, policies)`: proto -> domain ->
                 engine -> proto, what replay and CreateQuote run;
- quote_service: `QuoteService.create_quote(pb_request, caller)` with the audit sink
                 disabled: the whole transport-free CreateQuote (idempotency, canonical
                 JSON of request and quote for the audit record, quote id, storage).

Each is timed in repetitions of a fixed duration, walking the mix cyclically. Every
functools cache of pricing_service.domain is emptied before each timed stretch and
the mix is larger than the largest of them, so a cache keyed by the loan (principal,
rate, term...) never serves a repeat of the same loan, as it would in a tight loop
over a few requests; caches keyed by a few shared values (a rate and a term) warm
up within the stretch, as they would in production. Hits and misses are reported.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from bench import workload
from bench.common import machine_info, now_iso, pinned, ratio

ENGINE_TARGET_QPS = 50_000
CALLER = "anonymous@ipv4:127.0.0.1:50000"


def _timed(
    call: Callable[[int], object], count: int, seconds: float, start: int, limit: int = 0
) -> tuple[int, float, float, int]:
    """Call `call(i)` for i = start, start+1, ... (mod count) for about `seconds`.

    With `limit`, stop after that many calls (about: whole chunks) even if time is left.

    Returns (calls, wall seconds, this thread's CPU seconds, next index).
    """
    i = start
    done = 0
    chunk = 64
    c0 = time.thread_time()
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for _ in range(chunk):
            call(i % count)
            i += 1
        done += chunk
        now = time.perf_counter()
        if now >= deadline or (limit and done >= limit):
            return done, now - t0, time.thread_time() - c0, i


def _interleaved(
    calls: dict[str, Callable[[int], object]],
    count: int,
    reps: int,
    seconds: float,
    reset: Callable[[], None],
) -> dict[str, dict[str, Any]]:
    """Time each call in turn, rep by rep, so background load hits all of them alike.

    `reset()` runs before each timed stretch (it empties the engine's IRR cache, so
    one series never profits from loans another series priced just before).
    """
    rates: dict[str, list[float]] = {name: [] for name in calls}
    cpu_rates: dict[str, list[float]] = {name: [] for name in calls}
    positions = dict.fromkeys(calls, 0)
    totals = dict.fromkeys(calls, 0)
    for _ in range(reps):
        for name, call in calls.items():
            reset()
            n, elapsed, cpu, positions[name] = _timed(call, count, seconds, positions[name])
            rates[name].append(n / elapsed)
            cpu_rates[name].append(n / cpu if cpu > 0 else 0.0)
            totals[name] += n
    out: dict[str, dict[str, Any]] = {}
    for name in calls:
        median = statistics.median(rates[name])
        out[name] = {
            "quotes_per_s": round(median, 1),
            "us_per_quote": round(1e6 / median, 2),
            "best_quotes_per_s": round(max(rates[name]), 1),
            "reps_quotes_per_s": [round(r, 1) for r in rates[name]],
            # Quotes per second of this thread's own CPU time: what the core would do
            # if nothing else (other engineers' tests) ran on it.
            "quotes_per_cpu_s": round(statistics.median(cpu_rates[name]), 1),
            "reps_quotes_per_cpu_s": [round(r, 1) for r in cpu_rates[name]],
            "calls": totals[name],
        }
    first = next(iter(calls))
    for name in calls:
        per_rep = [a / b for a, b in zip(rates[name], rates[first], strict=True)]
        out[name][f"vs_{first}_median_of_reps"] = round(statistics.median(per_rep), 3)
    return out


def domain_caches() -> dict[str, Any]:
    """Every functools cache in pricing_service.domain (module functions and class attributes)."""
    import importlib  # noqa: PLC0415
    import pkgutil  # noqa: PLC0415

    import pricing_service.domain as domain_pkg  # noqa: PLC0415

    found: dict[str, Any] = {}
    seen: set[int] = set()
    for info in pkgutil.iter_modules(domain_pkg.__path__, "pricing_service.domain."):
        module = importlib.import_module(info.name)
        spaces: list[tuple[str, Mapping[str, Any]]] = [(info.name, vars(module))]
        spaces += [
            (f"{info.name}.{k}", vars(v))
            for k, v in vars(module).items()
            if isinstance(v, type) and v.__module__ == info.name
        ]
        for prefix, space in spaces:
            for name, obj in space.items():
                if (
                    hasattr(obj, "cache_info")
                    and hasattr(obj, "cache_clear")
                    and id(obj) not in seen
                ):
                    seen.add(id(obj))
                    found[f"{prefix}.{name}"] = obj
    return found


def run(quick: bool = False, core: int = 0) -> dict[str, Any]:
    """Run the engine benchmark; returns the result document."""
    from pricing_service.api import convert  # noqa: PLC0415
    from pricing_service.api.incoming import PbIncoming  # noqa: PLC0415
    from pricing_service.audit.log_only import DisabledAuditSink  # noqa: PLC0415
    from pricing_service.domain.engine import price  # noqa: PLC0415
    from pricing_service.policy.store import default_policies  # noqa: PLC0415
    from pricing_service.quoting.pricing import price_effective  # noqa: PLC0415
    from pricing_service.quoting.service import QuoteService  # noqa: PLC0415

    # The quote service logs the policy it archives; keep the table readable.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    caches = domain_caches()
    biggest = max((c.cache_info().maxsize or 0 for c in caches.values()), default=0)
    # Walked cyclically, a mix larger than every LRU cache never hits a per-loan entry.
    size = max(8_000 if quick else 20_000, biggest * 5 // 4)
    reps = 3 if quick else 5
    seconds = 0.5 if quick else 1.0
    kind_seconds = 0.2 if quick else 0.4

    mix = workload.build(size)
    policies = default_policies()
    policy = policies.versions[-1]
    pb_requests = list(mix.requests)
    domain = [convert.request_to_domain(r) for r in pb_requests]
    failures = []
    for i, req in enumerate(domain):  # every request must price: the mix holds no refusals
        try:
            price(req, policy)
        except Exception as exc:
            failures.append(f"{mix.kinds[i]}: {type(exc).__name__}: {exc}")
    if failures:
        raise RuntimeError(f"{len(failures)} requests of the mix do not price: {failures[:3]}")

    def engine_call(i: int) -> object:
        return price(domain[i], policy)

    def service_call(i: int) -> object:
        incoming = PbIncoming(pb_requests[i])
        priced = price_effective(incoming, policies)
        return convert.quote_to_pb(
            priced.quote, quote_id=priced.quote_id, request=incoming.document()
        )

    service = QuoteService(policies, DisabledAuditSink("bench"))
    serial = iter(range(1 << 62))

    def quote_service_call(i: int) -> object:
        req = pb_requests[i]
        req.request_id = f"bench-svc-{next(serial)}"
        return convert.create_response(service.create_quote(PbIncoming(req), CALLER))

    cache_totals = {name: {"hits": 0, "misses": 0} for name in caches}

    def reset_cache() -> None:
        for name, cached in caches.items():
            info = cached.cache_info()
            cache_totals[name]["hits"] += info.hits
            cache_totals[name]["misses"] += info.misses
            cached.cache_clear()

    with pinned(core) as used_core:
        series = _interleaved(
            {
                "engine": engine_call,
                "service_path": service_call,
                "quote_service": quote_service_call,
            },
            size,
            reps,
            seconds,
            reset_cache,
        )
        reset_cache()
        engine, service_path, quote_service = (
            series["engine"],
            series["service_path"],
            series["quote_service"],
        )
        by_kind: dict[str, Any] = {}
        groups: dict[str, list[int]] = {}
        for i, kind in enumerate(mix.kinds):
            fee = "fee" if domain[i].upfront_fee_fen else "no_fee"
            groups.setdefault(f"{kind}/{fee}", []).append(i)
        for name, idx in sorted(groups.items()):
            subset: Sequence[Any] = [domain[i] for i in idx]

            def subset_call(j: int, subset: Sequence[Any] = subset) -> object:
                return price(subset[j], policy)

            reset_cache()
            # At most one pass: a subset smaller than a cache must not wrap around.
            n, elapsed, cpu, _ = _timed(
                subset_call, len(subset), kind_seconds, 0, limit=len(subset) - 64
            )
            by_kind[name] = {
                "share": round(len(idx) / size, 4),
                "quotes_per_s": round(n / elapsed, 1),
                "us_per_quote": round(elapsed / n * 1e6, 2),
                "cpu_us_per_quote": round(cpu / n * 1e6, 2),
            }

    return {
        "benchmark": "engine",
        "timestamp": now_iso(),
        "quick": quick,
        "machine": machine_info(),
        "parameters": {
            "core": used_core,
            "repetitions": reps,
            "seconds_per_repetition": seconds,
            "seconds_per_kind": kind_seconds,
            "policy_version": policy.version,
            "policy_digest": policy.digest,
            "mix": mix.describe(),
            "statistic": "median of repetitions; series interleaved rep by rep",
        },
        "results": {
            "engine": engine,
            "service_path": service_path,
            "quote_service_no_audit": quote_service,
            "by_kind_engine": by_kind,
            "domain_caches": {
                name: {**totals, "maxsize": caches[name].cache_info().maxsize}
                for name, totals in cache_totals.items()
            },
        },
        "ratios": {
            "engine_vs_target": ratio(engine["quotes_per_s"], ENGINE_TARGET_QPS),
            "service_path_vs_engine": service_path["vs_engine_median_of_reps"],
            "quote_service_vs_engine": quote_service["vs_engine_median_of_reps"],
        },
        "targets": {"engine_quotes_per_s": ENGINE_TARGET_QPS},
        "meets_target": engine["quotes_per_s"] >= ENGINE_TARGET_QPS,
    }
