"""Probe: where a durable CreateQuote's CPU goes in the server (issue 14).

    python -m bench.binding_probe [--quick] [--no-audit] [--variants ,canned,no_lookup]
        -> bench/results/binding_probe.json

One `pricing-service serve --mode sync` per variant, side by side on the server core,
driven from the client core by bench/grpc_bench.py's load client with the same request
bytes, rounds interleaved. bench/probe_site/sitecustomize.py patches each variant in at
start (the "" variant is the server as it is) and reports, per CreateQuote, the handler
thread's own CPU (pricing and submitting, then completing the reply) and the cyclic GC's
time. `canned` answers one fixed reply (what the shell and gRPC cost without the use
case); `no_lookup` never asks the request-id index. Read the paired ratios: the machine
is shared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.batch_signing_bench import _templates
from bench.common import ROOT, free_port, machine_info, now_iso, write_result
from bench.grpc_bench import Server, drive, start_quote_server, stop, wait_ready

SITE = ROOT / "bench" / "probe_site"


def _start(name: str, variant: str, audit: bool, tmp: Path) -> tuple[Server, Path]:
    server = Server(
        name, "quote", "sync", audit, free_port(), tmp / f"{name}.log", audit_dir=tmp / name
    )
    out = tmp / f"{name}.probe.json"
    env = {"PYTHONPATH": f"{SITE}:{ROOT}", "PROBE_VARIANT": variant, "PROBE_OUT": str(out)}
    start_quote_server(server, extra_env=env)
    return server, out


def run(variants: list[str], audit: bool, quick: bool) -> dict[str, Any]:
    """Run every variant side by side; the result document."""
    rounds, seconds = (2, 1.5) if quick else (5, 2.0)
    tmp = Path(tempfile.mkdtemp(prefix="pricing-probe-"))
    templates = _templates(tmp, 8_000)
    names = [v or "as_is" for v in variants]
    started = [_start(n, v, audit, tmp) for n, v in zip(names, variants, strict=True)]
    cpu: dict[str, list[float]] = {n: [] for n in names}
    rps: dict[str, list[float]] = {n: [] for n in names}
    try:
        for server, _ in started:
            wait_ready(server)
        for rnd in range(rounds):
            order = started if rnd % 2 == 0 else started[::-1]
            for server, _ in order:
                r = drive(server, templates, 16, 0.3, seconds, f"p{rnd}-{server.name}-")
                cpu[server.name].append(r["server_cpu_us_per_call"])
                rps[server.name].append(r["throughput_rps"])
    finally:
        for server, _ in started:
            stop(server)
    time.sleep(0.5)
    base = names[0]
    results: dict[str, Any] = {}
    for (_server, out), name in zip(started, names, strict=True):
        probe = json.loads(out.read_text()) if out.exists() else {}
        calls = max(probe.get("handler", {}).get("calls", 0), 1)
        handler = probe.get("handler", {})
        gc = probe.get("gc", {})
        results[name] = {
            "server_cpu_us_per_call_rounds": cpu[name],
            "server_cpu_us_per_call_median": statistics.median(cpu[name]),
            "throughput_rps_median": statistics.median(rps[name]),
            "cpu_ratio_to_first_paired_median": round(
                statistics.median(a / b for a, b in zip(cpu[name], cpu[base], strict=True)), 3
            ),
            "handler_calls": handler.get("calls", 0),
            "handler_start_us_per_call": round(1e6 * handler.get("start_s", 0.0) / calls, 1),
            "handler_complete_us_per_call": round(1e6 * handler.get("complete_s", 0.0) / calls, 1),
            "gc_collections": gc.get("collections"),
            "gc_us_per_call": round(1e6 * sum(gc.get("seconds", [])) / calls, 1),
        }
    return {
        "benchmark": "binding_probe",
        "timestamp": now_iso(),
        "machine": machine_info(),
        "params": {"audit": audit, "rounds": rounds, "seconds": seconds, "concurrency": 16},
        "variants": results,
    }


def main() -> None:
    """CLI: run the probe and write bench/results/binding_probe.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-audit", action="store_true", help="servers with the audit off")
    parser.add_argument("--variants", default=",canned,no_lookup", help="comma-separated")
    args = parser.parse_args()
    doc = run(args.variants.split(","), audit=not args.no_audit, quick=args.quick)
    path = write_result("binding_probe", doc)
    for name, v in doc["variants"].items():
        print(
            f"{name:10s} cpu/call {v['server_cpu_us_per_call_median']:7.0f} us "
            f"(x{v['cpu_ratio_to_first_paired_median']}), handler {v['handler_start_us_per_call']}"
            f" + {v['handler_complete_us_per_call']} us, gc {v['gc_us_per_call']} us/call"
        )
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
