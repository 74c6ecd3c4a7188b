"""A bounded soak: steady binding load with policy reloads and cancelled calls, RSS and
open file descriptors of the server sampled from /proc; both flat after warm-up, every
acknowledged quote in the log, and the log verifies and replays afterwards.

`make test` runs it for SOAK_SECONDS=60 (default here); `make soak` for several minutes.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ecoloan_client import DeadlineExceeded, PricingClient
from test_sigterm import BIN, ServerProcess, lvtanrong, start

from pricing_service.api.incoming import decode_document
from pricing_service.audit.keys import load_verifier
from pricing_service.audit.reader import iter_records
from pricing_service.audit.verify import verify_log
from pricing_service.policy.store import default_policy_bytes
from pricing_service.quoting.replay import ArchivedPolicies, replay_records

SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
CLIENTS = 3
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(SECONDS + 120)]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ServerProcess, str, Path]]:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "policy.toml").write_bytes(default_policy_bytes())
    exe = shutil.which("pricing-service", path=str(BIN))
    assert exe is not None
    for proc, target in start([exe], tmp_path, ("--policy", str(policies))):
        yield proc, target, policies


def test_soak_rss_and_fds_stay_flat(
    server: tuple[ServerProcess, str, Path], tmp_path: Path
) -> None:
    proc, target, _ = server
    pid = proc.proc.pid
    stop = threading.Event()
    acknowledged: list[str] = []
    cancelled = [0]
    lock = threading.Lock()

    def load(worker: int) -> None:
        rng = random.Random(worker)
        with PricingClient(target, default_timeout=10.0, max_attempts=1) as client:
            n = 0
            while not stop.is_set():
                n += 1
                request = lvtanrong(f"soak-{worker}-{n}")
                request.principal_fen = 100_000_000 + n
                try:
                    if rng.random() < 0.1:  # a caller that gives up almost at once
                        client.create_quote(request, timeout=0.0005)
                    else:
                        quote = client.create_quote(request).quote
                        with lock:
                            acknowledged.append(quote.quote_id)
                except DeadlineExceeded:
                    with lock:
                        cancelled[0] += 1

    workers = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(CLIENTS)]
    for w in workers:
        w.start()
    samples: list[tuple[float, int, int]] = []
    started = time.monotonic()
    next_reload = started + SECONDS / 6
    while (elapsed := time.monotonic() - started) < SECONDS:
        samples.append((elapsed, _rss_kb(pid), _fds(pid)))
        if time.monotonic() >= next_reload:
            proc.proc.send_signal(signal.SIGHUP)  # same files: a reload that changes nothing
            next_reload += SECONDS / 6
        time.sleep(1.0)
    stop.set()
    for w in workers:
        w.join(30)
    reloads = sum(1 for e in proc.events() if e == "policy_reloaded")
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(30) == 0

    warm = [s for s in samples if s[0] >= SECONDS / 3]  # after the caches fill
    rss = [kb for _, kb, _ in warm]
    fds = [n for _, _, n in warm]
    assert len(acknowledged) > 100
    assert cancelled[0] > 0
    assert reloads >= 3
    assert max(fds) - min(fds) <= 4, fds  # no descriptor leaks with calls and reloads
    assert max(rss) - rss[0] <= 16 * 1024, rss  # flat: under 16 MB of drift after warm-up

    logdir = tmp_path / "audit"
    assert verify_log(logdir, load_verifier(logdir / "audit.vkey")).ok
    seen = {
        r.data["response"]["quote_id"] for r in iter_records(logdir) if r.data["kind"] == "quote"
    }
    assert set(acknowledged) <= seen  # every acknowledged quote is in the log
    report = replay_records(iter_records(logdir), ArchivedPolicies(logdir), decode=decode_document)
    assert report.differences == []
