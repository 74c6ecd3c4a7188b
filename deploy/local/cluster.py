"""`make cluster` / `make cluster-down`: a real local cluster on loopback.

PostgreSQL (a throw-away instance, deploy/local/postgres.py) holds the one audit log;
two or more `pricing-service serve` replicas share it (one signing key, made here); nginx
(deploy/nginx/pricing.conf) balances gRPC across them. `up` prints one line
``target=HOST:PORT`` and how to call it; the processes keep running in the background,
and `down` stops everything `up` started (its state is in ``DIR/cluster.json``) and drops
the throw-away database; the replicas' and nginx's logs stay in DIR.

    python -m deploy.local.cluster up [--dir var/cluster] [--replicas 2]
    python -m deploy.local.cluster down [--dir var/cluster]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.local import nginx
from deploy.local.postgres import PgServer, free_port, stop_data_dir
from pricing_service.audit.keys import write_keypair
from pricing_service.audit.pgstore.schema import migrate

ORIGIN = "ecoloan.example/pricing-audit/cluster"
STATE_FILE = "cluster.json"
BIN = Path(sys.executable).parent
# The processes this process started (tests run up and down in one process): kept so they
# are waited for, never left as zombies or garbage-collected while running.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass
class Cluster:
    """What `up` started, as `down` (and the tests) need it."""

    directory: str
    dsn: str
    postgres_data: str
    target: str
    key_file: str
    vkey_file: str
    nginx_pid: int = 0
    replicas: list[dict[str, int | str]] = field(default_factory=list)

    def save(self) -> None:
        """Write the state beside the cluster's files."""
        (Path(self.directory) / STATE_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, directory: Path) -> Cluster:
        """The state `up` wrote in `directory`."""
        return cls(**json.loads((directory / STATE_FILE).read_text()))


def start_replica(cluster: Cluster, index: int, port: int) -> int:
    """Start replica `index` on `port`; wait until it is SERVING; return its pid."""
    directory = Path(cluster.directory) / f"replica-{index}"
    directory.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        PRICING_AUDIT_DSN=cluster.dsn,
        PRICING_AUDIT_SIGNER_KEY=cluster.key_file,
        PRICING_AUDIT_ORIGIN=ORIGIN,
        PRICING_LOG_FORMAT="json",
        PRICING_SHUTDOWN_NOTICE_SECONDS="0",
    )
    with (directory / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                str(BIN / "pricing-service"), "serve", "--listen", f"127.0.0.1:{port}",
                "--audit-dir", str(directory / "unused-audit-dir"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    _CHILDREN[proc.pid] = proc
    _wait_serving(f"127.0.0.1:{port}", proc, directory / "server.log")
    return proc.pid


def _wait_serving(target: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"replica {target} exited: {log.read_text()[-2000:]}")
        try:
            with grpc.insecure_channel(target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=1
                )
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"replica {target} not SERVING after 60 s")


def up(directory: Path, replicas: int = 2) -> Cluster:
    """Start PostgreSQL, `replicas` replicas and nginx under `directory`."""
    directory = directory.resolve()
    if (directory / STATE_FILE).exists():
        raise RuntimeError(f"a cluster is already up in {directory} (make cluster-down)")
    directory.mkdir(parents=True, exist_ok=True)
    # A throw-away database in a directory of its own under the system's temporary one,
    # where the postgres user can reach it whatever the permissions above DIR.
    pg = PgServer()
    with psycopg.connect(pg.dsn) as conn:
        migrate(conn)
    keys = directory / "keys"
    if not (keys / "audit.skey").exists():
        write_keypair(ORIGIN, keys)
    cluster = Cluster(
        directory=str(directory),
        dsn=pg.dsn,
        postgres_data=str(pg.data),
        target=f"127.0.0.1:{free_port()}",
        key_file=str(keys / "audit.skey"),
        vkey_file=str(keys / "audit.vkey"),
    )
    cluster.save()  # from here on, `down` can stop what has started
    for index in range(replicas):
        port = free_port()
        cluster.replicas.append({"port": port, "pid": start_replica(cluster, index, port)})
        cluster.save()
    upstreams = [f"127.0.0.1:{r['port']}" for r in cluster.replicas]
    proxy = nginx.start(directory / "nginx", cluster.target, upstreams)
    _CHILDREN[proxy.pid] = proxy
    cluster.nginx_pid = proxy.pid
    cluster.save()
    return cluster


def _stop(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM `pid` (it drains), SIGKILL it if it is still there after `timeout`."""
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.terminate()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def forget(pid: int) -> None:
    """Reap a child that was killed outright (the tests' kill -9)."""
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait()


def down(directory: Path) -> None:
    """Stop everything `up` started in `directory`: nginx, the replicas, PostgreSQL."""
    directory = directory.resolve()
    if not (directory / STATE_FILE).exists():
        print(f"no cluster in {directory}")
        return
    cluster = Cluster.load(directory)
    if cluster.nginx_pid:
        _stop(cluster.nginx_pid)
    for replica in cluster.replicas:
        _stop(int(replica["pid"]))
    stop_data_dir(Path(cluster.postgres_data))
    shutil.rmtree(Path(cluster.postgres_data).parent, ignore_errors=True)
    (directory / STATE_FILE).unlink()


def main(argv: list[str] | None = None) -> int:
    """CLI: up or down."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=Path("var/cluster"))
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == "down":
        down(args.dir)
        print("cluster stopped")
        return 0
    try:
        cluster = up(args.dir, args.replicas)
    except Exception as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        down(args.dir)
        return 1
    print(f"target={cluster.target}")
    print(
        f"  {len(cluster.replicas)} replicas behind nginx, one audit log in PostgreSQL "
        f"({cluster.dsn}); call it with\n"
        f"  .venv/bin/pricing quote --target {cluster.target} --product standard --borrower B-1 "
        "--rating AA --principal 1000000 --term 12 --repayment equal-installment\n"
        f"  verify: .venv/bin/pricing audit verify {cluster.dsn} --public-key {cluster.vkey_file}\n"
        "  stop: make cluster-down"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
