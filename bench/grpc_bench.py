"""Benchmark 2: CreateQuote over gRPC against a bare echo server, sync and aio, audit on/off.

Six servers run side by side, each pinned to core 0 (`taskset -c 0`):

    echo_sync, echo_aio                  bench/echo_server.py, same grpcio settings
    quote_sync_audit, quote_aio_audit    `pricing-service serve --mode sync|aio`
    quote_sync_noaudit, quote_aio_noaudit   the same with PRICING_AUDIT_ENABLED=false

and one load client process at a time (bench/load_client.py) drives one of them from
core 1, over loopback, sending the same real CreateQuote request bytes to every server.
Phases: a warm-up per server; throughput rounds at 16 calls in flight; latency rounds
at 4 in flight. Rounds are interleaved (each round visits every server, in an order
that alternates), so drift in background load hits all servers alike. Figures are
totals over the rounds; the ratios compare servers measured in the same run.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from bench import profiling, workload
from bench.common import ROOT, free_port, machine_info, now_iso, ratio
from bench.echo_server import PATH as ECHO_PATH
from bench.load_client import histogram_percentiles

QUOTE_PATH = "/ecoloan.pricing.v1.PricingService/CreateQuote"
SERVER_CORE = 0
CLIENT_CORE = 1
RATIO_TARGET = 0.8
AUDIT_RATIO_TARGET = 0.9
P99_TARGET_MS = 5.0
PREFLIGHT_CALLS = 48


@dataclass
class Params:
    """Durations and sizes of one run."""

    quick: bool
    warmup_s: float
    rounds: int
    throughput_s: float
    latency_s: float
    round_warmup_s: float
    concurrency: int = 16
    latency_concurrency: int = 4
    mix_size: int = 20_000
    profile_s: float = 0.0

    @classmethod
    def make(cls, quick: bool, profile: bool) -> Params:
        """The full or the --quick setting."""
        if quick:
            return cls(
                quick, 1.0, 1, 3.0, 2.0, 0.5, mix_size=8_000, profile_s=4.0 if profile else 0
            )
        return cls(quick, 3.0, 3, 3.5, 2.0, 0.5, profile_s=8.0 if profile else 0)


@dataclass
class Server:
    """One server process under test."""

    name: str
    kind: str  # "echo" or "quote"
    mode: str  # "sync" or "aio"
    audit: bool | None
    port: int
    log_path: Path
    audit_dir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    offset: int = 0  # next request template, so no server sees the same loan twice
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def target(self) -> str:
        """host:port."""
        return f"127.0.0.1:{self.port}"

    @property
    def method(self) -> str:
        """The RPC the client calls."""
        return ECHO_PATH if self.kind == "echo" else QUOTE_PATH


def _taskset(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") else []


def _pricing_service_bin() -> str:
    beside = Path(sys.executable).parent / "pricing-service"
    if beside.exists():
        return str(beside)
    found = shutil.which("pricing-service")
    if not found:
        raise RuntimeError("pricing-service is not installed (run `make install`)")
    return found


def _env(audit: bool | None) -> dict[str, str]:
    env = dict(os.environ)
    if audit is not None:
        env["PRICING_AUDIT_ENABLED"] = "true" if audit else "false"
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    return env


def start_quote_server(
    server: Server, *, pin: bool = True, extra_env: dict[str, str] | None = None
) -> None:
    """`pricing-service serve` on `server.port`, pinned to the server core unless not `pin`."""
    assert server.audit_dir is not None
    server.audit_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        *(_taskset(SERVER_CORE) if pin else []),
        _pricing_service_bin(),
        "serve",
        "--listen",
        server.target,
        "--audit-dir",
        str(server.audit_dir),
        "--mode",
        server.mode,
    ]
    with server.log_path.open("wb") as log:
        server.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**_env(server.audit), **(extra_env or {})},
            cwd=ROOT,
        )
    if pin:
        _pin_fallback(server)


def start_echo_server(server: Server, response_size: int) -> None:
    """bench/echo_server.py on `server.port`, pinned to the server core."""
    cmd = [
        *_taskset(SERVER_CORE),
        sys.executable,
        "-m",
        "bench.echo_server",
        "--listen",
        server.target,
        "--mode",
        server.mode,
        "--response-size",
        str(response_size),
    ]
    with server.log_path.open("wb") as log:
        server.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(None), cwd=ROOT
        )
    _pin_fallback(server)


def _pin_fallback(server: Server) -> None:
    # Without taskset, pin right after exec: the interpreter has one thread yet.
    if not shutil.which("taskset") and server.proc is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(server.proc.pid, {SERVER_CORE})


def wait_ready(server: Server, timeout: float = 60.0) -> None:
    """Block until the server answers its RPC (health SERVING for the quote server)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        assert server.proc is not None
        if server.proc.poll() is not None:
            tail = server.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}: {tail}")
        try:
            with grpc.insecure_channel(server.target) as channel:
                grpc.channel_ready_future(channel).result(timeout=2)
                if server.kind == "quote":
                    status = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service=""), timeout=2
                    )
                    if status.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                else:
                    channel.unary_unary(
                        ECHO_PATH, request_serializer=None, response_deserializer=None
                    )(b"ping", timeout=2)
                    return
        except (grpc.RpcError, grpc.FutureTimeoutError) as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {timeout}s: {last}")


