"""A log argument of the auditor's commands: a log directory, or a PostgreSQL log.

Given ``postgresql://...``, a command exports the log (one consistent snapshot) to a
temporary directory and runs on that: the same bytes, checked by the same code, so a
database log verifies, replays and proves exactly as a directory does.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from pricing_service.audit.pgstore.export import export_log, is_dsn

Handler = Callable[[argparse.Namespace], int]
LOGDIR_HELP = "the log directory, or a PostgreSQL log as postgresql://..."


def log_target(text: str) -> Path | str:
    """argparse type of LOGDIR: a Path, or the DSN text as it is (a Path would fold its
    ``//``)."""
    return text if is_dsn(text) else Path(text)


def shown(dsn: str) -> str:
    """The DSN without its password, for messages."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def on_a_directory(handler: Handler) -> Handler:
    """Wrap `handler` so that a DSN in ``args.logdir`` becomes an exported directory."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        target = args.logdir
        if not isinstance(target, str):
            return handler(args)
        with tempfile.TemporaryDirectory(prefix="pricing-export-") as tmp:
            try:
                export_log(target, Path(tmp) / "log")
            except (psycopg.Error, LookupError) as exc:
                print(f"error: cannot read the log at {shown(target)}: {exc}", file=sys.stderr)
                return 1
            args.logdir = Path(tmp) / "log"
            return handler(args)

    return run


def export_command(args: argparse.Namespace) -> int:
    """`pricing audit export DSN OUTDIR`."""
    try:
        result = export_log(args.dsn, args.outdir)
    except (psycopg.Error, LookupError, FileExistsError) as exc:
        print(f"error: cannot export {shown(args.dsn)}: {exc}", file=sys.stderr)
        return 1
    print(
        f"exported {result.origin}: {result.records:,} records, "
        f"{result.checkpoints:,} kept checkpoints, {result.policies} policies to {args.outdir}"
    )
    return 0
