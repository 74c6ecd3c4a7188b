"""A throw-away PostgreSQL: Debian's binaries, a temporary data directory, loopback only.

For the tests and `make cluster`. `PgServer` runs `initdb` and `pg_ctl` (as the
`postgres` user when run as root, since PostgreSQL refuses to run as root), listens on
127.0.0.1 on a free port with no Unix socket, trusts loopback connections (the instance
holds nothing else and lives as long as its user), and stops and removes what it made.
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


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL cannot be run here (no binaries, or root with no postgres user)."""


def check_postgres() -> None:
    """Raise PostgresUnavailableError, saying why, where PostgreSQL's binaries are absent."""
    if pg_bin("initdb") is None or pg_bin("pg_ctl") is None:
        raise PostgresUnavailableError(
            "PostgreSQL server binaries (initdb, pg_ctl) not installed: apt-get install postgresql"
        )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as(root: Path) -> list[str]:
    """The command prefix that runs PostgreSQL's tools: as `postgres` when we are root,
    owning `root` (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailableError(
            "running as root with no postgres user to run PostgreSQL as"
        ) from None
    os.chmod(root, 0o755)  # noqa: S103 - postgres must reach its data directory
    os.chown(root, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


def stop_data_dir(data: Path, mode: str = "fast") -> None:
    """Stop the PostgreSQL running on data directory `data` (`make cluster-down`)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*prefix, str(pg_bin("pg_ctl")), "-D", str(data), "-m", mode, "-w", "stop"],
        capture_output=True,
        timeout=120,
        check=False,
    )


class PgServer:
    """One PostgreSQL instance in a temporary directory."""

    def __init__(self, root: Path | None = None, port: int | None = None) -> None:
        """Create and start an instance in `root` (a new temporary directory if None)."""
        check_postgres()
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="pricing-pg-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.port = port or free_port()
        self._as = _run_as(self.root)
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
