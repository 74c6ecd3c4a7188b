"""PostgreSQL for the tests: deploy/local/postgres.py's instance, skipped with its reason
where PostgreSQL cannot run here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from live_support import FIXED_NOW

from deploy.local.postgres import PgServer, PostgresUnavailableError
from pricing_service.bootstrap import SyncServer, build_components, start_sync_server
from pricing_service.config import load_config


def start_postgres() -> PgServer:
    """A fresh PostgreSQL on a free loopback port, or skip the test saying why not."""
    try:
        return PgServer()
    except PostgresUnavailableError as exc:
        pytest.skip(str(exc))


@contextmanager
def replicas_on(
    pg: PgServer, origin: str, key_file: Path, logs: Path, **settings: Any
) -> Iterator[list[SyncServer]]:
    """Two real sync servers sharing `pg`'s audit log, fixed clock, their lines in
    `logs`/servers.log, each naming itself replica-a / replica-b in its records;
    `settings` are more config for both."""
    previous = structlog.get_config()
    running: list[SyncServer] = []
    with (logs / "servers.log").open("w") as log_file:
        structlog.configure(logger_factory=structlog.WriteLoggerFactory(file=log_file))
        try:
            for name in ("a", "b"):
                overrides: dict[str, Any] = {
                    "listen": "127.0.0.1:0",
                    "audit_dir": str(logs / name),  # unused with audit_dsn
                    "audit_dsn": pg.dsn,
                    "audit_origin": origin,
                    "audit_signer_key": str(key_file),
                    "grace_seconds": 1,
                    "replica_id": f"replica-{name}",
                    **settings,
                }
                config = load_config(env={}, **overrides)
                running.append(start_sync_server(build_components(config, clock=lambda: FIXED_NOW)))
            yield running
        finally:
            for server in running:
                server.stop(grace=1)
            structlog.configure(**previous)
