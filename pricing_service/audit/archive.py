"""The policy archive beside the log: every policy version a record names, by digest.

Replay needs the exact policy a quote was priced under, years later and without the
service (DESIGN §4, §5), so each digest a record carries has its canonical policy at
``policies/<digest>.json`` (the canonical form is sorted-key JSON), written once and never changed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Final

from pricing_service.audit.errors import PolicyArchiveError
from pricing_service.audit.fsutil import atomic_write

__all__ = ["POLICIES_DIR", "PolicyArchive"]

POLICIES_DIR: Final = "policies"
# Lower-case hex SHA-256 only: the digest becomes a file name, so nothing else may pass.
_DIGEST_RE: Final = re.compile(r"[0-9a-f]{64}")


class PolicyArchive:
    """Content-addressed store of canonical policies under ``<logdir>/policies``."""

    def __init__(self, logdir: Path) -> None:
        """Use the archive of the log in `logdir` (created on first store)."""
        self.directory = Path(logdir) / POLICIES_DIR

    def path_of(self, digest: str) -> Path:
        """Where the policy `digest` is (or would be) archived."""
        if not _DIGEST_RE.fullmatch(digest):
            raise PolicyArchiveError(f"policy digest must be 64 lower-case hex, got {digest!r}")
        return self.directory / f"{digest}.json"

    def store(self, digest: str, canonical: bytes) -> Path:
        """Archive `canonical` as policy `digest`, once; return its path.

        Raises PolicyArchiveError if sha256(canonical) is not `digest`, or if a different
        file already sits under that digest (the archive was altered). OSError from the
        disk propagates to the caller.
        """
        path = self.path_of(digest)
        actual = hashlib.sha256(canonical).hexdigest()
        if actual != digest:
            raise PolicyArchiveError(f"policy digest {digest} does not match its content {actual}")
        if path.exists():
            self._check(path, digest)
            return path
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            atomic_write(path, canonical, mode=0o444, exclusive=True)
        except FileExistsError:
            # Another writer archived it between our check and our link: same content
            # by construction, but check rather than assume.
            self._check(path, digest)
        return path

    def load(self, digest: str) -> bytes:
        """The canonical policy `digest`, checked against its digest.

        Raises FileNotFoundError if it was never archived, PolicyArchiveError if the file
        no longer hashes to its name.
        """
        path = self.path_of(digest)
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise PolicyArchiveError(f"archived policy {path} does not hash to its digest")
        return data

    def __contains__(self, digest: object) -> bool:
        """Whether `digest` is archived (no content check)."""
        return (
            isinstance(digest, str)
            and _DIGEST_RE.fullmatch(digest) is not None
            and self.path_of(digest).exists()
        )

    def _check(self, path: Path, digest: str) -> None:
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise PolicyArchiveError(f"archived policy {path} does not hash to its digest")
