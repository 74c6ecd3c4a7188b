"""Replay at scale: log real quotes, then time `pricing audit replay` on the log.

    python -m bench.replay_bench [--quick] [--sizes 100000,1000000] [--jobs 2] [--profile] [--keep]
        [--before GITREF] [--reuse LOGDIR]

1. Generates a log of REAL quotes: `QuoteService(default_policies(), DurableAuditLog(...))`
   (fsync off: generation speed only) and `service.begin_create(request, "bench")` for the
   request mix of bench/workload.py, built chunk by chunk (1,000 in flight, memory bounded),
   each request distinct (its index is in request_id and borrower_id). One request in 20
   is made invalid so the log also holds refusals (the mix itself has none). The log
   grows to each size in turn (100,000 then 1,000,000; --quick 2,000 then 20,000); the
   time to build each step is reported (`generate.seconds`, `build_seconds_at`).
2. After each size, runs `replay_log(logdir, jobs=1)` (what `pricing audit replay --jobs
   1 LOGDIR` runs: the fast path, replay_fast.py, and today's judgement for every record
   it does not vouch for) in a fresh child process pinned to one core, which reports wall
   and CPU seconds and peak RSS (VmHWM); with --before GITREF, the same log replayed by
   that commit's pricing_service (`replay_records(iter_records(logdir), ...)`, exported
   with git archive) in the same kind of child, whose report must be the same: the
   before/after pair of one run; then, with --jobs N > 1, `replay_log(logdir, jobs=N)`
   (what `--jobs N` runs) on N cores, whose report must equal the one-process report
   exactly; its peak RSS is the parent's and, separately, the largest worker's. Replay
   streams, so the peak RSS should not grow with the log. --reuse LOGDIR replays a log
   an earlier --keep left instead of writing one. The benchmark fails unless every
   record replays identically (0 differences) and every record written was replayed.
3. Writes bench/results/replay.json. Target: replay >= 50,000 records/s on one core.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import structlog

from bench import workload
from bench.common import ROOT, machine_info, now_iso, ratio, write_result

ORIGIN = "changji.example/pricing-audit/replay-bench"
CALLER = "bench"
SIZES = (100_000, 1_000_000)
QUICK_SIZES = (2_000, 20_000)
IN_FLIGHT = 1_000
REFUSAL_EVERY = 20
SEED = 20261122
TARGET_RECORDS_PER_S = 50_000

# How a request of the mix is made invalid, in turn (each is refused by the service and
# must be refused again alike on replay). Two kinds of refusal are left out because
# replay does not reproduce them today: an unknown credit_rating (the archived policy
# lists the ratings in another order in the field violation's text) and a pricing_time
# before any policy (recorded without a policy digest, and the converter alone accepts it).
REFUSALS = ("term_out_of_range", "missing_evidence", "zero_principal")

_REPLAY_CHILD = """
import hashlib, json, os, resource, sys, time
from pathlib import Path
jobs = int(sys.argv[3])
cores = sorted(os.sched_getaffinity(0))[:jobs]
os.sched_setaffinity(0, set(cores))
from pricing_service.audit.reader import iter_records
from pricing_service.api.incoming import decode_document
from pricing_service.quoting.replay import ArchivedPolicies, replay_records
from pricing_service.quoting.replay_jobs import replay_log
logdir, profile = Path(sys.argv[1]), sys.argv[2] == "profile"
if profile:
    import cProfile, io, pstats
    prof = cProfile.Profile()
    prof.enable()
t0, c0 = time.perf_counter(), time.process_time()
if sys.argv[4] == "scalar":  # today's judgement of every record (the path before the fast one)
    report = replay_records(iter_records(logdir), ArchivedPolicies(logdir), decode=decode_document)
else:  # what `pricing audit replay --jobs N` runs, N = 1 included
    report = replay_log(logdir, decode=decode_document, jobs=jobs)
