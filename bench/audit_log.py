"""Audit log at scale: write a 1,000,000-record log, then time `verify` and its memory.

    python -m bench.audit_log [--records 1000000] [--dir DIR] [--keep] [--quick]

1. Writes synthetic but realistically shaped quote records (`audit.synthetic`: request
   and Quote in protobuf JSON, one refusal in 20, 1,024 variants with unique ids)
   through the real `DurableAuditLog`
   with fsync off (generation speed only; durability is `bench.audit_bench`'s subject),
   first 100,000 records, then on to the full count (reopening the log, which also
   times start-up recovery: re-hashing the log and rebuilding the quote index).
2. After each, runs `pricing audit verify`'s function in a fresh child process pinned
   to one core, and has it report its wall time and peak RSS (VmHWM): verify
   streams, so the RSS at 100k and at 1M should be the same.
3. Writes bench/results/audit_log.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import machine_info, now_iso, write_result

ORIGIN = "changji.example/pricing-audit/replica-1"
FIRST_STOP = 100_000

_VERIFY_CHILD = """
import json, os, sys, time
from pathlib import Path
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from pricing_service.audit.keys import load_verifier
from pricing_service.audit.verify import verify_log
logdir = Path(sys.argv[1])
verifier = load_verifier(logdir / "audit.vkey")
t0, c0 = time.perf_counter(), time.process_time()
report = verify_log(logdir, verifier)
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({
    "ok": report.ok,
    "records": report.records,
    "bytes": report.bytes,
    "checkpoints": report.checkpoints,
    "seconds": seconds,
    "cpu_seconds": cpu,
    # VmHWM, not ru_maxrss: the latter carries over the forking parent's peak.
    "peak_rss_mb": next(
        int(line.split()[1]) / 1024
        for line in open("/proc/self/status")
        if line.startswith("VmHWM:")
    ),
}))
"""


def _write(logdir: Path, start: int, stop: int) -> dict[str, Any]:
    from pricing_service.audit.synthetic import fast_synthetic_event  # noqa: PLC0415
    from pricing_service.audit.writer import AuditLogConfig, DurableAuditLog  # noqa: PLC0415

    config = AuditLogConfig(
        directory=logdir,
        origin=ORIGIN,
        code_version="0.1.0",
        fsync=False,  # UNSAFE in production; here only the generation speed matters
        checkpoint_interval_ms=1000,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    log = DurableAuditLog(config)  # recovery: re-hash the log, rebuild sidecar and index
    open_seconds, open_cpu = time.perf_counter() - t0, time.process_time() - c0
    t1 = time.perf_counter()
    window: list[Any] = []
    for i in range(start, stop):
        window.append(log.submit(fast_synthetic_event(i)))
        if len(window) >= 20_000:  # bound memory: wait for the older half
            for future in window[:10_000]:
                future.result()
            del window[:10_000]
    for future in window:
        future.result()
    log.checkpoint()
    stats = log.stats().summary()
    log.close()
    seconds = time.perf_counter() - t1
    return {
        "records_written": stop - start,
        "open_seconds": round(open_seconds, 3),
        "open_cpu_seconds": round(open_cpu, 3),
        "write_seconds": round(seconds, 3),
        "records_per_s": round((stop - start) / seconds),
        "writer_stats": {k: round(v, 6) if isinstance(v, float) else v for k, v in stats.items()},
    }


def _verify(logdir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _VERIFY_CHILD, str(logdir)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["records_per_s"] = round(result["records"] / result["seconds"])
    # Per CPU-second too: on a shared machine wall time also counts other processes.
    result["records_per_cpu_s"] = round(result["records"] / result["cpu_seconds"])
    result["cpu_seconds"] = round(result["cpu_seconds"], 3)
    result["mb_per_s"] = round(result["bytes"] / result["seconds"] / 1e6, 1)
    result["seconds"] = round(result["seconds"], 3)
    result["peak_rss_mb"] = round(result["peak_rss_mb"], 1)
    result["mean_record_bytes"] = round(result["bytes"] / max(1, result["records"]), 1)
    return result


def run(records: int, directory: Path | None, keep: bool) -> dict[str, Any]:
    """Run the benchmark; returns the result payload."""
    base = Path(tempfile.mkdtemp(prefix="audit-log-bench-", dir=directory))
    logdir = base / "log"
    stops = sorted({min(FIRST_STOP, records), records})
    steps: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        written = 0
        for stop in stops:
            step = {"write": _write(logdir, written, stop), "verify": _verify(logdir)}
            written = stop
            steps[str(stop)] = step
            print(
                f"{stop:>9,} records: write {step['write']['records_per_s']:,}/s, "
                f"verify {step['verify']['records_per_s']:,}/s "
                f"({step['verify']['records_per_cpu_s']:,}/CPU-s), "
                f"peak RSS {step['verify']['peak_rss_mb']} MB",
                file=sys.stderr,
            )
    finally:
        if keep:
            print(f"log kept in {logdir}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    small, large = steps[str(stops[0])], steps[str(stops[-1])]
    return {
        "benchmark": "audit_log",
        "timestamp": now_iso(),
        "machine": machine_info(),
        "parameters": {
            "records": records,
            "record": "fast_synthetic_event: request + Quote protobuf JSON, 1 refusal in 20",
            "writer": "DurableAuditLog, fsync off, checkpoint every 1 s",
            "verify": "verify_log in a child process pinned to one core; peak RSS = VmHWM",
        },
        "steps": steps,
        "summary": {
            "verify_records_per_s": large["verify"]["records_per_s"],
            "verify_records_per_cpu_s": large["verify"]["records_per_cpu_s"],
            "verify_target_records_per_s": 100_000,
            "verify_meets_target": large["verify"]["records_per_s"] >= 100_000,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "peak_rss_mb_at": {
                str(stops[0]): small["verify"]["peak_rss_mb"],
                str(stops[-1]): large["verify"]["peak_rss_mb"],
            },
            "rss_growth_ratio": round(
                large["verify"]["peak_rss_mb"] / small["verify"]["peak_rss_mb"], 3
            ),
            "reopen_seconds_at_first_stop": large["write"]["open_seconds"],
            "reopen_cpu_seconds_at_first_stop": large["write"]["open_cpu_seconds"],
            "write_records_per_s": large["write"]["records_per_s"],
            "group_commit_batch_mean": large["write"]["writer_stats"].get("batch_size_mean"),
        },
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse flags, run, write bench/results/audit_log.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.audit_log", description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, help="where to put the log (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument("--quick", action="store_true", help="100,000 records only")
    args = parser.parse_args(argv)
    records = FIRST_STOP if args.quick else args.records
    payload = run(records, args.dir, args.keep)
    path = write_result("audit_log", payload)
    print(json.dumps(payload["summary"], indent=2))
    print(f"written {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
