"""`make bench`: run the benchmarks, write bench/results/<name>.json, print a short table.

python -m bench.run [--quick] [--only NAME ...] [--profile]   (NAME: engine, audit, grpc, replay,
simulate, montecarlo, isolation, cluster; cluster is skipped where PostgreSQL or nginx is absent)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench import (
    audit_bench,
    cluster_bench,
    engine_bench,
    grpc_bench,
    isolation_bench,
    montecarlo_bench,
    replay_bench,
    simulate_bench,
)
from bench.common import RESULTS_DIR, write_result

BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "engine": lambda args: engine_bench.run(quick=args.quick),
    "audit": lambda args: audit_bench.run(quick=args.quick),
    "grpc": lambda args: grpc_bench.run(quick=args.quick, profile=args.profile),
    "replay": lambda args: replay_bench.run(
        quick=args.quick, profile=args.profile, jobs=len(os.sched_getaffinity(0))
    ),
    "simulate": lambda args: simulate_bench.run(quick=args.quick, profile=args.profile),
    "montecarlo": lambda args: montecarlo_bench.run_montecarlo_bench(quick=args.quick),
    "isolation": lambda args: isolation_bench.run(quick=args.quick),
    "cluster": lambda args: cluster_bench.run(quick=args.quick),
}


def _fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format(value, spec)
    return str(value)


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def engine_table(doc: dict[str, Any]) -> str:
    """The engine benchmark in a few lines."""
    res = doc["results"]
    rows = [("engine (one core)", "quotes/s", "us/quote", "quotes/cpu-s", "vs engine")]
    for key, label in (
        ("engine", "engine.price"),
        ("service_path", "price_effective (pb->pb)"),
        ("quote_service_no_audit", "QuoteService.create_quote"),
    ):
        r = res[key]
        rows.append(
            (
                label,
                _fmt(r["quotes_per_s"]),
                _fmt(r["us_per_quote"], ".1f"),
                _fmt(r["quotes_per_cpu_s"]),
                _fmt(r.get("vs_engine_median_of_reps"), ".2f"),
            )
        )
    target = doc["targets"]["engine_quotes_per_s"]
    met = "MET" if doc["meets_target"] else "NOT met"
    return (
        _table(rows)
        + f"\ntarget >= {target:,} quotes/s: {met} (ratio {doc['ratios']['engine_vs_target']})"
    )


def grpc_table(doc: dict[str, Any]) -> str:
    """The gRPC benchmark in a few lines."""
    rows = [
        (
            "grpc server (core 0)",
            "RPC/s",
            "vs echo",
            "srv cpu",
            "us cpu/call",
            "p50 ms@4",
            "p99 ms@4",
            "RSS MB",
        )
    ]
    res = doc["results"]
    for name in (
        "echo_sync",
        "quote_sync_audit",
        "quote_sync_noaudit",
        "echo_aio",
        "quote_aio_audit",
        "quote_aio_noaudit",
    ):
        r = res[name]
        echo = res[f"echo_{r['mode']}"]["throughput"]["throughput_rps"]
        t = r["throughput"]
        lat = r["latency_at_concurrency_4"]["latency_ms"]
        rows.append(
            (
                name,
                _fmt(t["throughput_rps"]),
                _fmt(t["throughput_rps"] / echo if echo else None, ".3f"),
                _fmt(t.get("server_cpu_util"), ".2f"),
                _fmt(t.get("server_cpu_us_per_call"), ",.0f"),
                _fmt(lat.get("p50"), ".2f"),
                _fmt(lat.get("p99"), ".2f"),
                _fmt((r.get("memory_mb_at_end") or {}).get("VmRSS"), ".0f"),
            )
        )
    ratios = doc["ratios"]
    by_round = doc.get("ratios_median_of_rounds", {})
    lines = [
        _table(rows),
        f"CreateQuote(audit)/echo: sync {ratios['quote_sync_audit_vs_echo_sync']} "
        f"(median of rounds {by_round.get('quote_sync_audit_vs_echo_sync')}), "
        f"aio {ratios['quote_aio_audit_vs_echo_aio']} "
        f"({by_round.get('quote_aio_audit_vs_echo_aio')}), best/best "
        f"{ratios['best_quote_audit_vs_best_echo']} (target >= {doc['targets']['quote_vs_echo']})",
        f"audit on/off: sync {ratios['audit_on_vs_off_sync']} "
        f"({by_round.get('audit_on_vs_off_sync')}), aio {ratios['audit_on_vs_off_aio']} "
        f"({by_round.get('audit_on_vs_off_aio')}) "
        f"(target >= {doc['targets']['audit_on_vs_off']}); sink: "
        f"{doc['audit']['sink'].get('sink_class', doc['audit']['sink'].get('error'))}",
        f"faster: echo {doc['faster']['echo']} (sync/aio {ratios['echo_sync_vs_echo_aio']}), "
        f"CreateQuote {doc['faster']['quote_with_audit']} "
        f"(sync/aio {ratios['quote_sync_audit_vs_quote_aio_audit']})",
    ]
    for name, facts in doc["audit"]["on_disk"].items():
        lines.append(
            f"{name}: {facts['records']} records for {facts.get('acknowledged_quotes')} "
            f"acknowledged quotes, {facts['checkpoints']} checkpoints on disk"
            + (
                f", {facts['records_per_checkpoint']} records/checkpoint"
                if facts.get("records_per_checkpoint")
                else ""
            )
        )
    for name, prof in doc.get("profile", {}).items():
        estimated = prof.get("estimated_us_per_call")
        if estimated:
            split = prof.get("perf_dso_us_per_call", {})
            top = ", ".join(f"{k} {v:.0f}" for k, v in list(estimated.items())[:7])
            lines.append(
                f"profile {name}: {prof.get('server_cpu_us_per_call'):.0f} us cpu/call = "
                f"kernel {split.get('kernel', 0):.0f} + grpc core {split.get('grpc_core', 0):.0f} "
                f"+ Python side {prof.get('python_side_us_per_call'):.0f} [{top}]"
            )
        elif prof.get("categories"):
            cats = ", ".join(
                f"{k} {v['share']:.0%}" for k, v in list(prof["categories"].items())[:7]
            )
            lines.append(f"profile {name} (py-spy shares of Python time): {cats}")
    lines.extend(f"note: {n}" for n in doc.get("notes", []))
    return "\n".join(lines)


def audit_table(doc: dict[str, Any]) -> str:
    """The audit writer benchmark in a few lines."""
    res = doc["results"]
    rows = [
        (
            "audit writer (16 threads)",
            "records/s",
            "batch p50",
            "batch mean",
            "fsync p50 ms",
            "fsync p99 ms",
        )
    ]
    for name, r in res.items():
        if "writer_stats" not in r:
            continue
        stats = r["writer_stats"]
        rows.append(
            (
                name,
                _fmt(r["records_per_s"]),
                _fmt(stats.get("batch_size_p50")),
                _fmt(stats.get("batch_size_mean"), ".1f"),
                _fmt(r["fsync_ms_p50"], ".2f"),
                _fmt(r["fsync_ms_p99"], ".2f"),
            )
        )
    base = res["fdatasync_baseline_4k_append"]
    return (
        _table(rows) + f"\ndisk baseline: 4 KiB append+fdatasync {base['fsyncs_per_s']:,.0f}/s "
        f"(p50 {base['p50_ms']} ms, p99 {base['p99_ms']} ms)"
    )


def replay_table(doc: dict[str, Any]) -> str:
    """The replay benchmark in a few lines."""
    rows = [
        (
            "audit replay (one core)",
            "records/s",
            "records/cpu-s",
            "us/record",
            "peak RSS MB",
            "generate s (step)",
            "differences",
        )
    ]
    for size, step in doc["steps"].items():
        r, g = step["replay"], step["generate"]
        rows.append(
            (
                f"log of {int(size):,} records",
                _fmt(r["records_per_s"]),
                _fmt(r["records_per_cpu_s"]),
                _fmt(r["us_per_record"], ".1f"),
                _fmt(r["peak_rss_mb"], ".1f"),
                _fmt(g["seconds"], ".1f"),
                _fmt(r["differences"]),
            )
        )
    res = doc["results"]
    met = "MET" if doc["meets_target"] else "NOT met"
    lines = [
        _table(rows),
        f"target >= {doc['targets']['replay_records_per_s']:,} records/s: {met} "
        f"(ratio {doc['ratios']['replay_vs_target']}); peak RSS growth "
        f"{res['rss_growth_ratio']}; generation {res['generate_records_per_s']:,} quotes/s",
    ]
    for size, step in doc["steps"].items():
        par = step.get("replay_jobs")
        if par:
            lines.append(
                f"log of {int(size):,} records, --jobs {par['jobs']}: "
                f"{par['records_per_s']:,} records/s, peak RSS {par['peak_rss_mb']} MB "
                f"(largest worker {par['worker_peak_rss_mb']} MB), report identical to --jobs 1"
            )
    if "build_seconds_at" in res:
        built = ", ".join(f"{int(k):,}: {v} s" for k, v in res["build_seconds_at"].items())
        lines.append(f"time to build the log: {built}")
    prof = doc.get("profile")
    if prof:
        top = ", ".join(
            f"{p['function']} {p['cum_share']:.0%}" for p in prof["top_cumulative"][1:7]
        )
        lines.append(f"profile ({prof['records']:,} records, cumulative): {top}")
    return "\n".join(lines)


def simulate_table(doc: dict[str, Any]) -> str:
    """The simulate benchmark (vectorised vs scalar portfolio pricing) in a few lines."""
    vector = doc["results"]["vector"]
    rows = [
        (
            "portfolio pricing (one core)",
            "vector loans/s",
            "cpu loans/s",
            "scalar loans/s",
            "vector/scalar",
            "differences",
        )
    ]
    for size, r in vector["sizes"].items():
        rows.append(
            (
                f"book of {int(size):,} loans",
                _fmt(r["vector"]["loans_per_s"]),
                _fmt(r["vector"]["loans_per_cpu_s"]),
                _fmt(r["scalar"]["loans_per_s"]),
                _fmt(r["vector_vs_scalar"], ",.1f"),
                _fmt(sum(r["subset_differences"].values())),
            )
        )
    met = "MET" if vector["meets_target"] else "NOT met"
    lines = [
        _table(rows),
        f"target >= {doc['targets']['vector_loans_per_s']:,} loans/s at 1M: {met}; "
        f"scalar baseline on the first {r['scalar']['loans']:,} loans of each book",
    ]
    prof = vector.get("profile_1m_cumulative_s")
    if prof:
        lines.append("profile 1M (cumulative s): " + ", ".join(f"{k} {v}" for k, v in prof.items()))
    return "\n".join(lines)


TABLES = {
    "engine": engine_table,
    "audit": audit_table,
    "grpc": grpc_table,
    "replay": replay_table,
    "simulate": simulate_table,
    "montecarlo": montecarlo_bench.montecarlo_table,
    "isolation": isolation_bench.isolation_table,
    "cluster": cluster_bench.cluster_table,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.run`."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (about a minute)")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only NAME")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also sample CreateQuote servers with py-spy; cProfile a replay and a 1M-loan pricing",
    )
    parser.add_argument(
        "--show", action="store_true", help="print the tables of the last results; run nothing"
    )
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    if args.show:
        for name in names:
            path = RESULTS_DIR / f"{name}.json"
            if path.exists():
                doc = json.loads(path.read_text())
                print(f"== {name} ({doc['timestamp']})\n{TABLES[name](doc)}\n")
        return 0
    for name in names:
        if name == "cluster" and (why := cluster_bench.available()) is not None:
            print(f"== cluster skipped: {why}", file=sys.stderr, flush=True)
            continue
        print(f"== {name}{' (quick)' if args.quick else ''}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        doc = BENCHMARKS[name](args)
        doc["elapsed_s"] = round(time.perf_counter() - started, 1)
        path = write_result(name, doc)
        print(TABLES[name](doc))
        print(
            f"({doc['elapsed_s']} s; {path.relative_to(path.parent.parent.parent)})\n", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
