"""Benchmark: does portfolio simulation starve binding quotes?

One `pricing-service serve` (sync, durable audit) per setting of `simulation_workers`
(0: SimulateQuotes prices in the server's own process, as before; 1: in a worker
process). For each server, interleaved rounds of:

    unloaded   the load client alone: CreateQuote at 4 in flight
    loaded     the same while two simulation clients loop 10,000-loan SimulateQuotes

The figure is CreateQuote p99 loaded ÷ p99 unloaded of the same server in the same
run (target ≤ 2), beside the simulation throughput (loans/s) each setting kept up.
Nothing is pinned: the server, its simulation worker and four client processes share
the machine's cores, as a deployment would.

    python -m bench.isolation_bench [--quick]          -> bench/results/isolation.json
    python -m bench.isolation_bench sim-client '<json>'   (the simulation client)
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc

from bench import workload
from bench.common import ROOT, free_port, machine_info, now_iso, ratio, write_result
from bench.grpc_bench import Server, _env, drive, preflight, start_quote_server, stop, wait_ready
from bench.load_client import histogram_percentiles

SIMULATE_PATH = "/ecoloan.pricing.v1.PricingService/SimulateQuotes"
SIM_LOANS = 10_000
SIM_CLIENTS = 2
P99_RATIO_TARGET = 2.0


def simulate_request_bytes(loans: int, seed: int = 20261207) -> bytes:
    """One SimulateQuotes request of `loans` loans of the benchmark mix."""
    from ecoloan.pricing.v1 import pricing_service_pb2 as pb  # noqa: PLC0415

    mix = workload.build(loans, seed=seed)
    request = pb.SimulateQuotesRequest()
    for loan in mix.requests:
        copy = request.loans.add()
        copy.CopyFrom(loan)
        copy.ClearField("request_id")
    return request.SerializeToString()


def sim_client(spec: dict[str, Any]) -> dict[str, Any]:
    """Loop SimulateQuotes until `stop_at` (a time.time() instant); count calls and loans."""
    body = Path(spec["request"]).read_bytes()
    stop_at = float(spec["stop_at"])
    codes: Counter[str] = Counter()
    seconds: list[float] = []
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(spec["target"], options=options) as channel:
        call = channel.unary_unary(
            SIMULATE_PATH, request_serializer=None, response_deserializer=None
        )
        while time.time() < stop_at:
            t0 = time.perf_counter()
            try:
                call(body, timeout=120)
                codes["OK"] += 1
            except grpc.RpcError as exc:
                codes[exc.code().name] += 1
                time.sleep(0.05)  # RESOURCE_EXHAUSTED: back off as RetryInfo asks
            seconds.append(time.perf_counter() - t0)
    return {"codes": dict(codes), "call_s_median": round(statistics.median(seconds), 3)}


def _start_sim_clients(
    target: str, request_path: Path, stop_at: float
) -> list[subprocess.Popen[str]]:
    spec = json.dumps({"target": target, "request": str(request_path), "stop_at": stop_at})
    return [
        subprocess.Popen(
            [sys.executable, "-m", "bench.isolation_bench", "sim-client", spec],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=_env(None),
        )
        for _ in range(SIM_CLIENTS)
    ]


def _finish(clients: list[subprocess.Popen[str]]) -> dict[str, Any]:
    codes: Counter[str] = Counter()
    medians = []
    for client in clients:
        out, _ = client.communicate(timeout=300)
        result = json.loads(out.strip().splitlines()[-1])
        codes.update(result["codes"])
        medians.append(result["call_s_median"])
    return {"codes": dict(codes), "call_s_median": medians}


def _merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    hist: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    for r in runs:
        hist.update({int(b): c for b, c in r["latency_histogram"].items()})
        codes.update(r["codes"])
    completed = sum(r["completed"] for r in runs)
    window = sum(r["window_s"] for r in runs)
    return {
        "throughput_rps": round(completed / window, 1) if window else None,
        "completed": completed,
        "codes": dict(codes),
        "latency_ms": histogram_percentiles(hist, (50, 90, 99)),
    }


def run(quick: bool) -> dict[str, Any]:
    """Both settings, interleaved rounds; returns the result document."""
    rounds, seconds = (1, 4.0) if quick else (3, 8.0)
    tmp = Path(tempfile.mkdtemp(prefix="pricing-isolation-"))
    mix = workload.build(8_000)
    templates = []
    for req in mix.requests:
        copy = type(req)()
        copy.CopyFrom(req)
        copy.ClearField("request_id")
        templates.append(copy.SerializeToString())
    templates_path = tmp / "templates.pkl"
    templates_path.write_bytes(pickle.dumps(templates))
    request_path = tmp / "simulate.bin"
    request_path.write_bytes(simulate_request_bytes(SIM_LOANS))
    servers = {
        workers: Server(
            f"simulation_workers_{workers}",
            "quote",
            "sync",
            True,
            free_port(),
            tmp / f"server-{workers}.log",
            audit_dir=tmp / f"audit-{workers}",
        )
        for workers in (0, 1)
    }
    results: dict[str, Any] = {}
    try:
        for workers, server in servers.items():
            _start(server, workers)
        for server in servers.values():
            wait_ready(server)
            preflight(server, templates, f"iso-{server.name}")
        runs: dict[int, dict[str, list[dict[str, Any]]]] = {w: {} for w in servers}
        sims: dict[int, list[dict[str, Any]]] = {w: [] for w in servers}
        for rnd in range(rounds):
            order = list(servers.items()) if rnd % 2 == 0 else list(reversed(servers.items()))
            for workers, server in order:
                print(f"  isolation: round {rnd + 1}/{rounds}, {server.name}", file=sys.stderr)
                unloaded = drive(server, templates_path, 4, 1.0, seconds, f"iso-u{rnd}-{workers}-")
                runs[workers].setdefault("unloaded", []).append(unloaded)
                # The simulation clients run through the client's warm-up and window.
                clients = _start_sim_clients(server.target, request_path, time.time() + seconds + 4)
                time.sleep(1.5)  # both simulations under way before the window opens
                loaded = drive(server, templates_path, 4, 1.0, seconds, f"iso-l{rnd}-{workers}-")
                runs[workers].setdefault("loaded", []).append(loaded)
                sims[workers].append(_finish(clients))
        for workers, server in servers.items():
            unloaded = _merge(runs[workers]["unloaded"])
            loaded = _merge(runs[workers]["loaded"])
            sim_ok = sum(s["codes"].get("OK", 0) for s in sims[workers])
            sim_window = rounds * (seconds + 4)
            results[server.name] = {
                "unloaded": unloaded,
                "loaded": loaded,
                "p99_loaded_over_unloaded": ratio(
                    loaded["latency_ms"].get("p99"), unloaded["latency_ms"].get("p99")
                ),
                "simulations": sims[workers],
                "simulated_loans_per_s": round(sim_ok * SIM_LOANS / sim_window),
            }
    finally:
        for server in servers.values():
            stop(server)
    return {
        "benchmark": "isolation",
        "timestamp": now_iso(),
        "quick": quick,
        "machine": machine_info(),
        "parameters": {
            "rounds": rounds,
            "window_s": seconds,
            "create_quote_in_flight": 4,
            "simulation_clients": SIM_CLIENTS,
            "loans_per_simulation": SIM_LOANS,
            "p99_ratio_target": P99_RATIO_TARGET,
        },
        "results": results,
    }


def isolation_table(doc: dict[str, Any]) -> str:
    """The figures as text rows, for bench.run."""
    lines = [
        "setting                 CreateQuote p99 alone   with 2 simulations   ratio   sim loans/s"
    ]
    for name, r in doc["results"].items():
        lines.append(
            f"{name:<24}{r['unloaded']['latency_ms'].get('p99', 0):>10.1f} ms"
            f"{r['loaded']['latency_ms'].get('p99', 0):>18.1f} ms"
            f"{r['p99_loaded_over_unloaded'] or 0:>11.2f}{r['simulated_loans_per_s']:>14,}"
        )
    return "\n".join(lines)


def _start(server: Server, workers: int) -> None:
    # Unpinned: a simulation worker inherits its server's affinity, and a pinned server
    # would keep its worker on the same core.
    start_quote_server(server, pin=False, extra_env={"PRICING_SIMULATION_WORKERS": str(workers)})


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["sim-client"]:
        print(json.dumps(sim_client(json.loads(args[1]))), flush=True)
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.isolation_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one round of 4 s")
    ns = parser.parse_args(args)
    doc = run(ns.quick)
    path = write_result("isolation", doc)
    print(json.dumps(doc["results"], indent=2))
    print(f"written {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
