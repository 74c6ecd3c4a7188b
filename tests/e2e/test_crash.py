"""kill -9 under load loses no acknowledged quote; the restarted server continues the tree.

Concurrent clients create quotes against a real server process; the process is killed
with SIGKILL at a chosen point; a new process opens the same log. Every quote id a
client received must be in the log, `pricing audit verify` must pass, idempotency must
survive the restart, and new quotes must extend the same Merkle tree.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import PricingClient, PricingClientError, carbon_grade, quote_request

from pricing_service.audit.checkpoints import CheckpointStore, note_text
from pricing_service.audit.note import parse_checkpoint
from pricing_service.audit.reader import iter_records

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

BIN = Path(sys.executable).parent
CLIENT_THREADS = 6
MAX_QUOTES = 2000  # a bound on the load, whatever the kill point


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(audit_dir: Path, port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        PRICING_LOG_FORMAT="json",
        PRICING_SHUTDOWN_NOTICE_SECONDS="0",
        PRICING_AUDIT_CHECKPOINT_INTERVAL_MS="50",
    )
    out = log.open("ab") if log is not None else None
    try:
        proc = subprocess.Popen(
            [
                str(BIN / "pricing-service"),
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--audit-dir",
                str(audit_dir),
            ],
            env=env,
            # The server's JSON log lines (serving, draining, stopped) tell where a slow stop hung.
            stdout=out if out is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
        )
    finally:
        if out is not None:
            out.close()  # the child has its own copy of the descriptor
    deadline = time.monotonic() + 30
    with PricingClient(f"127.0.0.1:{port}", default_timeout=1.0, max_attempts=1) as client:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "server exited during start-up"
            try:
                if client.health() == "SERVING":
                    return proc
            except PricingClientError:
                time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not become healthy in 30 s")


def _request(worker: int, n: int) -> pb.CreateQuoteRequest:
    return quote_request(
        product_id="lvtanrong",
        borrower_id=f"B-{worker}-{n}",
        credit_rating="AA",
        term_months=12 + n % 48,
        repayment="equal-installment",
        principal_fen=1_000_000_00 + n,
        request_id=f"crash-{worker}-{n}",
        carbon_grade=carbon_grade(1 + n % 3, "2026-09-30", "changji-carbon-account"),
    )


def _load_then_kill(port: int, proc: subprocess.Popen[bytes], kill_after: int) -> dict[str, str]:
    """Drive concurrent CreateQuote calls; SIGKILL the server after `kill_after` replies."""
    received: dict[str, str] = {}  # request_id -> quote_id, only for replies received
    lock = threading.Lock()
    stop = threading.Event()

    def worker(w: int) -> None:
        with PricingClient(f"127.0.0.1:{port}", default_timeout=5.0, max_attempts=1) as client:
            for n in range(MAX_QUOTES // CLIENT_THREADS):
                if stop.is_set():
                    return
                req = _request(w, n)
                try:
                    quote_id = client.create_quote(req).quote.quote_id
                except PricingClientError:
                    return  # the server died mid-call: that quote was never acknowledged
                with lock:
                    received[req.request_id] = quote_id

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(CLIENT_THREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if len(received) >= kill_after:
                break
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)  # mid-load: other calls are in flight right now
    proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    return received


def _verify(audit_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "pricing"),
            "audit",
            "verify",
            str(audit_dir),
            "--public-key",
            str(audit_dir / "audit.vkey"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("kill_after", [25, 150, 400])
def test_kill_9_under_load_loses_no_acknowledged_quote(tmp_path: Path, kill_after: int) -> None:
    audit_dir = tmp_path / "audit"
    port = _free_port()
    received = _load_then_kill(port, _start(audit_dir, port), kill_after)
    assert len(received) >= kill_after

    logged = {
        r.data["response"]["quote_id"]: r.seq
        for r in iter_records(audit_dir)
        if r.data["kind"] == "quote"
    }
    missing = sorted(set(received.values()) - set(logged))
    assert missing == []
    size_before = len(list(iter_records(audit_dir)))
    # Unacknowledged quotes may be in the log too (written, reply lost): never fewer.
    assert size_before >= len(received)
    # Every acknowledged quote is inside the newest signed checkpoint; what follows it
    # (written, killed before its checkpoint) was never acknowledged and is moved aside.
    newest = CheckpointStore(audit_dir).latest_note()
    assert newest is not None
    signed = parse_checkpoint(note_text(newest)).size
    assert max(logged[q] for q in received.values()) < signed <= size_before

    port2 = _free_port()
    server_log = tmp_path / "server2.log"
    proc2 = _start(audit_dir, port2, server_log)
    try:
        with PricingClient(f"127.0.0.1:{port2}", default_timeout=5.0) as client:
            # Idempotency survives the crash: a retry of an acknowledged request.
            rid, quote_id = sorted(received.items())[0]
            worker, n = (int(x) for x in rid.removeprefix("crash-").split("-"))
            again = client.create_quote(_request(worker, n))
            assert again.quote.quote_id == quote_id
            assert again.audit_position.sequence == logged[quote_id]
            # The tree continues: a new quote gets the next sequence number.
            fresh = client.create_quote(_request(99, 0))
            assert fresh.audit_position.sequence == signed
            got = client.get_quote(quote_id)
            assert got.quote.quote_id == quote_id
            proof = client.get_quote_proof(fresh.quote.quote_id)
            assert proof.tree_size >= signed + 1
    finally:
        proc2.send_signal(signal.SIGTERM)
        try:
            code = proc2.wait(timeout=60)  # drain (grace 10 s) + final checkpoint, on a busy box
        except subprocess.TimeoutExpired:
            proc2.kill()
            tail = server_log.read_text(errors="replace")[-2000:]
            raise AssertionError(
                f"server did not stop within 60 s of SIGTERM; its log:\n{tail}"
            ) from None
        assert code == 0, server_log.read_text(errors="replace")[-2000:]

    result = _verify(audit_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    moved = sorted((audit_dir / "unattested").glob("*.jsonl"))
    moved_records = sum(len(f.read_bytes().splitlines()) for f in moved)
    assert moved_records == size_before - signed


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def test_a_record_forged_while_the_server_is_down_is_moved_aside_at_restart(
    tmp_path: Path,
) -> None:
    # Issue 12: a well-formed record appended after the newest checkpoint, the server
    # restarted, and the forgery used to be signed into the next checkpoint.
    audit_dir = tmp_path / "audit"
    port = _free_port()
    proc = _start(audit_dir, port)
    with PricingClient(f"127.0.0.1:{port}", default_timeout=5.0) as client:
        real = [client.create_quote(_request(7, n)).quote.quote_id for n in range(3)]
    _stop(proc)
    segment = sorted((audit_dir / "segments").glob("*.jsonl"))[-1]
    last = json.loads(segment.read_bytes().splitlines()[-1])
    forged_id = "q_" + "f" * 32
    forged = dict(last, seq=last["seq"] + 1, response=dict(last["response"], quote_id=forged_id))
    forged_line = json.dumps(forged, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    with segment.open("ab") as f:
        f.write(forged_line)

    server_log = tmp_path / "server.log"
    proc = _start(audit_dir, port, server_log)
    try:
        with PricingClient(f"127.0.0.1:{port}", default_timeout=5.0) as client:
            assert [client.get_quote(q).quote.quote_id for q in real] == real
            with pytest.raises(PricingClientError) as refused:
                client.get_quote(forged_id)
            assert refused.value.code.name == "NOT_FOUND"
            fresh = client.create_quote(_request(7, 3))
            assert fresh.audit_position.sequence == last["seq"] + 1  # the forgery's number
    finally:
        _stop(proc)
    moved = [json.loads(line) for line in server_log.read_text().splitlines()]
    moved = [m for m in moved if m.get("event") == "audit_unattested_tail"]
    assert [(m["records"], m["first_seq"]) for m in moved] == [(1, last["seq"] + 1)]
    assert [p.read_bytes() for p in (audit_dir / "unattested").iterdir()] == [forged_line]
    assert forged_id.encode() not in segment.read_bytes()
    result = _verify(audit_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    replayed = subprocess.run(
        [str(BIN / "pricing"), "audit", "replay", str(audit_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
