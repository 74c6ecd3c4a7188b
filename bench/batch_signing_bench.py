"""Benchmark: what signing a checkpoint per group-commit batch costs a binding quote.

Before (`--before`, by default the last commit whose writer acknowledged a record at
its fdatasync and signed a checkpoint once a second), a forged record appended while the
server was down got signed at the next start. After (this tree), every batch is signed
and its checkpoint made durable (fdatasync + directory fsync) before any reply. Both run
as `pricing-service serve --mode sync` with the durable audit log and default config, the
"before" one from a git worktree of that commit (PYTHONPATH first, so its
`pricing_service` is the one imported), side by side on core 0, driven from core 1 by
the same load client with the same request bytes, rounds interleaved (bench/grpc_bench.py
does the same for its servers).

    python -m bench.batch_signing_bench [--quick] [--before REV]
        -> bench/results/grpc_batch_signing.json

The same comparison serves any later change of the binding path:
`--before REV --name NAME` writes bench/results/NAME.json with servers "before" and
"after".
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import workload
from bench.common import ROOT, free_port, machine_info, now_iso, ratio, write_result
from bench.grpc_bench import (
    Params,
    Server,
    _merge,
    drive,
    preflight,
    start_quote_server,
    stop,
    wait_ready,
)

# 3f78074: the last commit before attested acknowledgements (issue 12).
BEFORE_DEFAULT = "3f78074"
NAMES = ("before_sign_per_second", "after_sign_per_batch")


def _worktree(rev: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(into), rev],
        check=True,
    )
    return into


def _audit_facts(audit_dir: Path) -> dict[str, Any]:
    kept = sorted((audit_dir / "checkpoints").glob("*.note"))
    records = sum(p.read_bytes().count(b"\n") for p in (audit_dir / "segments").glob("*.jsonl"))
    return {"records": records, "kept_checkpoint_files": len(kept)}


def _templates(tmp: Path, size: int) -> Path:
    templates: list[bytes] = []
    for req in workload.build(size).requests:
        copy = type(req)()
        copy.CopyFrom(req)
        copy.ClearField("request_id")
        templates.append(copy.SerializeToString())
    path = tmp / "templates.pkl"
    path.write_bytes(pickle.dumps(templates))
    return path


def _rounds(servers: list[Server], templates: Path, params: Params, run_id: str) -> None:
    for server in servers:
        server.runs["warmup"] = [
            drive(server, templates, params.concurrency, 0.5, params.warmup_s, f"{run_id}-w-")
        ]
    for phase, conc, seconds in (
        ("throughput", params.concurrency, params.throughput_s),
        ("latency", params.latency_concurrency, params.latency_s),
    ):
        for rnd in range(params.rounds):
            order = servers if rnd % 2 == 0 else list(reversed(servers))
            print(f"  signing: {phase} round {rnd + 1}", file=sys.stderr, flush=True)
            for server in order:
                server.runs.setdefault(phase, []).append(
                    drive(
                        server,
                        templates,
                        conc,
                        params.round_warmup_s,
                        seconds,
                        f"{run_id}-{phase[0]}{rnd}-{server.name}-",
                    )
                )


def run(
    quick: bool = False,
    before: str = BEFORE_DEFAULT,
    names: tuple[str, str] = NAMES,
    benchmark: str = "grpc_batch_signing",
) -> dict[str, Any]:
    """Run the before/after comparison; returns the result document."""
    params = Params.make(quick, profile=False)
    run_id = time.strftime("%Y%m%dT%H%M%S")
    tmp = Path(tempfile.mkdtemp(prefix="pricing-signing-"))
    tree = _worktree(before, tmp / "before")
    servers = [
        Server(n, "quote", "sync", True, free_port(), tmp / f"{n}.log", audit_dir=tmp / n)
        for n in names
    ]
    try:
        templates = _templates(tmp, params.mix_size)
        start_quote_server(servers[0], extra_env={"PYTHONPATH": f"{tree}:{ROOT}"})
        start_quote_server(servers[1])
        for server in servers:
            wait_ready(server)
        raw = pickle.loads(templates.read_bytes())
        checks = {s.name: preflight(s, raw, run_id) for s in servers}
        _rounds(servers, templates, params, run_id)
        codes = [stop(s) for s in servers]
    finally:
        for server in servers:
            stop(server)
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
        )
    results: dict[str, dict[str, Any]] = {
        s.name: {
            "throughput": _merge(s.runs["throughput"]),
            "latency": _merge(s.runs["latency"]),
            "audit": _audit_facts(s.audit_dir) if s.audit_dir else {},
            "preflight": checks[s.name],
            "exit_code": code,
        }
        for s, code in zip(servers, codes, strict=True)
    }
    old, new = (results[n] for n in names)
    return {
        "benchmark": benchmark,
        "timestamp": now_iso(),
        "machine": machine_info(),
        "before_rev": subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", before],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
        "params": {"quick": quick, "rounds": params.rounds, "mix_size": params.mix_size},
        "servers": results,
        "ratios_after_over_before": {
            "throughput_rps": ratio(
                new["throughput"]["throughput_rps"], old["throughput"]["throughput_rps"]
            ),
            "server_cpu_us_per_call": ratio(
                new["throughput"].get("server_cpu_us_per_call"),
                old["throughput"].get("server_cpu_us_per_call"),
            ),
            "latency_p50_ms": ratio(
                new["latency"]["latency_ms"]["p50"], old["latency"]["latency_ms"]["p50"]
            ),
            "latency_p99_ms": ratio(
                new["latency"]["latency_ms"]["p99"], old["latency"]["latency_ms"]["p99"]
            ),
        },
    }


def main() -> None:
    """CLI: run and write bench/results/grpc_batch_signing.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--before", default=BEFORE_DEFAULT, metavar="REV")
    parser.add_argument("--name", default="grpc_batch_signing", help="result file name")
    args = parser.parse_args()
    names = NAMES if args.name == "grpc_batch_signing" else ("before", "after")
    doc = run(quick=args.quick, before=args.before, names=names, benchmark=args.name)
    path = write_result(args.name, doc)
    print(json.dumps(doc["ratios_after_over_before"], indent=2))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
