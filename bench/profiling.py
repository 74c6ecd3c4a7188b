"""Where a server's time goes: py-spy samples of the thread holding the GIL, summarised.

`py-spy record --gil --nonblocking -f raw` samples only the thread that holds the GIL,
so the samples are the server's Python time (and C called with the GIL held, such as
upb parsing). Time in grpc's C core, the kernel and waiting shows up only as the gap
between that and the process's CPU time, which the load client measures.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

# Exclusive buckets, first match wins, tested against the whole stack of a sample.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("audit_sink", ("pricing_service/audit/",)),
    ("logging_structlog", ("structlog/",)),
    ("engine_domain", ("pricing_service/domain/",)),
    (
        "canonical_json_and_ids",
        (
            "protobuf/json_format.py",
            "canonical_json (",
            "canonical_bytes (",
            "fingerprint (",
            "quote_id_for (",
            "json/encoder.py",
            "json/__init__.py",
        ),
    ),
    ("convert_pb_domain", ("pricing_service/api/convert.py",)),
    # Not pricing_service/cli/: the aio server's event loop runs under serve().
    (
        "service_glue",
        ("pricing_service/api/", "pricing_service/domain/", "pricing_service/policy/"),
    ),
    ("grpc_python", ("grpc/",)),
    # grpc.aio's Cython callbacks show as asyncio frames (py-spy sees no Cython frames).
    ("asyncio_loop_and_grpc_aio", ("asyncio/",)),
    ("threads_futures", ("threading.py", "concurrent/futures")),
)
_LINE = re.compile(r":\d+\)$")


def find_py_spy() -> str | None:
    """py-spy next to this interpreter, or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


def record(py_spy: str, pid: int, seconds: float, rate_hz: int, out: Path, core: int) -> str:
    """Sample `pid` for `seconds`; py-spy itself runs on `core` (the client's)."""
    cmd = [
        "taskset",
        "-c",
        str(core),
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        str(rate_hz),
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
        "--gil",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    return (
        (done.stdout + done.stderr).strip().splitlines()[-1] if (done.stdout or done.stderr) else ""
    )


def find_perf() -> str | None:
    """Linux perf on PATH, if any."""
    return shutil.which("perf")


def perf_start(
    perf: str, pid: int, seconds: float, out: Path, core: int
) -> subprocess.Popen[bytes]:
    """Start `perf record` of `pid` for `seconds` (CPU-clock samples, all threads)."""
    cmd = ["taskset", "-c", str(core), perf, "record", "-F", "499", "-p", str(pid), "-o", str(out)]
    return subprocess.Popen(
        [*cmd, "--", "sleep", str(seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


# What each shared object of the server process is, for the perf split.
DSO_GROUPS: tuple[tuple[str, str], ...] = (
    ("libpython", "python_interpreter"),
    ("[kernel", "kernel"),
    ("cygrpc", "grpc_core"),
    ("libc.so", "libc_malloc_etc"),
    ("_message", "protobuf_upb"),
    ("_decimal", "decimal"),
    ("libcrypto", "openssl_crypto"),
    ("_json", "json_c"),
)


def perf_split(perf: str, data: Path) -> dict[str, float]:
    """Share of CPU samples by shared object, grouped (python, kernel, grpc core...)."""
    done = subprocess.run(
        [perf, "report", "-i", str(data), "--sort", "dso", "--stdio"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    shares: dict[str, float] = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].endswith("%") or line.lstrip().startswith("#"):
            continue
        share = float(parts[0].rstrip("%")) / 100
        dso = " ".join(parts[1:])
        group = next((g for needle, g in DSO_GROUPS if needle in dso), "other")
        shares[group] = shares.get(group, 0.0) + share
    ordered = sorted(shares.items(), key=lambda kv: -kv[1])
    return {k: round(v, 3) for k, v in ordered}


def summarise(raw: Path, rate_hz: int, seconds: float, calls: int, top: int = 15) -> dict[str, Any]:
    """Buckets and top frames of a raw py-spy file; `calls` completed while sampling."""
    by_category: Counter[str] = Counter()
    self_frames: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [_LINE.sub(")", f) for f in stack.split(";") if not f.startswith("thread (")]
        if not frames:
            continue
        total += count
        self_frames[frames[-1]] += count
        for f in set(frames):
            inclusive[f] += count
        joined = ";".join(frames)
        for name, needles in CATEGORIES:
            if any(n in joined for n in needles):
                by_category[name] += count
                break
        else:
            by_category["other"] += count
    expected = rate_hz * seconds
    us_per_sample = 1e6 / rate_hz

    def per_call(n: int) -> float | None:
        return round(n * us_per_sample / calls, 1) if calls else None

    return {
        "samples": total,
        "gil_held_fraction": round(total / expected, 3) if expected else None,
        "gil_us_per_call": per_call(total),
        "categories": {
            name: {"share": round(n / total, 3), "us_per_call": per_call(n)}
            for name, n in by_category.most_common()
        }
        if total
        else {},
        "top_self": [
            {"frame": f, "share": round(n / total, 3)} for f, n in self_frames.most_common(top)
        ],
        "top_inclusive_pricing_service": [
            {"frame": f, "share": round(n / total, 3)}
            for f, n in inclusive.most_common()
            if "pricing_service/" in f
        ][:top],
    }