def preflight(server: Server, templates: list[bytes], run_id: str) -> dict[str, Any]:
    """Send real requests, parse the replies, check they are distinct binding quotes."""
    from ecoloan.pricing.v1 import pricing_service_pb2 as pb  # noqa: PLC0415

    sizes: list[int] = []
    ids: set[str] = set()
    with grpc.insecure_channel(server.target) as channel:
        call = channel.unary_unary(QUOTE_PATH, request_serializer=None, response_deserializer=None)
        for i in range(PREFLIGHT_CALLS):
            rid = f"{run_id}-pre-{server.name}-{i}".encode()
            raw = call(b"\x0a" + bytes((len(rid),)) + rid + templates[i], timeout=30)
            reply = pb.CreateQuoteResponse.FromString(raw)
            if not reply.quote.quote_id or not reply.quote.annual_rate:
                raise RuntimeError(f"{server.name}: reply without a quote: {reply}")
            ids.add(reply.quote.quote_id)
            sizes.append(len(raw))
    server.offset = PREFLIGHT_CALLS
    if len(ids) != len(sizes):
        raise RuntimeError(f"{server.name}: {len(sizes) - len(ids)} duplicate quote ids")
    return {
        "replies": len(sizes),
        "distinct_quote_ids": len(ids),
        "response_bytes_median": int(statistics.median(sizes)),
        "response_bytes_min": min(sizes),
        "response_bytes_max": max(sizes),
    }


def drive(
    server: Server,
    templates_path: Path,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    id_prefix: str,
) -> dict[str, Any]:
    """One load-client run against `server` from the client core."""
    assert server.proc is not None
    spec = {
        "target": server.target,
        "method": server.method,
        "templates": str(templates_path),
        "concurrency": concurrency,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "id_prefix": id_prefix,
        "template_offset": server.offset,
        "server_pid": server.proc.pid,
    }
    cmd = [*_taskset(CLIENT_CORE), sys.executable, "-m", "bench.load_client", json.dumps(spec)]
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(None),
        timeout=warmup_s + duration_s + 120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load client failed against {server.name}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    server.offset += int(result["calls_total"]) + concurrency
    return result


