"""What every benchmark shares: machine facts, versions, the result file, core pinning."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def machine_info() -> dict[str, Any]:
    """The machine and software a result was measured on."""
    from google.protobuf.internal import api_implementation  # noqa: PLC0415

    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity_available": sorted(os.sched_getaffinity(0)),
        "mem_total_mb": _mem_total_mb(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "versions": {
            "grpcio": _version("grpcio"),
            "protobuf": _version("protobuf"),
            "protobuf_backend": api_implementation.Type(),
            "structlog": _version("structlog"),
            "scipy": _version("scipy"),
            "ecoloan-pricing-service": _version("ecoloan-pricing-service"),
        },
        "git_commit": _git("rev-parse", "HEAD"),
        "git_tracked_changes": bool(status) if status is not None else None,
    }


def now_iso() -> str:
    """The current UTC instant, RFC 3339."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write `payload` as bench/results/<name>.json (replacing the previous run's)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


@contextlib.contextmanager
def pinned(core: int) -> Iterator[int]:
    """Run the block on one core (the first allowed one if `core` is not allowed)."""
    before = os.sched_getaffinity(0)
    chosen = core if core in before else min(before)
    os.sched_setaffinity(0, {chosen})
    try:
        yield chosen
    finally:
        os.sched_setaffinity(0, before)


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator to 3 decimals, None when either is missing or zero."""
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)