seconds = time.perf_counter() - t0
children = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = time.process_time() - c0 + children.ru_utime + children.ru_stime
out = {
    "path": sys.argv[4],
    "source": os.path.dirname(os.path.dirname(__import__("pricing_service").__file__)),
    "jobs": jobs,
    "cores": cores,
    "report_sha256": hashlib.sha256(
        json.dumps(report.to_json(), sort_keys=True, default=str).encode()
    ).hexdigest(),
    "worker_peak_rss_mb": children.ru_maxrss / 1024 if jobs > 1 else None,
    "records": report.records,
    "selected": report.selected,
    "quotes": report.quotes,
    "refusals": report.refusals,
    "matched": report.matched,
    "differences": len(report.differences),
    "first_differences": [repr(d) for d in report.differences[:5]],
    "policies": len(report.policies),
    "seconds": seconds,
    "cpu_seconds": cpu,
    # VmHWM, not ru_maxrss: the latter carries over the forking parent's peak.
    "peak_rss_mb": next(
        int(line.split()[1]) / 1024
        for line in open("/proc/self/status")
        if line.startswith("VmHWM:")
    ),
}
if profile:
    prof.disable()
    stats = pstats.Stats(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][3], reverse=True)
    # Shares of replay_records' own cumulative time (the profiler's clock, overhead included).
    total = next((v[3] for (_, _, n), v in rows if n == "replay_records"), stats.total_tt)
    out["profile_top_cumulative"] = [
        {
            "function": f"{Path(file).name}:{line}({name})",
            "calls": nc,
            "tottime_s": round(tt, 3),
            "cumtime_s": round(ct, 3),
            "cum_share": round(ct / total, 3) if total else None,
        }
        for (file, line, name), (cc, nc, tt, ct, _) in rows
        if name not in ("<built-in method builtins.exec>", "<module>")
    ][:10]
    out["profile_total_s"] = round(total, 3)
print(json.dumps(out))
"""


def _invalid(request: Any, how: str) -> Any:
    from ecoloan.pricing.v1 import pricing_service_pb2 as pb  # noqa: PLC0415

    bad = pb.CreateQuoteRequest()
    bad.CopyFrom(request)
    if how == "term_out_of_range":
        bad.term_months = 600
    elif how == "missing_evidence":
        bad.product_id = "lvtanrong"
        bad.ClearField("carbon_grade")
        bad.ClearField("carbon_emissions")
        bad.ClearField("mine_score")
        bad.ClearField("transition_kpis")
    elif how == "zero_principal":
        bad.principal_fen = 0
        bad.upfront_fee_fen = 0
    else:  # pragma: no cover - REFUSALS lists the kinds
        raise ValueError(how)
    return bad


def _request(rng: random.Random, index: int) -> tuple[Any, str]:
    """Request `index` of the log and its kind ("refusal/<how>" for an invalid one)."""
    kind = rng.choices([n for n, _ in workload.MIX], [w for _, w in workload.MIX])[0]
    req = workload.make_request(rng, kind, index, SEED)
    if index % REFUSAL_EVERY == REFUSAL_EVERY - 1:
        how = REFUSALS[(index // REFUSAL_EVERY) % len(REFUSALS)]
        return _invalid(req, how), f"refusal/{how}"
    return req, kind


def _generate(
    service: Any, rng: random.Random, start: int, stop: int, kinds: Counter[str]
) -> dict[str, Any]:
    """Quote requests start..stop-1 through the service, IN_FLIGHT at a time."""
    from pricing_service.api.incoming import PbIncoming  # noqa: PLC0415

    refused = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for chunk_start in range(start, stop, IN_FLIGHT):
        pending = []
        for i in range(chunk_start, min(stop, chunk_start + IN_FLIGHT)):
            req, kind = _request(rng, i)
            kinds[kind] += 1
            pending.append(service.begin_create(PbIncoming(req), CALLER))
        for p in pending:
            p.future.result()  # durable (fsync off: written); raises if the log failed
            refused += p.refusal is not None
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "records_written": stop - start,
        "refusals_written": refused,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "records_per_s": round((stop - start) / seconds),
    }


def _replay(
    logdir: Path,
    profile: bool = False,
    jobs: int = 1,
    path: str = "fast",
    source: Path = ROOT,
) -> dict[str, Any]:
    """One replay in a child process: `path` "fast" (replay_log, what the CLI runs) or
    "scalar" (replay_records over iter_records), of the pricing_service under `source`."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")])),
    }
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _REPLAY_CHILD,
            str(logdir),
            "profile" if profile else "-",
            str(jobs),
            path,
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        # `-c` puts the working directory first on sys.path: run where `source` is.
        cwd=source,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["records_per_s"] = round(result["records"] / result["seconds"])
    # Per CPU-second too: on a shared machine wall time also counts other processes.
    result["records_per_cpu_s"] = round(result["records"] / result["cpu_seconds"])
    result["us_per_record"] = round(result["seconds"] / max(1, result["records"]) * 1e6, 1)
    result["seconds"] = round(result["seconds"], 3)
    result["cpu_seconds"] = round(result["cpu_seconds"], 3)
    result["peak_rss_mb"] = round(result["peak_rss_mb"], 1)
    if result["worker_peak_rss_mb"] is not None:
        result["worker_peak_rss_mb"] = round(result["worker_peak_rss_mb"], 1)
    return result