def _merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over rounds: throughput = all completed calls / all measured seconds."""
    completed = sum(r["completed"] for r in runs)
    window = sum(r["window_s"] for r in runs)
    hist: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    for r in runs:
        hist.update({int(b): c for b, c in r["latency_histogram"].items()})
        codes.update(r["codes"])
    merged: dict[str, Any] = {
        "throughput_rps": round(completed / window, 1) if window else None,
        "rounds_rps": [r["throughput_rps"] for r in runs],
        "completed": completed,
        "measured_s": round(window, 2),
        "codes": dict(codes),
        "latency_ms": histogram_percentiles(hist, (50, 90, 99, 99.9)),
        "client_cpu_util": round(statistics.mean(r["client_cpu_util"] for r in runs), 3),
    }
    for key in ("server_cpu_util", "server_user_util", "server_sys_util"):
        if all(key in r for r in runs):
            merged[key] = round(statistics.mean(r[key] for r in runs), 3)
    if all("server_cpu_us_per_call" in r for r in runs):
        cpu_s = sum(r["server_cpu_us_per_call"] * r["completed"] for r in runs) / 1e6
        merged["server_cpu_us_per_call"] = round(cpu_s / completed * 1e6, 1) if completed else None
    merged["client_bound_suspect"] = (
        merged["client_cpu_util"] > 0.9 and merged.get("server_cpu_util", 1.0) < 0.9
    )
    return merged


def _rss_mb(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
    return out


def stop(server: Server, timeout: float = 20.0) -> int | None:
    """SIGTERM, wait for the drain, SIGKILL if it hangs; returns the exit code."""
    proc = server.proc
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def sink_probe(tmp: Path) -> dict[str, Any]:
    """Which audit sink `pricing-service serve` builds with audit on (asked in a fresh process)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.grpc_bench", "probe", str(tmp)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(None),
        timeout=120,
        check=False,
    )
    try:
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"probe failed: {done.stderr[-1000:]}"}
    return result


def _probe_here(tmp: Path) -> dict[str, Any]:
    import logging  # noqa: PLC0415

    import structlog  # noqa: PLC0415

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    try:
        from pricing_service.config import load_config  # noqa: PLC0415
        from pricing_service.quoting.service_log import open_service_log  # noqa: PLC0415

        config = load_config(env={}, audit_dir=tmp / "probe")
        opened = open_service_log(config)
        sink = opened.sink
        info = {
            "sink_class": f"{type(sink).__module__}.{type(sink).__qualname__}",
            "public_methods": sorted(
                n for n in dir(sink) if not n.startswith("_") and callable(getattr(sink, n))
            ),
            "writer_module_present": (ROOT / "pricing_service/audit/writer.py").exists(),
        }
        stats = next(
            (getattr(sink, n) for n in ("stats", "statistics", "metrics") if hasattr(sink, n)), None
        )
        if callable(stats):
            with contextlib.suppress(Exception):
                info["stats_shape"] = repr(stats())[:300]
        sink.close()
        return info
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def audit_dir_facts(audit_dir: Path, log_path: Path) -> dict[str, Any]:
    """What the audit-on server left on disk, and any batch/fsync stats it logged."""
    segments = sorted((audit_dir / "segments").glob("*.jsonl"))
    checkpoints = sorted((audit_dir / "checkpoints").glob("*.note"))
    records = 0
    for seg in segments:
        with seg.open("rb") as f:
            records += sum(1 for _ in f)
    total_bytes = sum(p.stat().st_size for p in audit_dir.rglob("*") if p.is_file())
    facts: dict[str, Any] = {
        "files": len([p for p in audit_dir.rglob("*") if p.is_file()]),
        "bytes": total_bytes,
        "segments": len(segments),
        "records": records,
        "checkpoints": len(checkpoints),
        "records_per_checkpoint": round(records / len(checkpoints), 2) if checkpoints else None,
    }
    stats_lines: list[dict[str, Any]] = []
    with log_path.open(errors="replace") as log:
        for line in log:
            if "batch" not in line:
                continue
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                if any("batch" in k for k in doc):
                    stats_lines.append(doc)
    if stats_lines:
        facts["logged_stats_last"] = stats_lines[-1]
        facts["logged_stats_lines"] = len(stats_lines)
    return facts


