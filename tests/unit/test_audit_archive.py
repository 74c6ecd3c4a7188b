"""The policy archive: each digest's canonical policy, stored once and checked."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from audit_support import config

from pricing_service.audit.archive import PolicyArchive
from pricing_service.audit.errors import PolicyArchiveError
from pricing_service.audit.writer import DurableAuditLog

POLICY = b'version = "2026.1"\n[products.lvtanrong]\ndiscount_bp = -200\n'
DIGEST = hashlib.sha256(POLICY).hexdigest()


def test_register_policy_archives_the_canonical_bytes_once(tmp_path: Path) -> None:
    with DurableAuditLog(config(tmp_path)) as log:
        log.register_policy(DIGEST, POLICY)
        log.register_policy(DIGEST, POLICY)  # idempotent
    path = tmp_path / "policies" / f"{DIGEST}.json"
    assert path.read_bytes() == POLICY
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert sorted(p.name for p in path.parent.iterdir()) == [f"{DIGEST}.json"]
    assert PolicyArchive(tmp_path).load(DIGEST) == POLICY
    assert DIGEST in PolicyArchive(tmp_path)


def test_policy_whose_digest_does_not_match_is_refused(tmp_path: Path) -> None:
    archive = PolicyArchive(tmp_path)
    with pytest.raises(PolicyArchiveError, match="does not match its content"):
        archive.store(DIGEST, POLICY + b"# edited\n")
    assert not (tmp_path / "policies" / f"{DIGEST}.json").exists()


@pytest.mark.parametrize("digest", ["../../etc/passwd", DIGEST.upper(), DIGEST[:-1], ""])
def test_malformed_digest_is_refused(tmp_path: Path, digest: str) -> None:
    with pytest.raises(PolicyArchiveError, match="64 lower-case hex"):
        PolicyArchive(tmp_path).store(digest, POLICY)


def test_altered_archive_is_detected_on_load_and_on_store(tmp_path: Path) -> None:
    archive = PolicyArchive(tmp_path)
    path = archive.store(DIGEST, POLICY)
    path.chmod(0o644)
    path.write_bytes(POLICY.replace(b"-200", b"-300"))
    with pytest.raises(PolicyArchiveError, match="does not hash to its digest"):
        archive.load(DIGEST)
    with pytest.raises(PolicyArchiveError, match="does not hash to its digest"):
        archive.store(DIGEST, POLICY)
    with pytest.raises(FileNotFoundError):
        archive.load("0" * 64)
