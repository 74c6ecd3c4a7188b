"""The log's Ed25519 key files: ``audit.skey`` (secret, 0600) and ``audit.vkey`` (public).

Both use the golang.org/x/mod/sumdb/note text encodings (see `note`), one key per file
with a trailing newline, so they also work with Go tooling.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import structlog

from pricing_service.audit.fsutil import fsync_dir
from pricing_service.audit.note import Signer, Verifier, generate_key

__all__ = [
    "SKEY_FILE",
    "VKEY_FILE",
    "ensure_signer",
    "load_signer",
    "load_verifier",
    "write_keypair",
]

SKEY_FILE: Final = "audit.skey"
VKEY_FILE: Final = "audit.vkey"

_log = structlog.get_logger(__name__)


def _write_new(path: Path, text: str, mode: int) -> None:
    # O_EXCL: never overwrite a key; a lost signer key cannot be recovered and a silently
    # replaced one would orphan every checkpoint signed with it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fchmod(fd, mode)  # umask may have narrowed or widened it
        os.fsync(fd)
    finally:
        os.close(fd)


def write_keypair(name: str, out_dir: Path) -> tuple[Path, Path]:
    """Generate a key named `name`; write ``audit.skey`` (0600) and ``audit.vkey``.

    Returns (skey path, vkey path). Raises FileExistsError if either file exists.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    skey_path, vkey_path = out_dir / SKEY_FILE, out_dir / VKEY_FILE
    for path in (skey_path, vkey_path):
        if path.exists():
            raise FileExistsError(f"{path} exists; refusing to overwrite a key")
    skey, vkey = generate_key(name)
    _write_new(skey_path, skey + "\n", 0o600)
    _write_new(vkey_path, vkey + "\n", 0o644)
    fsync_dir(out_dir)
    return skey_path, vkey_path


def load_signer(path: Path) -> Signer:
    """Read a signer key file (raises OSError, NoteError)."""
    return Signer.from_skey(Path(path).read_text(encoding="utf-8").strip())


def load_verifier(path: Path) -> Verifier:
    """Read a verifier key file (raises OSError, NoteError)."""
    return Verifier.from_vkey(Path(path).read_text(encoding="utf-8").strip())


def ensure_signer(logdir: Path, origin: str, key_file: Path | None) -> Signer:
    """The log's signer: `key_file` if given, else ``<logdir>/audit.skey``, made if absent.

    A generated key is named after the log origin and its ``audit.vkey`` is written
    beside it; the path is logged so the operator can hand the public key to auditors.
    """
    if key_file is not None:
        return load_signer(key_file)
    skey_path = Path(logdir) / SKEY_FILE
    if not skey_path.exists():
        _, vkey_path = write_keypair(origin, Path(logdir))
        _log.warning(
            "audit_key_generated",
            vkey_path=str(vkey_path),
            skey_path=str(skey_path),
            hint="give the vkey to auditors; back up the skey",
        )
    return load_signer(skey_path)
