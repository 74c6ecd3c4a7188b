"""A full disk refuses binding quotes with UNAVAILABLE, never quotes unlogged, and recovers.

The log lives on a tiny tmpfs the test mounts (tests run as root here and in CI); the
disk is filled by a ballast file, then freed.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import PricingClient, Unavailable, carbon_grade, quote_request

from pricing_service.audit.note import Verifier
from pricing_service.audit.reader import iter_records
from pricing_service.audit.verify import verify_log
from pricing_service.bootstrap import build_components, start_sync_server
from pricing_service.config import load_config

TMPFS_SIZE = "512k"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (run as root): {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(path: Path) -> None:
    """Write ballast until the filesystem is full."""
    chunk = b"\0" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with pytest.raises(OSError, match="No space left") as info:  # noqa: PT012 - setup loop
            while True:
                os.write(fd, chunk)
    finally:
        os.close(fd)
    assert info.value.errno == errno.ENOSPC


def _request(n: int) -> pb.CreateQuoteRequest:
    return quote_request(
        product_id="lvtanrong",
        borrower_id=f"DISK-{n}",
        credit_rating="A",
        term_months=24,
        repayment="equal-principal",
        principal_fen=5_000_000_00,
        request_id=f"disk-{n}",
        pricing_time="2026-11-20T10:00:00+08:00",
        carbon_grade=carbon_grade(2, "2026-09-30", "changji-carbon-account"),
    )


def test_full_disk_refuses_with_unavailable_then_recovers(tiny_disk: Path) -> None:
    audit_dir = tiny_disk / "audit"
    config = load_config(env={}, listen="127.0.0.1:0", audit_dir=str(audit_dir))
    running = start_sync_server(build_components(config))
    try:
        with PricingClient(f"127.0.0.1:{running.port}", max_attempts=1) as client:
            first = client.create_quote(_request(0))
            assert first.quote.annual_rate == "1.70"  # 3.00 + 60 + 10 - 200 bp

            ballast = tiny_disk / "ballast"
            _fill(ballast)
            refused = []
            for n in range(1, 4):
                with pytest.raises(Unavailable) as info:
                    client.create_quote(_request(n))
                refused.append(info.value)
            assert all(e.reason == "AUDIT_LOG_UNAVAILABLE" for e in refused)
            assert refused[0].retry_delay == 1.0

            ballast.unlink()
            recovered = client.create_quote(_request(1))
            assert recovered.quote.borrower_id == "DISK-1"
            assert recovered.audit_position.sequence == first.audit_position.sequence + 1
    finally:
        running.stop(grace=1)

    records = list(iter_records(audit_dir))
    # Nothing quoted unlogged, nothing half-written: exactly the two acknowledged quotes.
    assert [r.data["request"]["request_id"] for r in records] == ["disk-0", "disk-1"]
    verifier = Verifier.from_vkey((audit_dir / "audit.vkey").read_text().strip())
    report = verify_log(audit_dir, verifier)
    assert report.ok, report
