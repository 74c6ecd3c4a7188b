"""The signing key lives outside the audit log and must be private: a copy of the log
handed to an auditor carries the public key and no secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pricing_service.audit.keys import KeyFileError, default_key_file, write_keypair
from pricing_service.config import load_config
from pricing_service.quoting.service_log import open_service_log

ORIGIN = "changji.example/pricing-audit/replica-1"


def _open(logdir: Path, **settings: Any) -> None:
    opened = open_service_log(load_config(env={}, audit_dir=str(logdir), **settings))
    opened.sink.close()


def test_a_generated_key_is_private_and_outside_the_log(tmp_path: Path) -> None:
    logdir = tmp_path / "audit"
    _open(logdir)
    key = tmp_path / "audit-keys" / "audit.skey"
    assert default_key_file(logdir) == key
    assert key.stat().st_mode & 0o777 == 0o600
    assert not (logdir / "audit.skey").exists()
    vkey = (logdir / "audit.vkey").read_text()
    assert vkey == (tmp_path / "audit-keys" / "audit.vkey").read_text()
    assert not any("PRIVATE+KEY" in p.read_text(errors="replace") for p in _files(logdir))
    _open(logdir)  # and the same key signs on the next start
    assert (logdir / "audit.vkey").read_text() == vkey


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def test_a_key_others_may_read_stops_start_up(tmp_path: Path) -> None:
    skey, _ = write_keypair(ORIGIN, tmp_path / "keys")
    os.chmod(skey, 0o640)
    with pytest.raises(KeyFileError, match=r"mode 640\); it signs the audit log: chmod 600"):
        _open(tmp_path / "audit", audit_signer_key=str(skey))
    served = subprocess.run(
        [sys.executable, "-m", "pricing_service", "serve", "--audit-dir", str(tmp_path / "a2")],
        env={**os.environ, "PRICING_AUDIT_SIGNER_KEY": str(skey), "PRICING_LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert served.returncode == 2
    assert "is readable or writable by group or others" in served.stderr


def test_a_log_from_before_keeps_its_key_until_it_is_moved(tmp_path: Path) -> None:
    logdir = tmp_path / "audit"
    write_keypair(ORIGIN, logdir)  # the old layout: the key inside the log
    before = (logdir / "audit.vkey").read_text()
    _open(logdir)
    assert (logdir / "audit.vkey").read_text() == before
    assert not default_key_file(logdir).exists()  # not moved silently
