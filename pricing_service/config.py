"""Service configuration: one frozen dataclass, loaded once from a TOML file and env."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "PRICING_"
DEFAULT_SIMULATE_MAX_LOANS = 10_000


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Every setting of the server; env PRICING_<NAME> overrides the file's `name`."""

    listen: str = "127.0.0.1:50051"
    """host:port to serve on; loopback by default, 0.0.0.0:50051 in the container."""
    policy_paths: tuple[Path, ...] = ()
    """Policy files or directories of *.toml; empty means the shipped default policy."""
    audit_dir: Path = Path("var/audit")
    """Directory of the audit log (segments, checkpoints, policy archive, keys)."""
    audit_fsync: bool = True
    """fdatasync each group-commit batch before replying. False is UNSAFE: an OS crash
    can lose acknowledged quotes."""
    audit_origin: str = "ecoloan.example/pricing-audit/replica-1"
    """The log's origin line in checkpoints: unique per replica."""
    audit_signer_key: Path | None = None
    """Ed25519 signer key (note format); unset: <audit_dir>-keys/audit.skey, generated on
    first start. Never inside audit_dir, and refused if group or others may read it."""
    audit_segment_max_bytes: int = 64 * 1024 * 1024
    """Rotate a segment once it reaches this size."""
    audit_checkpoint_interval_ms: int = 1000
    """Sign a checkpoint at most this often (0: after every batch). Records are durable
    either way; GetQuoteProof forces a checkpoint when the latest does not cover the quote."""
    audit_denials_per_second: float = 10.0
    """Denied CreateQuotes (PERMISSION_DENIED) recorded in the audit log per caller identity
    and second, a token bucket of audit_denials_burst: a caller hammering denied calls
    cannot grow the log without limit; the excess is counted, not recorded."""
    audit_denials_burst: int = 10
    """The bucket size of audit_denials_per_second."""
    audit_dsn: str = ""
    """A PostgreSQL URI (postgresql://...): the audit log lives there, one log shared by
    every replica, instead of in audit_dir. Needs audit_signer_key (one key for all)."""
    replica_id: str = ""
    """The name every audit record gives the replica that wrote it (record version 3).
    With audit_dsn, unset means "<hostname>/<pid>"; with the file log, unset writes
    version 2 records (the log's origin names its one replica)."""
    audit_migrate_at_start: bool = False
    """With audit_dsn: apply the schema migrations at start (else `pricing-service migrate`)."""
    audit_enabled: bool = True
    """False only for benchmarks: quotes are then NOT logged (never in production)."""
    server_mode: str = "sync"
    """"sync" (thread pool) or "aio" (grpc.aio); measured in bench/, sync is the default."""
    max_workers: int = 32
    """Threads of the sync server's pool."""
    so_reuseport: bool = False
    """Let several processes share the port (grpcio's default is on; ours is off)."""
    grace_seconds: float = 10.0
    """How long in-flight RPCs may finish after SIGTERM/SIGINT."""
    shutdown_notice_seconds: float = 1.0
    """After SIGTERM, keep serving with health NOT_SERVING this long so load balancers
    see it and stop routing here, then drain."""
    tls_cert: Path | None = None
    """PEM server certificate chain; with tls_key, serve TLS."""
    tls_key: Path | None = None
    """PEM server private key."""
    tls_client_ca: Path | None = None
    """PEM CA bundle; when set, clients must present a certificate (mTLS)."""
    log_format: str = "auto"
    """"json", "console" or "auto" (JSON unless stderr is a terminal)."""
    log_level: str = "info"
    """debug, info, warning or error."""
    simulate_max_loans: int = DEFAULT_SIMULATE_MAX_LOANS
    """Most loans one SimulateQuotes call may price; more is INVALID_ARGUMENT. 10,000
    loans take 0.5-2 MB, within gRPC's default 4 MiB request limit, and 1-2 s to price."""
    simulation_workers: int = 1
    """Processes that price SimulateQuotes batches (spawned on the first one), so a batch
    never holds the binding path's interpreter; 0 prices them in the server's process."""
    max_binding_in_flight: int = 64
    """CreateQuote calls running at once; more are RESOURCE_EXHAUSTED + RetryInfo (0: no limit)."""
    max_simulations_in_flight: int = 2
    """SimulateQuotes calls running at once (each prices for seconds); their own allowance,
    so simulations never take the binding calls' (0: no limit)."""
    max_reads_in_flight: int = 64
    """GetQuote, GetQuoteProof, ListProducts, DescribePolicy calls running at once."""
    caller_rate_per_second: float = 0.0
    """Calls a second one caller may make (a token bucket of caller_burst); 0: no limit."""
    caller_burst: int = 50
    """The bucket size of caller_rate_per_second."""
    max_receive_message_bytes: int = 4 * 1024 * 1024
    """Largest request accepted (gRPC's default 4 MiB: a 10,000-loan simulation is 0.5-2 MB)."""
    max_send_message_bytes: int = 32 * 1024 * 1024
    """Largest reply sent (a 10,000-loan simulation reply is about 12 MB)."""
    idempotency_window: int = 20_000
    """Request ids kept in memory; older ones are found in the log's request-id index on
    disk (requestids.sqlite in audit_dir), so the window bounds memory, not idempotency."""
    metrics_listen: str = ""
    """host:port for Prometheus /metrics (e.g. 127.0.0.1:9464); empty: not served."""
    reflection: bool = True
    """Serve gRPC server reflection (grpcurl, Postman); off to expose only the API."""
    access: Mapping[str, Any] | None = None
    """The config file's [access] table (permissions, tokens, header_identity); None: the
    development table on a loopback address, every call denied on any other."""