def _profile(
    py_spy: str, server: Server, templates_path: Path, params: Params, tmp: Path, run_id: str
) -> dict[str, Any]:
    """A separate client run at full concurrency with py-spy sampling the server."""
    import threading  # noqa: PLC0415

    assert server.proc is not None
    out = tmp / f"profile-{server.name}.txt"
    rate = 200
    holder: dict[str, Any] = {}

    def load() -> None:
        holder["run"] = drive(
            server,
            templates_path,
            params.concurrency,
            1.0,
            params.profile_s + 2.0,
            f"{run_id}-prof-{server.name}-",
        )

    perf = profiling.find_perf()
    perf_data = tmp / f"perf-{server.name}.data"
    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(2.0)  # client start-up and its 1 s warm-up
    perf_proc = (
        profiling.perf_start(perf, server.proc.pid, params.profile_s, perf_data, CLIENT_CORE)
        if perf
        else None
    )
    status = profiling.record(py_spy, server.proc.pid, params.profile_s, rate, out, CLIENT_CORE)
    if perf_proc is not None:
        perf_proc.wait(timeout=params.profile_s + 60)
    thread.join()
    run = holder["run"]
    server.runs.setdefault("profile", []).append(run)
    calls = round(run["throughput_rps"] * params.profile_s)
    summary = profiling.summarise(out, rate, params.profile_s, calls) if out.exists() else {}
    summary["py_spy"] = status
    summary["throughput_rps_while_sampling"] = run["throughput_rps"]
    cpu_per_call = run.get("server_cpu_us_per_call")
    summary["server_cpu_us_per_call"] = cpu_per_call
    if perf and perf_data.exists() and cpu_per_call:
        split = profiling.perf_split(perf, perf_data)
        summary["perf_dso_share"] = split
        summary["perf_dso_us_per_call"] = {k: round(v * cpu_per_call, 1) for k, v in split.items()}
        # py-spy --gil drops samples taken while the GIL changes hands, so its own µs
        # undercount; spread the CPU perf attributes to the Python side (all but the
        # kernel and grpc's C core) over py-spy's buckets instead.
        python_side = cpu_per_call * (1 - split.get("kernel", 0) - split.get("grpc_core", 0))
        summary["python_side_us_per_call"] = round(python_side, 1)
        summary["estimated_us_per_call"] = {
            name: round(cat["share"] * python_side, 1)
            for name, cat in summary.get("categories", {}).items()
        }
    return summary


