"""Versioned schema migrations of the PostgreSQL audit store.

The migrations are the numbered ``migrations/NNNN_name.sql`` files beside this module,
applied in order, each in its own transaction, and recorded in ``schema_migrations``.
Concurrent migrators (replicas starting together) serialize on an advisory lock, so each
file is applied once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

import psycopg

__all__ = ["Migration", "applied", "migrate", "migrations"]

_NAME_RE: Final = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
# pg_advisory_xact_lock key: "ecoloan" in ASCII, so it cannot collide by accident.
_LOCK_KEY: Final = 0x65636F6C6F616E


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration shipped with the service, in version order."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        m = _NAME_RE.fullmatch(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), entry.name, entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def applied(conn: psycopg.Connection) -> list[int]:
    """The versions applied to the database of `conn` (none on an empty database)."""
    with conn.transaction():
        row = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
        if row is None or row[0] is None:
            return []
        return [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply every migration not yet applied; return the names applied now."""
    done: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        have = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
        for migration in migrations():
            if migration.version in have:
                continue
            conn.execute(migration.sql.encode("utf-8"))
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            done.append(migration.name)
    return done