def _coerce(name: str, kind: Any, value: Any) -> Any:
    text = str(kind)
    if "tuple[Path" in text:
        if isinstance(value, str):
            value = [v for v in value.split(os.pathsep) if v]
        return tuple(Path(v) for v in value)
    if "Path" in text:
        return Path(value) if value not in (None, "") else None
    if text in ("bool", "<class 'bool'>"):
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name}: not a boolean: {value!r}")
    if text in ("int", "<class 'int'>"):
        return int(value)
    if text in ("float", "<class 'float'>"):
        return float(value)
    return str(value)


def load_config(
    path: Path | None = None, env: Mapping[str, str] | None = None, **overrides: Any
) -> ServiceConfig:
    """Defaults, then the TOML file (`[service]` table or top level), then env, then overrides."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    file_path = path or (
        Path(env[ENV_PREFIX + "CONFIG"]) if env.get(ENV_PREFIX + "CONFIG") else None
    )
    fields = {f.name: f for f in dataclasses.fields(ServiceConfig)}
    if file_path is not None:
        doc = tomllib.loads(file_path.read_text())
        table = {k: v for k, v in doc.get("service", doc).items() if k != "access"}
        if "access" in doc:
            values["access"] = doc["access"]
        unknown = sorted(set(table) - set(fields) - {"access"})
        if unknown:
            raise ValueError(f"{file_path}: unknown settings {', '.join(unknown)}")
        for name, value in table.items():
            values[name] = _coerce(name, fields[name].type, value)
    for name, f in fields.items():
        if name == "access":
            continue  # a table: from the config file only
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, f.type, raw)
    for name, value in overrides.items():
        if value is not None:
            values[name] = value if name == "access" else _coerce(name, fields[name].type, value)
    config = ServiceConfig(**values)
    if config.server_mode not in ("sync", "aio"):
        raise ValueError(f"server_mode must be 'sync' or 'aio', got {config.server_mode!r}")
    if config.idempotency_window < 1:
        raise ValueError(f"idempotency_window must be >= 1, got {config.idempotency_window}")
    if config.simulation_workers < 0:
        raise ValueError(f"simulation_workers must be >= 0, got {config.simulation_workers}")
    if config.audit_denials_per_second <= 0 or config.audit_denials_burst < 1:
        raise ValueError(
            "audit_denials_per_second must be > 0 and audit_denials_burst >= 1 (denials are "
            "audit records; the bound keeps a flood of them from filling the log)"
        )
    if config.simulate_max_loans < 1:
        raise ValueError(f"simulate_max_loans must be >= 1, got {config.simulate_max_loans}")
    return config
