"""Memory under endless binding traffic: RSS after each 50,000 quotes, up to 500,000.

The quote service on a durable audit log (fsync off: memory, not disk speed, is
measured), as the server runs it: the idempotency window in memory, the log's
request-id index on disk. Every quote has its own request id, the worst case for the
idempotency index. `python -m bench.memory_bench [--quotes N]` writes
bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import logging
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog

from bench import replay_bench
from bench.common import machine_info, now_iso, write_result

STEP = 50_000
IN_FLIGHT = 64


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / (1 << 20)


def run(quotes: int = 500_000) -> dict[str, Any]:
    """Create `quotes` binding quotes; RSS after each STEP."""
    from pricing_service.api.incoming import PbIncoming, decode_document  # noqa: PLC0415
    from pricing_service.config import load_config  # noqa: PLC0415
    from pricing_service.policy.store import default_policies  # noqa: PLC0415
    from pricing_service.quoting.service import QuoteService  # noqa: PLC0415
    from pricing_service.quoting.service_log import open_service_log  # noqa: PLC0415

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    base = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    config = load_config(env={}, audit_dir=str(base / "audit"), audit_fsync=False)
    opened = open_service_log(config)
    service = QuoteService(default_policies(), opened.sink)
    opened.restore(service, decode_document, config.idempotency_window)
    rng = random.Random(7)
    series = [{"quotes": 0, "rss_mb": round(_rss_mb(), 1)}]
    started = time.perf_counter()
    for start in range(0, quotes, IN_FLIGHT):
        pending = []
        for i in range(start, min(quotes, start + IN_FLIGHT)):
            req, _ = replay_bench._request(rng, i)
            req.request_id = f"mem-{i}"
            pending.append(service.begin_create(PbIncoming(req), "bench"))
        for p in pending:
            position = p.future.result()
            if p.refusal is None:
                p.finish(position)
        done = min(quotes, start + IN_FLIGHT)
        if done // STEP > series[-1]["quotes"] // STEP or done == quotes:
            series.append({"quotes": done, "rss_mb": round(_rss_mb(), 1)})
            print(f"  memory: {done:,} quotes, RSS {series[-1]['rss_mb']} MB", flush=True)
    seconds = time.perf_counter() - started
    opened.sink.close()
    assert opened.index is not None
    indexed = len(opened.index)
    opened.index.close()
    warm = series[1]["rss_mb"] if len(series) > 1 else series[0]["rss_mb"]
    result = {
        "benchmark": "memory",
        "timestamp": now_iso(),
        "machine": machine_info(),
        "parameters": {"quotes": quotes, "step": STEP, "window": config.idempotency_window},
        "series": series,
        "rss_mb_after_warmup": warm,
        "rss_mb_at_end": series[-1]["rss_mb"],
        "growth_mb_per_100k_after_warmup": round(
            (series[-1]["rss_mb"] - warm) / max(quotes - STEP, 1) * 100_000, 2
        ),
        "request_ids_indexed": indexed,
        "seconds": round(seconds, 1),
        "target": "RSS <= 200 MB after 500,000 binding quotes, flat after warm-up",
    }
    write_result("memory", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=500_000)
    args = parser.parse_args()
    result = run(args.quotes)
    print(
        f"RSS {result['rss_mb_after_warmup']} MB after {STEP:,}, {result['rss_mb_at_end']} MB "
        f"after {args.quotes:,} ({result['growth_mb_per_100k_after_warmup']} MB per 100k)"
    )


if __name__ == "__main__":
    main()
