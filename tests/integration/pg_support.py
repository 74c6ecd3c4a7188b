"""PostgreSQL for the tests: deploy/local/postgres.py's instance, skipped with its reason
where PostgreSQL cannot run here."""

from __future__ import annotations

import pytest

from deploy.local.postgres import PgServer, PostgresUnavailableError


def start_postgres() -> PgServer:
    """A fresh PostgreSQL on a free loopback port, or skip the test saying why not."""
    try:
        return PgServer()
    except PostgresUnavailableError as exc:
        pytest.skip(str(exc))
