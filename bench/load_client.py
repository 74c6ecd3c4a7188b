"""The load client: a fixed number of calls in flight over one channel, for a fixed time.

Runs as its own process (pinned by the caller, e.g. `taskset -c 1`), speaks grpc.aio
with identity (de)serializers, so it does exactly the same work whichever server
it drives: it sends real CreateQuoteRequest bytes, each with a fresh request_id
spliced in front (protobuf merges fields, so no re-serialisation), and counts the
reply bytes without parsing them.

    python -m bench.load_client '<json spec>'   ->   one JSON result line on stdout

Spec: target, method, templates (pickle file of request bytes without
request_id), concurrency, warmup_s, duration_s, id_prefix, server_pid (optional).
Throughput counts the calls that complete inside the measured window; latency
percentiles are over the calls that start and end inside it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import pickle
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, all its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def bucket_of(seconds: float) -> int:
    """Log-scale latency bucket, about 1% wide: bucket b holds [e^(b/100), e^((b+1)/100)) us."""
    return int(math.log(max(seconds * 1e6, 1.0)) * 100)


def bucket_ms(bucket: int) -> float:
    """The lower edge of a latency bucket in milliseconds."""
    return math.exp(bucket / 100) / 1000


def histogram_percentiles(hist: dict[int, int], points: tuple[float, ...]) -> dict[str, float]:
    """Percentiles (ms, bucket lower edge, so within 1% below the true value) of a histogram."""
    total = sum(hist.values())
    out: dict[str, float] = {}
    if not total:
        return out
    ordered = sorted(hist.items())
    for p in points:
        rank = max(1, math.ceil(p / 100 * total))
        seen = 0
        for bucket, count in ordered:
            seen += count
            if seen >= rank:
                out[f"p{p:g}"] = round(bucket_ms(bucket), 3)
                break
    return out


def percentiles(samples: list[float], points: tuple[float, ...]) -> dict[str, float]:
    """Nearest-rank percentiles of `samples` (seconds) in milliseconds."""
    if not samples:
        return {}
    ordered = sorted(samples)
    out = {}
    for p in points:
        rank = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        out[f"p{p:g}"] = round(ordered[rank] * 1000, 4)
    out["mean"] = round(sum(ordered) / len(ordered) * 1000, 4)
    out["max"] = round(ordered[-1] * 1000, 4)
    return out


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Drive the target as `spec` says and return the measurements."""
    templates: list[bytes] = pickle.loads(Path(spec["templates"]).read_bytes())
    concurrency = int(spec["concurrency"])
    warmup_s = float(spec["warmup_s"])
    duration_s = float(spec["duration_s"])
    prefix = str(spec["id_prefix"])
    offset = int(spec.get("template_offset", 0))
    server_pid = spec.get("server_pid")
    if len(f"{prefix}{10**9}") > 127:
        raise ValueError("id_prefix too long for a one-byte length")
    counter = 0
    codes: Counter[str] = Counter()
    latencies: list[float] = []
    completed_in_window = 0
    reply_bytes = 0

    async with grpc.aio.insecure_channel(spec["target"]) as channel:
        await asyncio.wait_for(channel.channel_ready(), 10)
        # No serializers: bytes both ways.
        call = channel.unary_unary(
            spec["method"], request_serializer=None, response_deserializer=None
        )
        start = time.perf_counter()
        window_start = start + warmup_s
        window_end = window_start + duration_s
        marks: dict[str, float] = {}
        server_marks: list[tuple[float, float]] = []

        async def mark_window() -> None:
            await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
            marks["cpu0"] = _self_cpu()
            marks["wall0"] = time.perf_counter()
            if server_pid:
                server_marks.append(process_cpu_seconds(int(server_pid)))
            await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
            marks["cpu1"] = _self_cpu()
            marks["wall1"] = time.perf_counter()
            if server_pid:
                server_marks.append(process_cpu_seconds(int(server_pid)))

        async def worker() -> None:
            nonlocal counter, completed_in_window, reply_bytes
            while True:
                n = counter
                counter += 1
                rid = f"{prefix}{n}".encode()
                message = (
                    b"\x0a" + bytes((len(rid),)) + rid + templates[(offset + n) % len(templates)]
                )
                t0 = time.perf_counter()
                if t0 >= window_end:
                    return
                try:
                    reply = await call(message, timeout=30)
                    code = "OK"
                    reply_bytes += len(reply)
                except grpc.aio.AioRpcError as exc:
                    code = exc.code().name
                t1 = time.perf_counter()
                codes[code] += 1
                if window_start <= t1 < window_end:
                    completed_in_window += 1
                    if t0 >= window_start:
                        latencies.append(t1 - t0)

        await asyncio.gather(mark_window(), *(worker() for _ in range(concurrency)))

    window = marks["wall1"] - marks["wall0"]
    hist: Counter[int] = Counter(bucket_of(x) for x in latencies)
    result: dict[str, Any] = {
        "target": spec["target"],
        "method": spec["method"],
        "concurrency": concurrency,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "window_s": round(window, 4),
        "completed": completed_in_window,
        "throughput_rps": round(completed_in_window / window, 1),
        "calls_total": counter - concurrency,
        "codes": dict(codes),
        "mean_reply_bytes": round(reply_bytes / max(1, codes["OK"]), 1),
        "latency_ms": percentiles(latencies, (50, 90, 99, 99.9)),
        "latency_histogram": {str(b): c for b, c in sorted(hist.items())},
        "client_cpu_util": round((marks["cpu1"] - marks["cpu0"]) / window, 3),
    }
    if server_pid:
        user = server_marks[1][0] - server_marks[0][0]
        system = server_marks[1][1] - server_marks[0][1]
        result["server_cpu_util"] = round((user + system) / window, 3)
        result["server_user_util"] = round(user / window, 3)
        result["server_sys_util"] = round(system / window, 3)
        result["server_cpu_us_per_call"] = round(
            (user + system) / max(1, completed_in_window) * 1e6, 1
        )
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point: the spec is the only argument, the result is printed as JSON."""
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(args[0])
    print(json.dumps(asyncio.run(run(spec))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