def _count_lines(logdir: Path) -> tuple[int, int]:
    """(records, refusals) of a log: its lines, and those of kind "refusal"."""
    from pricing_service.audit.reader import iter_lines  # noqa: PLC0415

    records = refusals = 0
    for line in iter_lines(logdir):
        records += 1
        refusals += b',"kind":"refusal",' in line.raw
    return records, refusals


def _export(ref: str, into: Path) -> Path:
    """The pricing_service of git `ref`, exported under `into` (read from the repository,
    no checkout)."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "pricing_service"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _check(replay: dict[str, Any], written: int, refusals: int) -> None:
    """Fail the benchmark unless every written record replayed identically."""
    problems = []
    if replay["differences"]:
        problems.append(
            f"{replay['differences']} differences, first: {replay['first_differences']}"
        )
    if replay["records"] != written or replay["matched"] != written:
        problems.append(
            f"{written} records written, {replay['records']} replayed, {replay['matched']} matched"
        )
    if replay["refusals"] != refusals:
        problems.append(f"{refusals} refusals written, {replay['refusals']} replayed")
    if problems:
        raise RuntimeError("replay did not reproduce the log: " + "; ".join(problems))


def run(
    quick: bool = False,
    sizes: tuple[int, ...] | None = None,
    profile: bool = False,
    directory: Path | None = None,
    keep: bool = False,
    jobs: int = 1,
    before: str | None = None,
    reuse: Path | None = None,
) -> dict[str, Any]:
    """Run the benchmark; returns the result document.

    `before`: a git ref whose pricing_service also replays each log, on today's path
    (replay_records), in the same run: the before/after pair, and its report must be
    the same. `reuse`: replay this log (kept by an earlier --keep) instead of writing one.
    """
    from pricing_service.audit.reader import log_bytes  # noqa: PLC0415
    from pricing_service.audit.writer import AuditLogConfig, DurableAuditLog  # noqa: PLC0415
    from pricing_service.policy.store import default_policies  # noqa: PLC0415
    from pricing_service.quoting.service import QuoteService  # noqa: PLC0415

    # The quote service logs the policy it archives, the writer its new key: keep quiet.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    base = Path(tempfile.mkdtemp(prefix="replay-bench-", dir=directory))
    logdir = reuse if reuse is not None else base / "log"
    if reuse is not None:
        stops = [_count_lines(reuse)[0]]
    else:
        stops = sorted(set(sizes or (QUICK_SIZES if quick else SIZES)))
    before_src = _export(before, base / "before") if before else None
    policies = default_policies()
    steps: dict[str, Any] = {}
    kinds: Counter[str] = Counter()
    rng = random.Random(SEED)
    prof: dict[str, Any] | None = None
    writer_stats: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        log = (
            None
            if reuse is not None
            else DurableAuditLog(
                AuditLogConfig(
                    directory=logdir,
                    origin=ORIGIN,
                    fsync=False,  # UNSAFE in production; here only the generation speed matters
                    checkpoint_interval_ms=1000,
                )
            )
        )
        service = QuoteService(policies, log) if log is not None else None
        written = refusals = 0
        try:
            for stop in stops:
                if service is not None and log is not None:
                    gen = _generate(service, rng, written, stop, kinds)
                    log.checkpoint()
                    written, refusals = stop, refusals + gen["refusals_written"]
                else:
                    written, refusals = _count_lines(logdir)
                    gen = {"reused": str(logdir), "records_written": 0, "seconds": 0.0}
                gen["log_mb"] = round(log_bytes(logdir) / 1e6, 1)
                replay = _replay(logdir)
                _check(replay, written, refusals)
                steps[str(stop)] = {"generate": gen, "replay": replay}
                if profile and prof is None:  # the smallest log; timed apart from the figures
                    prof = _replay(logdir, profile=True)
                print(
                    f"{stop:>8,} records: replay {replay['records_per_s']:,}/s "
                    f"({replay['records_per_cpu_s']:,}/CPU-s), peak RSS "
                    f"{replay['peak_rss_mb']} MB, {replay['differences']} differences",
                    file=sys.stderr,
                    flush=True,
                )
                if before_src is not None:
                    old = _replay(logdir, path="scalar", source=before_src)
                    _check(old, written, refusals)
                    if old["report_sha256"] != replay["report_sha256"]:
                        raise RuntimeError(f"the report of {before} differs from this one")
                    steps[str(stop)]["replay_before"] = old
                    print(
                        f"{stop:>8,} records: replay at {before} {old['records_per_s']:,}/s "
                        f"({old['records_per_cpu_s']:,}/CPU-s), identical report",
                        file=sys.stderr,
                        flush=True,
                    )
                if jobs > 1:
                    parallel = _replay(logdir, jobs=jobs)
                    _check(parallel, written, refusals)
                    if parallel["report_sha256"] != replay["report_sha256"]:
                        raise RuntimeError(f"--jobs {jobs} report differs from --jobs 1")
                    steps[str(stop)]["replay_jobs"] = parallel
                    print(
                        f"{stop:>8,} records: replay --jobs {jobs} "
                        f"{parallel['records_per_s']:,}/s, identical report",
                        file=sys.stderr,
                        flush=True,
                    )
            if log is not None:
                writer_stats = log.stats().summary()
        finally:
            if log is not None:
                log.close()
    finally:
        if keep and reuse is None:
            print(f"log kept in {logdir}", file=sys.stderr)
            shutil.rmtree(base / "before", ignore_errors=True)
        else:
            shutil.rmtree(base, ignore_errors=True)
    small, large = steps[str(stops[0])], steps[str(stops[-1])]
    rate = large["replay"]["records_per_s"]
    doc: dict[str, Any] = {
        "benchmark": "replay",
        "timestamp": now_iso(),
        "quick": quick,
        "machine": machine_info(),
        "parameters": {
            "sizes": stops,
            "seed": SEED,
            "mix": {
                "source": "bench/workload.py make_request, built chunk by chunk",
                "kinds": dict(sorted(kinds.items())),
                "refusal_every": REFUSAL_EVERY,
                "refusal_kinds": list(REFUSALS),
            },
            "policy_versions": [p.version for p in policies.versions],
            "generate": (
                f"QuoteService(default_policies(), DurableAuditLog(fsync off, checkpoint "
                f"every 1 s)).begin_create, {IN_FLIGHT} in flight; the log grows to each size"
            ),
            "replay": (
                "replay_log(logdir, jobs=1) (what `pricing audit replay --jobs 1` runs: the "
                "fast path, today's judgement for the rest) in a child process pinned to one "
                "core; peak RSS = VmHWM; with jobs > 1 also replay_log(logdir, jobs=N) on N "
                "cores, report checked equal"
            ),
            "replay_before": (
                None
                if before is None
                else f"replay_records(iter_records(logdir)) of the pricing_service of {before} "
                "(git archive), same child and core, same run; report checked equal"
            ),
            "reused_log": None if reuse is None else str(reuse),
        },
        "steps": steps,
        "results": {
            "replay_records_per_s": rate,
            "replay_records_per_s_at": {s: steps[s]["replay"]["records_per_s"] for s in steps},
            "replay_before_records_per_s_at": {
                s: steps[s]["replay_before"]["records_per_s"]
                for s in steps
                if "replay_before" in steps[s]
            },
            "replay_before_records_per_cpu_s_at": {
                s: steps[s]["replay_before"]["records_per_cpu_s"]
                for s in steps
                if "replay_before" in steps[s]
            },
            "replay_records_per_cpu_s_at": {
                s: steps[s]["replay"]["records_per_cpu_s"] for s in steps
            },
            "replay_jobs": jobs,
            "replay_jobs_records_per_s_at": {
                s: steps[s]["replay_jobs"]["records_per_s"]
                for s in steps
                if "replay_jobs" in steps[s]
            },
            "build_seconds_at": {
                s: round(sum(steps[t]["generate"]["seconds"] for t in steps if int(t) <= int(s)), 1)
                for s in steps
            },
            "replay_records_per_cpu_s": large["replay"]["records_per_cpu_s"],
            "replay_us_per_record": large["replay"]["us_per_record"],
            "peak_rss_mb_at": {
                str(stops[0]): small["replay"]["peak_rss_mb"],
                str(stops[-1]): large["replay"]["peak_rss_mb"],
            },
            "rss_growth_ratio": ratio(
                large["replay"]["peak_rss_mb"], small["replay"]["peak_rss_mb"]
            ),
            "generate_seconds": {s: steps[s]["generate"]["seconds"] for s in steps},
            "generate_records_per_s": large["generate"].get("records_per_s"),
            "differences": sum(s["replay"]["differences"] for s in steps.values()),
            "writer_stats": {
                k: round(v, 6) if isinstance(v, float) else v for k, v in writer_stats.items()
            },
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "ratios": {"replay_vs_target": ratio(rate, TARGET_RECORDS_PER_S)},
        "targets": {"replay_records_per_s": TARGET_RECORDS_PER_S},
        "meets_target": rate >= TARGET_RECORDS_PER_S,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    if prof is not None:
        doc["profile"] = {
            "records": prof["records"],
            "total_s": prof["profile_total_s"],
            "top_cumulative": prof["profile_top_cumulative"],
        }
    return doc


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse flags, run, write bench/results/replay.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.replay_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 and 20,000 records")
    parser.add_argument("--sizes", help="comma-separated log sizes, e.g. 10000,50000")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile one replay of the smallest log"
    )
    parser.add_argument("--dir", type=Path, help="where to put the log (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument(
        "--reuse", type=Path, metavar="LOGDIR", help="replay this log (from --keep), write none"
    )
    parser.add_argument(
        "--before",
        metavar="GITREF",
        help="also replay each log with the pricing_service of this commit (same run)",
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="also replay with this many processes (1: skip)"
    )
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else None
    doc = run(
        args.quick, sizes, args.profile, args.dir, args.keep, args.jobs, args.before, args.reuse
    )
    path = write_result("replay", doc)
    print(json.dumps(doc["results"], indent=2))
    print(f"written {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
