"""A real PostgreSQL for tests: Debian's binaries, a temporary data directory, loopback only.

`PgServer` runs `initdb` and `pg_ctl` (as the `postgres` user when the tests run as root,
since PostgreSQL refuses to run as root), listens on 127.0.0.1 on a free port with no
Unix socket, trusts loopback connections (the instance holds nothing else and lives
as long as the test), and stops and removes everything it made.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def pg_bin(name: str) -> Path | None:
    """A PostgreSQL server binary: on PATH, else Debian's newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return Path(found)
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]),
    )
    return Path(candidates[-1]) if candidates else None


def skip_without_postgres() -> None:
    """Skip the calling test, saying why, where PostgreSQL's server binaries are absent."""
    if pg_bin("initdb") is None or pg_bin("pg_ctl") is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not installed: apt-get install postgresql"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One PostgreSQL instance in a temporary directory."""

    def __init__(self) -> None:
        skip_without_postgres()
        self.root = Path(tempfile.mkdtemp(prefix="pricing-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root with no postgres user to run PostgreSQL as")
            os.chmod(self.root, 0o755)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            str(pg_bin("initdb")), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-instructions",
        )  # fmt: skip
        self.start()

    @property
    def dsn(self) -> str:
        """A libpq URI of the instance's `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str) -> None:
        done = subprocess.run(
            [*self._as, *cmd], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = self.logfile.read_text() if self.logfile.exists() else ""
            raise RuntimeError(f"{cmd[0]} failed: {done.stdout}{done.stderr}{log[-2000:]}")

    def start(self) -> None:
        """Start (or restart) the server and wait until it accepts connections."""
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories=''"
        self._run(
            str(pg_bin("pg_ctl")), "-D", str(self.data), "-l", str(self.logfile), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" (clean) or "immediate" (like a crash: no shutdown
        checkpoint, WAL replayed at the next start)."""
        self._run(str(pg_bin("pg_ctl")), "-D", str(self.data), "-m", mode, "-w", "stop")

    def reset(self) -> None:
        """Drop everything a test made, for the next test (one instance per module)."""
        import psycopg  # noqa: PLC0415 - only the PostgreSQL tests need it

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")

    def close(self) -> None:
        """Stop the server and remove its directory."""
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