def run(quick: bool = False, profile: bool = False) -> dict[str, Any]:
    """Run the gRPC benchmark; returns the result document."""
    params = Params.make(quick, profile)
    run_id = time.strftime("%Y%m%dT%H%M%S")
    tmp = Path(tempfile.mkdtemp(prefix="pricing-bench-"))
    servers: list[Server] = []
    notes: list[str] = []
    try:
        mix = workload.build(params.mix_size)
        templates: list[bytes] = []
        for req in mix.requests:
            copy = type(req)()
            copy.CopyFrom(req)
            copy.ClearField("request_id")
            templates.append(copy.SerializeToString())
        templates_path = tmp / "templates.pkl"
        templates_path.write_bytes(pickle.dumps(templates))
        probe_start = sink_probe(tmp / "probe-start")

        for mode in ("sync", "aio"):
            for audit in (True, False):
                name = f"quote_{mode}_{'audit' if audit else 'noaudit'}"
                servers.append(
                    Server(
                        name,
                        "quote",
                        mode,
                        audit,
                        free_port(),
                        tmp / f"{name}.log",
                        audit_dir=tmp / f"audit-{name}",
                    )
                )
        for server in servers:
            start_quote_server(server)
        for server in servers:
            wait_ready(server)
        checks = {s.name: preflight(s, templates, run_id) for s in servers}
        response_size = int(statistics.median(c["response_bytes_median"] for c in checks.values()))
        echoes = [
            Server(f"echo_{mode}", "echo", mode, None, free_port(), tmp / f"echo_{mode}.log")
            for mode in ("sync", "aio")
        ]
        for server in echoes:
            start_echo_server(server, response_size)
        for server in echoes:
            wait_ready(server)
        servers = [*echoes, *servers]
        by_name = {s.name: s for s in servers}

        print(f"  grpc: {len(servers)} servers up; warming up", file=sys.stderr, flush=True)
        for server in servers:
            server.runs["warmup"] = [
                drive(
                    server,
                    templates_path,
                    params.concurrency,
                    0.5,
                    params.warmup_s,
                    f"{run_id}-w-{server.name}-",
                )
            ]
        for phase, conc, seconds in (
            ("throughput", params.concurrency, params.throughput_s),
            ("latency", params.latency_concurrency, params.latency_s),
        ):
            for rnd in range(params.rounds):
                order = servers if rnd % 2 == 0 else list(reversed(servers))
                print(
                    f"  grpc: {phase} round {rnd + 1}/{params.rounds}", file=sys.stderr, flush=True
                )
                for server in order:
                    server.runs.setdefault(phase, []).append(
                        drive(
                            server,
                            templates_path,
                            conc,
                            params.round_warmup_s,
                            seconds,
                            f"{run_id}-{phase[0]}{rnd}-{server.name}-",
                        )
                    )

        profiles: dict[str, Any] = {}
        if profile:
            py_spy = profiling.find_py_spy()
            if py_spy is None:
                notes.append("--profile: py-spy not found (pip install py-spy into .venv)")
            else:
                for server in servers:
                    print(f"  grpc: profiling {server.name}", file=sys.stderr, flush=True)
                    profiles[server.name] = _profile(
                        py_spy, server, templates_path, params, tmp, run_id
                    )

        memory = {s.name: _rss_mb(s.proc.pid) for s in servers if s.proc is not None}
        exit_codes = {s.name: stop(s) for s in servers}
        audit_facts: dict[str, Any] = {}
        for server in servers:
            if server.audit and server.audit_dir is not None:
                facts = audit_dir_facts(server.audit_dir, server.log_path)
                # Every OK reply is a binding quote the log must hold (48 from the preflight).
                acknowledged = PREFLIGHT_CALLS + sum(
                    r["codes"].get("OK", 0) for runs in server.runs.values() for r in runs
                )
                facts["acknowledged_quotes"] = acknowledged
                facts["records_match_acknowledged"] = facts["records"] == acknowledged
                audit_facts[server.name] = facts
        probe = sink_probe(tmp / "probe-end")
        if probe.get("sink_class") != probe_start.get("sink_class"):
            notes.append(
                f"the audit sink changed during the run ({probe_start.get('sink_class')} at the "
                f"start, {probe.get('sink_class')} at the end): the servers ran the first"
            )
            probe = {**probe_start, "at_end": probe}

        results: dict[str, Any] = {}
        for server in servers:
            results[server.name] = {
                "kind": server.kind,
                "mode": server.mode,
                "audit": server.audit,
                "throughput": _merge(server.runs["throughput"]),
                "latency_at_concurrency_4": _merge(server.runs["latency"]),
                "warmup_rps": server.runs["warmup"][0]["throughput_rps"],
                "memory_mb_at_end": memory.get(server.name),
                "exit_code": exit_codes.get(server.name),
                "raw_runs": server.runs,
            }

        def tput(name: str) -> float | None:
            value = results[name]["throughput"]["throughput_rps"]
            return float(value) if value is not None else None

        def by_round(a: str, b: str) -> float | None:
            pairs = zip(by_name[a].runs["throughput"], by_name[b].runs["throughput"], strict=True)
            values = [
                x["throughput_rps"] / y["throughput_rps"] for x, y in pairs if y["throughput_rps"]
            ]
            return round(statistics.median(values), 3) if values else None

        pairs = {
            "quote_sync_audit_vs_echo_sync": ("quote_sync_audit", "echo_sync"),
            "quote_aio_audit_vs_echo_aio": ("quote_aio_audit", "echo_aio"),
            "quote_sync_noaudit_vs_echo_sync": ("quote_sync_noaudit", "echo_sync"),
            "quote_aio_noaudit_vs_echo_aio": ("quote_aio_noaudit", "echo_aio"),
            "audit_on_vs_off_sync": ("quote_sync_audit", "quote_sync_noaudit"),
            "audit_on_vs_off_aio": ("quote_aio_audit", "quote_aio_noaudit"),
            "echo_sync_vs_echo_aio": ("echo_sync", "echo_aio"),
            "quote_sync_audit_vs_quote_aio_audit": ("quote_sync_audit", "quote_aio_audit"),
        }
        ratios_by_round = {k: by_round(a, b) for k, (a, b) in pairs.items()}
        ratios = {
            "quote_sync_audit_vs_echo_sync": ratio(tput("quote_sync_audit"), tput("echo_sync")),
            "quote_aio_audit_vs_echo_aio": ratio(tput("quote_aio_audit"), tput("echo_aio")),
            "quote_sync_noaudit_vs_echo_sync": ratio(tput("quote_sync_noaudit"), tput("echo_sync")),
            "quote_aio_noaudit_vs_echo_aio": ratio(tput("quote_aio_noaudit"), tput("echo_aio")),
            "best_quote_audit_vs_best_echo": ratio(
                max(tput("quote_sync_audit") or 0, tput("quote_aio_audit") or 0),
                max(tput("echo_sync") or 0, tput("echo_aio") or 0),
            ),
            "audit_on_vs_off_sync": ratio(tput("quote_sync_audit"), tput("quote_sync_noaudit")),
            "audit_on_vs_off_aio": ratio(tput("quote_aio_audit"), tput("quote_aio_noaudit")),
            "echo_sync_vs_echo_aio": ratio(tput("echo_sync"), tput("echo_aio")),
            "quote_sync_audit_vs_quote_aio_audit": ratio(
                tput("quote_sync_audit"), tput("quote_aio_audit")
            ),
        }
        faster_echo = "sync" if (tput("echo_sync") or 0) >= (tput("echo_aio") or 0) else "aio"
        faster_quote = (
            "sync" if (tput("quote_sync_audit") or 0) >= (tput("quote_aio_audit") or 0) else "aio"
        )
        for name, res in results.items():
            for part in ("throughput", "latency_at_concurrency_4"):
                codes = res[part]["codes"]
                bad = {k: v for k, v in codes.items() if k != "OK"}
                if bad:
                    notes.append(f"{name} {part}: non-OK replies {bad}")
                if res[part].get("client_bound_suspect"):
                    notes.append(f"{name} {part}: the client core was busier than the server's")
        for name, facts in audit_facts.items():
            if facts["records"] and not facts["records_match_acknowledged"]:
                notes.append(
                    f"{name}: {facts['records']} records on disk but "
                    f"{facts['acknowledged_quotes']} quotes acknowledged"
                )
        if not any(f.get("records") for f in audit_facts.values()):
            notes.append(
                f"the audit-on servers wrote no segment records (sink {probe.get('sink_class')}): "
                "the 'audit on' figures are NOT of a durable group-commit log"
            )
        p99 = {
            n: r["latency_at_concurrency_4"]["latency_ms"].get("p99") for n, r in results.items()
        }
        return {
            "benchmark": "grpc",
            "timestamp": now_iso(),
            "quick": quick,
            "machine": machine_info(),
            "parameters": {
                "server_core": SERVER_CORE,
                "client_core": CLIENT_CORE,
                "concurrency": params.concurrency,
                "latency_concurrency": params.latency_concurrency,
                "warmup_s_per_server": params.warmup_s,
                "rounds": params.rounds,
                "throughput_s_per_round": params.throughput_s,
                "latency_s_per_round": params.latency_s,
                "client_warmup_s_per_round": params.round_warmup_s,
                "echo_response_bytes": response_size,
                "request_bytes_mean": round(
                    statistics.mean(len(t) for t in templates)
                    + len(f"{run_id}-t0-quote_sync_noaudit-10000")
                    + 2,
                    1,
                ),
                "mix": mix.describe(),
                "client": "bench/load_client.py: grpc.aio, one channel, identity serializers",
                "transport": "insecure, loopback",
                "server_options": "ServiceConfig: grpc.so_reuseport=0; sync pool = max_workers",
            },
            "preflight": checks,
            "results": results,
            "ratios": ratios,
            "ratios_median_of_rounds": ratios_by_round,
            "faster": {"echo": faster_echo, "quote_with_audit": faster_quote},
            "p99_ms_at_concurrency_4": p99,
            "targets": {
                "quote_vs_echo": RATIO_TARGET,
                "audit_on_vs_off": AUDIT_RATIO_TARGET,
                "p99_ms": P99_TARGET_MS,
            },
            "audit": {"sink": probe, "on_disk": audit_facts},
            "profile": profiles,
            "notes": notes,
        }
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                stop(server, timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "probe":
        print(json.dumps(_probe_here(Path(sys.argv[2]))))
