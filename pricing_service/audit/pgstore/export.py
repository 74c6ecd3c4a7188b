"""`pricing audit export DSN OUTDIR`: the PostgreSQL log as a file log directory.

The records' bytes are the same bytes (the database stores each canonical record as the
Merkle leaf data), so the directory verifies with the same public key and the same
checkpoints: an auditor runs the file tools on it, and `verify`, `replay`, `prove` and
`consistency` given a ``postgresql://`` address export to a temporary directory first.
Nothing secret is exported: the records, the kept and newest checkpoints, the policy
archive and the public key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import psycopg

from pricing_service.audit.archive import PolicyArchive
from pricing_service.audit.checkpoints import LATEST_CHECKPOINT, CheckpointStore
from pricing_service.audit.fsutil import atomic_write
from pricing_service.audit.keys import VKEY_FILE
from pricing_service.audit.leafhashes import LEAF_HASHES_FILE
from pricing_service.audit.segments import SEGMENTS_DIR, segment_name

__all__ = ["ExportResult", "export_log", "is_dsn"]

SEGMENT_RECORDS: Final = 100_000  # records per exported segment file
_FETCH: Final = 5_000


def is_dsn(target: str) -> bool:
    """Whether a command's log argument names a database rather than a directory."""
    return target.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote."""

    origin: str
    records: int
    checkpoints: int
    policies: int


def export_log(
    dsn: str, outdir: Path, progress: Callable[[int], None] | None = None
) -> ExportResult:
    """Write the log in `dsn` to the new directory `outdir` (which must not exist or be
    empty), consistent as of one snapshot of the database. Raises psycopg.Error."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    if any(outdir.iterdir()):
        raise FileExistsError(f"{outdir} is not empty")
    with psycopg.connect(dsn) as conn, conn.transaction():
        # One snapshot: records, checkpoints and head agree whatever replicas do meanwhile.
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute("SELECT origin, vkey, size, checkpoint FROM audit_log").fetchone()
        if row is None:
            raise LookupError("the database holds no audit log yet")
        origin, vkey, size, latest = row
        atomic_write(outdir / VKEY_FILE, (str(vkey) + "\n").encode())
        written = _records(conn, outdir, int(size), progress)
        kept = _checkpoints(conn, outdir, latest)
        policies = PolicyArchive(outdir)
        count = 0
        for digest, canonical in conn.execute("SELECT digest, canonical FROM audit_policies"):
            policies.store(str(digest), bytes(canonical))
            count += 1
    return ExportResult(str(origin), written, kept, count)


def _records(
    conn: psycopg.Connection[Any], outdir: Path, size: int, progress: Callable[[int], None] | None
) -> int:
    segments = outdir / SEGMENTS_DIR
    segments.mkdir()
    written = 0
    out = None
    # The stored leaf hashes as the sidecar: never trusted by verify, which only uses them,
    # once they lead to a signed root, to name which record differs.
    leaves = (outdir / LEAF_HASHES_FILE).open("wb")
    with conn.cursor(name="export_records") as cur:
        cur.execute(
            "SELECT seq, record, leaf_hash FROM audit_records WHERE seq < %s ORDER BY seq",
            (size,),
        )
        try:
            while rows := cur.fetchmany(_FETCH):
                for seq, record, leaf in rows:
                    if seq != written:
                        raise LookupError(f"record {written} is missing from the database")
                    if written % SEGMENT_RECORDS == 0:
                        if out is not None:
                            out.close()
                        out = (segments / segment_name(written)).open("wb")
                    assert out is not None
                    out.write(bytes(record) + b"\n")
                    leaves.write(bytes(leaf))
                    written += 1
                if progress is not None:
                    progress(written)
        finally:
            leaves.close()
            if out is not None:
                out.close()
    if written != size:
        raise LookupError(f"the log's head says {size} records, the database holds {written}")
    return written


def _checkpoints(conn: psycopg.Connection[Any], outdir: Path, latest: str | None) -> int:
    store = CheckpointStore(outdir)
    kept = 0
    for size, note in conn.execute("SELECT size, note FROM audit_checkpoints ORDER BY size"):
        store.write(int(size), str(note))
        kept += 1
    if latest is not None:
        # The head is signed every batch but kept only once an interval: it goes out as
        # checkpoint.latest, the newest the log vouches for.
        atomic_write(outdir / LATEST_CHECKPOINT, str(latest).encode("utf-8"))
    return kept
