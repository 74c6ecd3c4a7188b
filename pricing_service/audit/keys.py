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


class KeyFileError(OSError):
    """A signing key file that must not be used as it is (readable by others)."""


def check_private(path: Path) -> None:
    """Refuse a signer key file that group or others may read or write: anyone who can
    read it can forge checkpoints the auditors will accept."""
    mode = Path(path).stat().st_mode
    if mode & 0o077:
        raise KeyFileError(
            f"{path} is readable or writable by group or others (mode {mode & 0o777:o}); "
            f"it signs the audit log: chmod 600 {path}"
        )


def default_key_file(logdir: Path) -> Path:
    """Where a serving log's signer key lives unless configured: beside the log, never in
    it, so a copy of the log handed to an auditor carries no secret."""
    logdir = Path(logdir)
    return logdir.parent / f"{logdir.name}-keys" / SKEY_FILE


def service_signer(logdir: Path, origin: str, key_file: Path) -> tuple[Signer, Path]:
    """The signer of a serving log from `key_file` (generated there if absent), checked
    private; its public key is copied into the log as ``audit.vkey`` for auditors.

    Returns the signer and the key file used. A log made before keys moved out keeps
    its ``<logdir>/audit.skey`` until the operator moves it (a warning says so)."""
    logdir, key_file = Path(logdir), Path(key_file)
    legacy = logdir / SKEY_FILE
    if not key_file.exists() and key_file == default_key_file(logdir) and legacy.exists():
        _log.warning(
            "audit_key_inside_log",
            skey_path=str(legacy),
            hint=f"move it out of the log (to {key_file}, or set audit_signer_key)",
        )
        key_file = legacy
    elif not key_file.exists():
        skey_path, vkey_path = write_keypair(origin, key_file.parent)
        if skey_path != key_file:
            skey_path.rename(key_file)
        _log.warning(
            "audit_key_generated",
            skey_path=str(key_file),
            vkey_path=str(vkey_path),
            hint="give the vkey to auditors; back up the skey; it is not in the audit log",
        )
    check_private(key_file)
    signer = load_signer(key_file)
    public = logdir / VKEY_FILE
    if not public.exists():
        logdir.mkdir(parents=True, exist_ok=True)
        _write_new(public, signer.vkey + "\n", 0o644)
    return signer, key_file
