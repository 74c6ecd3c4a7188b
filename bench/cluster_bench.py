"""Benchmark: durable CreateQuote through nginx on the PostgreSQL store, against the file store.

Four setups measured in one run, rounds interleaved, the same load client and request
bytes (bench/load_client.py, 16 calls in flight, one channel):

    file_single        one `pricing-service serve`, file audit log, called directly (the baseline)
    pg_nginx_1         nginx -> one replica on the PostgreSQL store
    pg_nginx_2         nginx -> two replicas sharing one PostgreSQL log
    pg_nginx_workers2  nginx -> one `serve --workers 2` (two processes on one port)

Each PostgreSQL setup has a database of its own in one local instance (Debian's binaries,
deploy/local/postgres.py, default durability: fsync on, synchronous commit). Nothing is
pinned: on this 2-core machine the client, nginx, the replicas and PostgreSQL share both
cores, which is the first limit any figure here meets. CPU per call is summed over every
process of a setup (replicas, nginx, PostgreSQL's) from /proc; PostgreSQL's group-commit
batch sizes and transaction latency come from each replica's metrics.

    python -m bench.cluster_bench [--quick]   -> bench/results/cluster.json
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import workload
from bench.common import ROOT, free_port, machine_info, now_iso, ratio, write_result
from bench.grpc_bench import QUOTE_PATH, _merge
from bench.load_client import CLK_TCK
from deploy.local import nginx
from deploy.local.postgres import PgServer, PostgresUnavailableError, check_postgres
from pricing_service.audit.keys import write_keypair
from pricing_service.audit.pgstore.schema import migrate

BIN = Path(sys.executable).parent
CONCURRENCY = 16
ORIGIN = "ecoloan.example/pricing-audit/bench"


@dataclass
class Setup:
    """One way of serving, and the processes it runs."""

    name: str
    target: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    metrics: list[int] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    cpu_s: float = 0.0
    offset: int = 0


def _cpu_of_tree(pid: int) -> float:
    """CPU seconds of `pid` and all its descendants (PostgreSQL's backends, workers)."""
    total = 0.0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


def _serve(
    name: str, tmp: Path, port: int, env: dict[str, str], *extra: str
) -> subprocess.Popen[bytes]:
    log = (tmp / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        [str(BIN / "pricing-service"), "serve", "--listen", f"127.0.0.1:{port}",
         "--audit-dir", str(tmp / f"audit-{name}"), *extra],
        env={**os.environ, "PRICING_LOG_FORMAT": "json", **env},
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    log.close()
    return proc


def _wait_ready(target: str, seconds: float = 60) -> None:
    import grpc  # noqa: PLC0415

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with grpc.insecure_channel(target) as channel:
                grpc.channel_ready_future(channel).result(timeout=2)
                return
        except grpc.FutureTimeoutError:
            time.sleep(0.2)
    raise RuntimeError(f"{target} not ready after {seconds} s")


def _pg_env(pg: PgServer, database: str, key: Path, metrics_port: int | None) -> dict[str, str]:
    env = {
        "PRICING_AUDIT_DSN": pg.dsn.rsplit("/", 1)[0] + f"/{database}",
        "PRICING_AUDIT_SIGNER_KEY": str(key),
        "PRICING_AUDIT_ORIGIN": ORIGIN,
    }
    if metrics_port is not None:
        env["PRICING_METRICS_LISTEN"] = f"127.0.0.1:{metrics_port}"
    return env


def _database(pg: PgServer, name: str) -> None:
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(pg.dsn.rsplit("/", 1)[0] + f"/{name}") as conn:
        migrate(conn)


def _setups(tmp: Path, pg: PgServer, key: Path) -> list[Setup]:
    setups = []
    port = free_port()
    setups.append(Setup("file_single", f"127.0.0.1:{port}", [_serve("file_single", tmp, port, {})]))
    for name, replicas, workers in (
        ("pg_nginx_1", 1, 1),
        ("pg_nginx_2", 2, 1),
        ("pg_nginx_workers2", 1, 2),
    ):
        _database(pg, name)
        setup = Setup(name, f"127.0.0.1:{free_port()}")
        upstreams = []
        for r in range(replicas):
            port = free_port()
            metrics = free_port() if workers == 1 else None
            extra = ("--workers", str(workers)) if workers > 1 else ()
            env = _pg_env(pg, name, key, metrics)
            setup.procs.append(_serve(f"{name}-{r}", tmp, port, env, *extra))
            if metrics is not None:
                setup.metrics.append(metrics)
            upstreams.append(f"127.0.0.1:{port}")
        for upstream in upstreams:
            _wait_ready(upstream)
        setup.procs.append(nginx.start(tmp / f"nginx-{name}", setup.target, upstreams))
        setups.append(setup)
    for setup in setups:
        _wait_ready(setup.target)
    return setups


def _drive(setup: Setup, templates: Path, warmup_s: float, duration_s: float, prefix: str) -> None:
    spec = {
        "target": setup.target, "method": QUOTE_PATH, "templates": str(templates),
        "concurrency": CONCURRENCY, "warmup_s": warmup_s, "duration_s": duration_s,
        "id_prefix": prefix, "template_offset": setup.offset,
    }  # fmt: skip
    cmd = [sys.executable, "-m", "bench.load_client", json.dumps(spec)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"load client failed against {setup.name}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    setup.offset += int(result["calls_total"]) + CONCURRENCY
    setup.runs.append(result)


def _batch_metrics(setup: Setup) -> dict[str, float]:
    out: dict[str, float] = {}
    for i, port in enumerate(setup.metrics):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            for line in reply.read().decode().splitlines():
                for metric in ("ecoloan_audit_batch_records", "ecoloan_audit_fsync_seconds"):
                    if line.startswith(metric + "{"):
                        q = line.split('quantile="')[1].split('"')[0]
                        out[f"replica{i}_{metric.split('_', 2)[2]}_p{float(q) * 100:g}"] = float(
                            line.rsplit(" ", 1)[1]
                        )
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """Start the setups, drive them in interleaved rounds, stop them; the result document."""
    rounds, seconds, warmup = (1, 3.0, 1.0) if quick else (3, 5.0, 1.0)
    tmp = Path(tempfile.mkdtemp(prefix="pricing-cluster-bench-"))
    pg = PgServer()
    key, _ = write_keypair(ORIGIN, tmp / "keys")
    templates = tmp / "templates.pkl"
    requests = []
    for req in workload.build(8_000 if quick else 20_000).requests:
        copy = type(req)()
        copy.CopyFrom(req)
        copy.ClearField("request_id")
        requests.append(copy.SerializeToString())
    templates.write_bytes(pickle.dumps(requests))
    setups: list[Setup] = []
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    try:
        setups = _setups(tmp, pg, key)
        run_id = time.strftime("%Y%m%dT%H%M%S")
        for setup in setups:  # warm-up, not counted
            _drive(setup, templates, 0.5, warmup, f"{run_id}-w-{setup.name}-")
            setup.runs.clear()
        for rnd in range(rounds):
            order = setups if rnd % 2 == 0 else list(reversed(setups))
            for setup in order:
                print(f"  cluster: round {rnd + 1} {setup.name}", file=sys.stderr, flush=True)
                pids = [p.pid for p in setup.procs] + (
                    [postmaster] if setup.name != "file_single" else []
                )
                before = sum(_cpu_of_tree(pid) for pid in pids)
                _drive(setup, templates, 0.5, seconds, f"{run_id}-{rnd}-{setup.name}-")
                setup.cpu_s += sum(_cpu_of_tree(pid) for pid in pids) - before
        batches = {s.name: _batch_metrics(s) for s in setups}
    finally:
        for setup in setups:
            for proc in setup.procs:
                proc.terminate()
            for proc in setup.procs:
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        pg.close()
    results: dict[str, dict[str, Any]] = {}
    for setup in setups:
        merged = _merge(setup.runs)
        calls = sum(r["completed"] for r in setup.runs)
        # The window the load client measured is shorter than the span CPU was sampled
        # over (its warm-up), so CPU per call is an upper bound by that margin.
        merged["cpu_us_per_call_all_processes"] = (
            round(setup.cpu_s / calls * 1e6, 1) if calls else None
        )
        merged["group_commit"] = batches.get(setup.name, {})
        results[setup.name] = merged
    base = results["file_single"]["throughput_rps"]
    return {
        "benchmark": "cluster",
        "timestamp": now_iso(),
        "machine": machine_info(),
        "params": {
            "quick": quick,
            "rounds": rounds,
            "seconds": seconds,
            "concurrency": CONCURRENCY,
        },
        "setups": results,
        "throughput_ratio_to_file_single": {
            n: ratio(r["throughput_rps"], base) for n, r in results.items()
        },
    }


def cluster_table(doc: dict[str, Any]) -> str:
    """The result as `make bench` prints it."""
    rows = [("setup", "RPC/s", "x file", "p50 ms", "p99 ms", "CPU us/call (all)")]
    for name, r in doc["setups"].items():
        rows.append(
            (
                name,
                f"{r['throughput_rps']:,.0f}",
                f"{doc['throughput_ratio_to_file_single'][name]:.2f}",
                f"{r['latency_ms'].get('p50', 0):.1f}",
                f"{r['latency_ms'].get('p99', 0):.1f}",
                f"{r['cpu_us_per_call_all_processes']:,.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def available() -> str | None:
    """Why this benchmark cannot run here (PostgreSQL or nginx missing), or None."""
    try:
        check_postgres()
        nginx.nginx_bin()
    except (PostgresUnavailableError, nginx.NginxUnavailableError) as exc:
        return str(exc)
    return None


def main() -> None:
    """CLI: run and write bench/results/cluster.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    doc = run(quick=parser.parse_args().quick)
    path = write_result("cluster", doc)
    for name, r in doc["setups"].items():
        print(
            f"{name:20} {r['throughput_rps']:>8} rps  p50 {r['latency_ms'].get('p50')} ms  "
            f"p99 {r['latency_ms'].get('p99')} ms  cpu/call {r['cpu_us_per_call_all_processes']} us"
        )
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
