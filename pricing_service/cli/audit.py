"""``pricing audit ...``: the auditor's commands, run on a copy of the log, no service.

    pricing audit keygen --name ORIGIN --out DIR
    pricing audit verify LOGDIR --public-key FILE [--checkpoint FILE ...] [--full]
    pricing audit prove LOGDIR QUOTE_ID [--seq N] [--checkpoint FILE] [--json] [--out FILE]
    pricing audit consistency LOGDIR OLD_CHECKPOINT NEW_CHECKPOINT [--json] [--out FILE]
    pricing audit verify-proof PROOF_FILE --public-key FILE

Every command returns its exit code: 0 success, 1 a negative answer (the log or proof
does not verify, the quote is not there) or an error, 2 bad usage (argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pricing_service.audit.errors import AuditLogError
from pricing_service.audit.keys import load_verifier, write_keypair
from pricing_service.audit.merkle import ProofError
from pricing_service.audit.note import NoteError
from pricing_service.audit.prove import (
    load_proof_document,
    prove_consistency,
    prove_inclusion,
    verify_proof_document,
    write_proof,
)
from pricing_service.audit.reader import log_bytes
from pricing_service.audit.verify import VerifyReport, verify_log
from pricing_service.cli.byte_progress import SubParsers, progress_bar
from pricing_service.cli.log_target import LOGDIR_HELP, export_command, log_target, on_a_directory
from pricing_service.cli.replay import add_replay_command

__all__ = ["add_audit_commands", "main"]

Command = Callable[[argparse.Namespace], int]


def add_audit_commands(
    subparsers: SubParsers[argparse.ArgumentParser],
) -> SubParsers[argparse.ArgumentParser]:
    """Add the ``audit`` command group to a ``pricing`` parser's subparsers.

    Each leaf command sets ``func`` (``Callable[[argparse.Namespace], int]``) as a
    default; the caller runs ``args.func(args)`` and exits with its return value.
    Returns the group's own subparsers, so more ``audit`` commands (replay) can be added.
    """
    audit = subparsers.add_parser(
        "audit",
        help="verify the audit log and prove quotes (offline, no service)",
        description="Verify an audit log copy and produce or check proofs, offline.",
    )
    commands = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)

    keygen = commands.add_parser(
        "keygen",
        help="generate the log's Ed25519 signing key",
        description="Write audit.skey (secret, mode 0600) and audit.vkey (public) to DIR.",
    )
    keygen.add_argument("--name", required=True, help="key name: the log origin")
    keygen.add_argument("--out", required=True, type=Path, metavar="DIR")
    keygen.set_defaults(func=_keygen)

    verify = commands.add_parser(
        "verify",
        help="check the whole log against its signed checkpoints",
        description="Stream every segment, recompute the Merkle tree, check sequence and "
        "segment continuity and every checkpoint. Exit 0 if the log is whole; otherwise "
        "exit 1 naming the first bad record (segment, line, seq).",
    )
    verify.add_argument("logdir", type=log_target, metavar="LOGDIR", help=LOGDIR_HELP)
    verify.add_argument("--public-key", required=True, type=Path, metavar="FILE")
    verify.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a checkpoint kept outside the log that it must also agree with (repeatable)",
    )
    verify.add_argument("--origin", help="the log origin the checkpoints must name")
    verify.add_argument(
        "--full",
        action="store_true",
        help="also parse every record and check its canonical form and fields (slower)",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--progress", action="store_true", help="show progress on stderr")
    verify.set_defaults(func=on_a_directory(_verify))

    prove = commands.add_parser(
        "prove",
        help="inclusion proof of a quote against the latest checkpoint",
        description="Print an inclusion proof: the record, its leaf index, the tree size, "
        "the audit path and the signed checkpoint.",
    )
    prove.add_argument("logdir", type=log_target, metavar="LOGDIR", help=LOGDIR_HELP)
    prove.add_argument("quote_id", nargs="?", metavar="QUOTE_ID")
    prove.add_argument("--seq", type=int, help="prove the record with this seq instead")
    prove.add_argument(
        "--checkpoint", type=Path, metavar="FILE", help="prove against this checkpoint"
    )
    prove.add_argument("--json", action="store_true", help="print the proof file JSON")
    prove.add_argument("--out", type=Path, metavar="FILE", help="write the proof file here")
    prove.set_defaults(func=on_a_directory(_prove))

    consistency = commands.add_parser(
        "consistency",
        help="consistency proof between two checkpoints",
        description="Print a proof that the newer checkpoint's tree extends the older's.",
    )
    consistency.add_argument("logdir", type=log_target, metavar="LOGDIR", help=LOGDIR_HELP)
    consistency.add_argument("old", type=Path, metavar="OLD_CHECKPOINT_FILE")
    consistency.add_argument("new", type=Path, metavar="NEW_CHECKPOINT_FILE")
    consistency.add_argument("--json", action="store_true", help="print the proof file JSON")
    consistency.add_argument("--out", type=Path, metavar="FILE", help="write the proof file")
    consistency.set_defaults(func=on_a_directory(_consistency))

    export = commands.add_parser(
        "export",
        help="write a PostgreSQL audit log as a log directory",
        description="Write the records, checkpoints, policy archive and public key of the "
        "log in DSN to the new directory OUTDIR (one consistent snapshot; no secret).",
    )
    export.add_argument("dsn", metavar="DSN", help="postgresql://...")
    export.add_argument("outdir", type=Path, metavar="OUTDIR")
    export.set_defaults(func=export_command)

    verify_proof = commands.add_parser(
        "verify-proof",
        help="check an inclusion or consistency proof file with the public key",
        description="Check a proof file with nothing but the log's public key.",
    )
    verify_proof.add_argument("proof", type=Path, metavar="PROOF_FILE")
    verify_proof.add_argument("--public-key", required=True, type=Path, metavar="FILE")
    verify_proof.add_argument("--json", action="store_true", help="print the result as JSON")
    verify_proof.set_defaults(func=_verify_proof)

    add_replay_command(commands)
    return commands


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _keygen(args: argparse.Namespace) -> int:
    try:
        skey, vkey = write_keypair(args.name, args.out)
    except (FileExistsError, NoteError, OSError) as exc:
        return _fail(str(exc))
    print(f"signer key (secret, keep it with the service): {skey}")
    print(f"verifier key (public, give it to auditors):     {vkey}")
    return 0


# -- verify ---------------------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    try:
        verifier = load_verifier(args.public_key)
    except (OSError, NoteError) as exc:
        return _fail(f"cannot read public key {args.public_key}: {exc}")
    if not args.logdir.is_dir():
        return _fail(f"{args.logdir} is not a directory")
    show = args.progress or sys.stderr.isatty()
    with progress_bar(show, log_bytes(args.logdir), "verifying") as progress:
        report = verify_log(
            args.logdir,
            verifier,
            extra_checkpoints=args.checkpoint,
            expected_origin=args.origin,
            full=args.full,
            progress=progress,
        )
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_report(report)
    return 0 if report.ok else 1


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _print_report(report: VerifyReport) -> None:
    rate = report.records / report.seconds if report.seconds > 0 else 0.0
    counts = (
        f"{_plural(report.records, 'record')} in {_plural(report.segments, 'segment')}, "
        f"{_plural(report.checkpoints, 'signed checkpoint')} "
        f"(largest verified: {report.verified_size:,})"
    )
    for warning in report.warnings:
        print(f"warning: {warning}")
    if report.ok:
        print(f"OK: {report.origin or 'log'}: {counts}")
        if report.kinds:
            by_kind = ", ".join(f"{kind} {n:,}" for kind, n in sorted(report.kinds.items()))
            print(f"records by kind: {by_kind}")
        if report.uncovered:
            print(
                f"note: the last {report.uncovered:,} records follow the newest signed "
                "checkpoint (only their sequence was checked): not attested, so not "
                "acknowledged (the server signs every batch before it replies); a server "
                "starting on this log moves them to unattested/"
            )
        print(f"{report.seconds:.2f} s, {rate:,.0f} records/s")
        return
    print(f"FAILED: {report.origin or report.logdir}: {counts}")
    if report.first_bad_record is not None:
        print(f"first bad record: {report.first_bad_record.describe()}")
    for problem in report.checkpoint_problems:
        print(f"bad checkpoint: {problem.describe()}")
    for problem in report.other_problems:
        print(f"problem: {problem.describe()}")


# -- proofs ---------------------------------------------------------------------------


def _emit_proof(doc: dict[str, Any], args: argparse.Namespace, human: Sequence[str]) -> None:
    if args.out is not None:
        write_proof(doc, args.out)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True))
    else:
        for line in human:
            print(line)
        if args.out is not None:
            print(f"proof file: {args.out}")


def _prove(args: argparse.Namespace) -> int:
    if (args.quote_id is None) == (args.seq is None):
        return _fail("give a QUOTE_ID or --seq N (not both)")
    try:
        result = prove_inclusion(
            args.logdir, quote_id=args.quote_id, seq=args.seq, checkpoint=args.checkpoint
        )
    except (AuditLogError, LookupError, ProofError, NoteError, OSError, ValueError) as exc:
        return _fail(str(exc))
    doc = result.to_document()
    human = [
        f"log:        {result.position.log_origin}",
        f"record:     {result.record.decode('utf-8')}",
        f"leaf index: {result.position.sequence}",
        f"leaf hash:  {result.position.leaf_hash}",
        f"tree size:  {result.tree_size}",
        "audit path (leaf's sibling first):",
        *(f"  {h.hex()}" for h in result.proof),
        "checkpoint:",
        *(f"  {line}" for line in result.checkpoint.splitlines()),
    ]
    _emit_proof(doc, args, human)
    return 0


def _consistency(args: argparse.Namespace) -> int:
    try:
        result = prove_consistency(args.logdir, args.old, args.new)
    except (AuditLogError, ProofError, NoteError, OSError, ValueError) as exc:
        return _fail(str(exc))
    human = [
        f"log:       {result.log_origin}",
        f"old size:  {result.old_size}",
        f"new size:  {result.new_size}",
        "consistency path:",
        *(f"  {h.hex()}" for h in result.proof),
    ]
    _emit_proof(result.to_document(), args, human)
    return 0


def _verify_proof(args: argparse.Namespace) -> int:
    try:
        verifier = load_verifier(args.public_key)
    except (OSError, NoteError) as exc:
        return _fail(f"cannot read public key {args.public_key}: {exc}")
    try:
        doc = load_proof_document(args.proof)
        check = verify_proof_document(doc, verifier)
    except (AuditLogError, ProofError, NoteError, OSError) as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}, ensure_ascii=False))
        else:
            print(f"FAILED: {exc}")
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "kind": check.kind,
                    "log_origin": check.log_origin,
                    "summary": check.summary,
                },
                ensure_ascii=False,
            )
        )
    else:
        print(f"OK: {check.summary}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pricing audit ...`` on its own (``python -m pricing_service.cli.audit``)."""
    parser = argparse.ArgumentParser(prog="pricing")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_audit_commands(subparsers)
    args = parser.parse_args(argv)
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
