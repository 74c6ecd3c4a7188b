"""Benchmark 3: the durable audit writer in process, with its own batch and fsync stats.

The server's audit log runs inside `pricing-service serve`, where its `stats()` cannot
be read from outside; this benchmark opens `pricing_service.audit.writer.DurableAuditLog`
directly in a temp dir and drives it like the sync server does: 16 threads, each
submitting a real quote record (request and quote of the bench mix, as QuoteService
renders them) and waiting for it to be durable. Configurations, in the same run:

- server_default:  fsync on, checkpoint interval as ServiceConfig's default
- the other checkpoint policy: checkpoint_every_batch (interval 0) when the default
  has an interval, else checkpoint_1s
- no_fsync:        fsync off (UNSAFE, ceiling only), the default checkpoint interval

and, as the disk's baseline, a bare loop of 4 KiB append + fdatasync in the same dir.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import structlog

from bench import workload
from bench.common import machine_info, now_iso, ratio

SUBMITTERS = 16


def _fdatasync_baseline(directory: Path, seconds: float) -> dict[str, Any]:
    path = directory / "fsync-baseline.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    block = b"x" * 4096
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    times.sort()
    return {
        "fsyncs": len(times),
        "fsyncs_per_s": round(len(times) / sum(times), 1),
        "p50_ms": round(times[len(times) // 2] * 1000, 3),
        "p99_ms": round(times[min(len(times) - 1, len(times) * 99 // 100)] * 1000, 3),
    }


def _drive(log: Any, events: list[Any], seconds: float) -> dict[str, Any]:
    counts = [0] * SUBMITTERS
    start = time.perf_counter()
    deadline = start + seconds

    def submitter(k: int) -> None:
        i = k
        while time.perf_counter() < deadline:
            log.submit(events[i % len(events)]).result()
            counts[k] += 1
            i += SUBMITTERS

    threads = [threading.Thread(target=submitter, args=(k,)) for k in range(SUBMITTERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {
        "records": sum(counts),
        "seconds": round(elapsed, 3),
        "records_per_s": round(sum(counts) / elapsed, 1),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Run the audit writer benchmark; returns the result document."""
    from pricing_service.api.incoming import PbIncoming  # noqa: PLC0415
    from pricing_service.audit.sink import AuditEvent  # noqa: PLC0415
    from pricing_service.audit.writer import AuditLogConfig, DurableAuditLog  # noqa: PLC0415
    from pricing_service.config import ServiceConfig  # noqa: PLC0415
    from pricing_service.policy.store import default_policies  # noqa: PLC0415
    from pricing_service.quoting.pricing import price_effective  # noqa: PLC0415

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    seconds = 1.0 if quick else 3.0
    policies = default_policies()
    mix = workload.build(2_000)
    events: list[Any] = []
    for req in mix.requests:
        incoming = PbIncoming(req)
        priced = price_effective(incoming, policies)
        policy = priced.policy
        events.append(
            AuditEvent(
                kind="quote",
                request=incoming.document(),
                response=priced.document,
                error=None,
                caller="anonymous@ipv4:127.0.0.1:50000",
                policy_digest=policy.digest,
                time="2026-11-22T00:00:00Z",
            )
        )
    default_interval = ServiceConfig().audit_checkpoint_interval_ms
    # The server's defaults, the other checkpoint policy, and the no-fsync ceiling.
    other_interval = 1000 if default_interval == 0 else 0
    other_name = "checkpoint_1s" if other_interval else "checkpoint_every_batch"
    configs = {
        "server_default": {"fsync": True, "checkpoint_interval_ms": default_interval},
        other_name: {"fsync": True, "checkpoint_interval_ms": other_interval},
        "no_fsync": {"fsync": False, "checkpoint_interval_ms": default_interval},
    }
    known = {f.name for f in dataclasses.fields(AuditLogConfig)}
    tmp = Path(tempfile.mkdtemp(prefix="pricing-bench-audit-"))
    results: dict[str, Any] = {}
    try:
        results["fdatasync_baseline_4k_append"] = _fdatasync_baseline(tmp, min(seconds, 2.0))
        for name, options in configs.items():
            directory = tmp / name
            # Only the options this version of AuditLogConfig knows.
            settings: dict[str, Any] = {k: v for k, v in options.items() if k in known}
            log = DurableAuditLog(
                AuditLogConfig(
                    directory=directory, origin="bench.example/pricing-audit/bench", **settings
                )
            )
            digest = policies.versions[-1].digest
            log.register_policy(digest, policies.canonical(digest))
            try:
                measured = _drive(log, events, seconds)
                stats = log.stats()
            finally:
                log.close()
            segments = list((directory / "segments").glob("*.jsonl"))
            seg_bytes = sum(p.stat().st_size for p in segments)
            summary = {
                k: (round(v, 6) if isinstance(v, float) else v) for k, v in stats.summary().items()
            }
            results[name] = {
                "options": options,
                **measured,
                "writer_stats": summary,
                "fsync_ms_p50": round(summary.get("fsync_s_p50", 0) * 1000, 3),
                "fsync_ms_p99": round(summary.get("fsync_s_p99", 0) * 1000, 3),
                "mean_record_bytes": round(seg_bytes / max(1, stats.records), 1),
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "benchmark": "audit",
        "timestamp": now_iso(),
        "quick": quick,
        "machine": machine_info(),
        "parameters": {
            "submitter_threads": SUBMITTERS,
            "seconds_per_config": seconds,
            "events": len(events),
            "record": "kind=quote, canonical request + quote JSON (QuoteService's AuditEvent)",
            "temp_dir_filesystem": "same as tempfile.gettempdir()",
        },
        "results": results,
        "ratios": {
            "server_default_vs_no_fsync": ratio(
                results["server_default"]["records_per_s"], results["no_fsync"]["records_per_s"]
            ),
            f"{other_name}_vs_server_default": ratio(
                results[other_name]["records_per_s"], results["server_default"]["records_per_s"]
            ),
        },
    }
