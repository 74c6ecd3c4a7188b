"""The local cluster of `make cluster`: PostgreSQL, two replicas, nginx in front, for real.

Clients with retries drive CreateQuote through nginx; one replica is `kill -9`'d mid-load
and restarted. Afterwards every quote a client received is in the one audit log exactly
once per request id, the log verifies with its key and replays with zero differences.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import Backoff, PricingClient, PricingClientError, carbon_grade, quote_request

from deploy.local import cluster as local_cluster
from deploy.local.nginx import NginxUnavailableError, nginx_bin
from deploy.local.postgres import PostgresUnavailableError, check_postgres
from pricing_service.cli.main import main

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CLIENTS = 4
QUOTES_PER_CLIENT = 60  # a bound on the load, whatever the kill point
KILL_AFTER = 60


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[local_cluster.Cluster]:
    try:
        check_postgres()
        nginx_bin()
    except (PostgresUnavailableError, NginxUnavailableError) as exc:
        pytest.skip(str(exc))
    try:
        started = local_cluster.up(tmp_path / "cluster", replicas=2)
        yield started
    finally:
        local_cluster.down(tmp_path / "cluster")


def _request(client: int, n: int) -> pb.CreateQuoteRequest:
    return quote_request(
        product_id="lvtanrong",
        borrower_id=f"B-{client}-{n}",
        credit_rating="AA",
        term_months=12 + n % 48,
        repayment="equal-installment",
        principal_fen=1_000_000_00 + n,
        request_id=f"cluster-{client}-{n}",
        pricing_time="2026-11-20T10:00:00+08:00",
        carbon_grade=carbon_grade(1 + n % 3, "2026-09-30", "changji-carbon-account"),
    )


def test_a_replica_killed_mid_load_loses_and_duplicates_nothing(
    cluster: local_cluster.Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    received: dict[str, str] = {}  # request id -> quote id, for replies received
    failed: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        backoff = Backoff(initial=0.05, multiplier=2.0, maximum=0.5)
        with PricingClient(cluster.target, max_attempts=8, backoff=backoff) as api:
            for n in range(QUOTES_PER_CLIENT):
                try:
                    quote_id = api.create_quote(_request(c, n)).quote.quote_id
                except PricingClientError as exc:
                    with lock:
                        failed.append(f"cluster-{c}-{n}: {exc}")
                    continue
                with lock:
                    received[f"cluster-{c}-{n}"] = quote_id

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if len(received) >= KILL_AFTER:
                break
        time.sleep(0.01)
    victim = cluster.replicas[0]
    os.kill(int(victim["pid"]), signal.SIGKILL)  # mid-load: calls are in flight on it
    local_cluster.forget(int(victim["pid"]))
    time.sleep(1.0)
    victim["pid"] = local_cluster.start_replica(cluster, 0, int(victim["port"]))
    cluster.save()
    for t in threads:
        t.join(timeout=180)

    assert failed == []  # every call got an answer, through the other replica or a retry
    assert len(received) == CLIENTS * QUOTES_PER_CLIENT
    with psycopg.connect(cluster.dsn) as conn:
        rows = conn.execute(
            "SELECT request_id, quote_id FROM audit_records WHERE kind = 'quote'"
        ).fetchall()
    logged: dict[str, str] = dict(rows)
    assert len(logged) == len(rows)  # one quote per request id
    assert logged == received  # exactly the quotes the clients hold, no more, no fewer

    capsys.readouterr()
    assert main(["audit", "verify", cluster.dsn, "--public-key", cluster.vkey_file]) == 0
    assert main(["audit", "replay", cluster.dsn]) == 0
    assert "with differences 0" in capsys.readouterr().out
