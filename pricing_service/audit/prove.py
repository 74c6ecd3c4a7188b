"""Inclusion and consistency proofs: computing them, the proof file, checking one.

A bank proves one quote is in the log without handing over the log: an inclusion proof
(the record, its leaf index, the audit path) against a signed checkpoint. Two
checkpoints are proven to be versions of one append-only log by a consistency proof.
Both are checked with nothing but the log's public key (`verify_proof_document`).

Proof file format (JSON, UTF-8; hashes in lower-case hex)::

    {"format": "ecoloan-audit-proof/v1", "kind": "inclusion",
     "log_origin": str, "leaf_index": int, "tree_size": int,
     "leaf_hash": hex, "inclusion_path": [hex, ...],   # leaf's sibling first
     "record": str,                                     # its UTF-8 bytes are the leaf data
     "checkpoint": str}                                 # the signed note, verbatim

    {"format": "ecoloan-audit-proof/v1", "kind": "consistency",
     "log_origin": str, "old_size": int, "new_size": int,
     "consistency_path": [hex, ...],
     "old_checkpoint": str, "new_checkpoint": str}
"""

from __future__ import annotations

import bisect
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from pricing_service.audit.checkpoints import CheckpointStore, note_text
from pricing_service.audit.errors import (
    NotYetCheckpointedError,
    ProofFormatError,
    QuoteNotFoundError,
)
from pricing_service.audit.leafhashes import LEAF_HASHES_FILE, LeafHashes
from pricing_service.audit.merkle import (
    HASH_SIZE,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from pricing_service.audit.note import Verifier, parse_checkpoint, verify_checkpoint
from pricing_service.audit.reader import iter_lines
from pricing_service.audit.record import quote_id_of
from pricing_service.audit.segments import list_segments
from pricing_service.audit.sink import AuditPosition

__all__ = [
    "PROOF_FORMAT",
    "ConsistencyProofResult",
    "InclusionProofResult",
    "ProofCheck",
    "RangeRoots",
    "consistency_path",
    "inclusion_path",
    "load_proof_document",
    "prove_consistency",
    "prove_inclusion",
    "read_checkpoint_file",
    "read_one_checkpoint",
    "verify_proof_document",
    "write_proof",
]

PROOF_FORMAT: Final = "ecoloan-audit-proof/v1"
_REBUILD_BATCH: Final = 65536


class RangeRoots(Protocol):
    """Anything that can give the RFC 6962 root of a range of leaves."""

    def range_root(self, lo: int, hi: int) -> bytes:
        """MTH of leaves ``lo .. hi-1``."""


def inclusion_path(tree: RangeRoots, index: int, size: int) -> list[bytes]:
    """RFC 6962 §2.1.1 audit path of leaf `index` in the tree of `size` leaves.

    The same descent as `merkle.inclusion_proof`, over `RangeRoots` so that a cached
    tree (`LeafHashes`) answers in O(chunk + size/chunk) hashes rather than O(size).
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside [0, {size})")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        if index < lo + k:
            path.append(tree.range_root(lo + k, hi))
            hi = lo + k
        else:
            path.append(tree.range_root(lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_path(tree: RangeRoots, old_size: int, new_size: int) -> list[bytes]:
    """RFC 6962 §2.1.2 consistency proof from `old_size` to `new_size` leaves.

    The same SUBPROOF walk as `merkle.consistency_proof`; requires
    ``0 < old_size <= new_size``.
    """
    if not 0 < old_size <= new_size:
        raise ValueError(f"need 0 < old size ({old_size}) <= new size ({new_size})")
    proof: list[bytes] = []
    lo, m, n = 0, old_size, new_size
    complete = True
    while m != n:
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            proof.append(tree.range_root(lo + k, lo + n))
            n = k
        else:
            proof.append(tree.range_root(lo, lo + k))
            lo, m, n = lo + k, m - k, n - k
            complete = False
    if not complete:
        proof.append(tree.range_root(lo, lo + m))
    proof.reverse()
    return proof


@dataclass(frozen=True, slots=True)
class InclusionProofResult:
    """A record's inclusion proof against a signed checkpoint (what GetQuoteProof returns)."""

    position: AuditPosition
    """The record's log origin, sequence number (leaf index) and hex leaf hash."""
    checkpoint: str
    """The signed checkpoint note the proof is against, verbatim."""
    tree_size: int
    """The checkpoint's tree size."""
    proof: tuple[bytes, ...]
    """RFC 6962 audit path, the leaf's sibling first."""
    record: bytes
    """The canonical record bytes (the leaf data)."""

    def to_document(self) -> dict[str, Any]:
        """The proof as a proof-file JSON object (see the module docstring)."""
        return {
            "format": PROOF_FORMAT,
            "kind": "inclusion",
            "log_origin": self.position.log_origin,
            "leaf_index": self.position.sequence,
            "tree_size": self.tree_size,
            "leaf_hash": self.position.leaf_hash,
            "inclusion_path": [h.hex() for h in self.proof],
            "record": self.record.decode("utf-8"),
            "checkpoint": self.checkpoint,
        }


@dataclass(frozen=True, slots=True)
class ConsistencyProofResult:
    """A consistency proof between two signed checkpoints of one log."""

    log_origin: str
    old_size: int
    new_size: int
    proof: tuple[bytes, ...]
    old_checkpoint: str
    new_checkpoint: str

    def to_document(self) -> dict[str, Any]:
        """The proof as a proof-file JSON object (see the module docstring)."""
        return {
            "format": PROOF_FORMAT,
            "kind": "consistency",
            "log_origin": self.log_origin,
            "old_size": self.old_size,
            "new_size": self.new_size,
            "consistency_path": [h.hex() for h in self.proof],
            "old_checkpoint": self.old_checkpoint,
            "new_checkpoint": self.new_checkpoint,
        }


# -- proving from a log directory (offline, the CLI) -----------------------------------


@dataclass(frozen=True, slots=True)
class _Located:
    seq: int
    raw: bytes


def _locate_by_quote_id(logdir: Path, quote_id: str) -> _Located:
    for line in iter_lines(logdir):
        if line.complete and quote_id_of(line.raw) == quote_id:
            data = json.loads(line.raw)
            if (data.get("response") or {}).get("quote_id") == quote_id:
                return _Located(int(data["seq"]), line.raw)
    raise QuoteNotFoundError(quote_id)


def _locate_by_seq(logdir: Path, seq: int) -> _Located:
    segments, _ = list_segments(logdir)
    starts = [s.first_seq for s in segments]
    i = bisect.bisect_right(starts, seq) - 1
    if i >= 0:
        position = segments[i].first_seq
        for line in iter_lines(logdir, [segments[i]]):
            if position == seq and line.complete:
                return _Located(seq, line.raw)
            position += 1
    raise LookupError(f"no record with seq {seq} in {logdir}")


@contextmanager
def _leaf_hashes_for(logdir: Path, size: int, root: bytes) -> Iterator[LeafHashes]:
    """Leaf hashes of the tree of `size` leaves with `root`: the sidecar if it matches.

    The sidecar is not fsynced and never trusted; if it is short or does not lead to
    `root`, the hashes are rebuilt from the segments into a temporary file, in constant
    memory. Raises ProofError if even the segments do not lead to `root`.
    """
    sidecar = logdir / LEAF_HASHES_FILE
    if sidecar.exists():
        tree = LeafHashes(sidecar, writable=False)
        try:
            if tree.size >= size and tree.range_root(0, size) == root:
                yield tree
                return
        finally:
            tree.close()
    with tempfile.TemporaryDirectory(prefix="audit-leafhashes-") as tmp:
        tree = LeafHashes(Path(tmp) / LEAF_HASHES_FILE, truncate=True)
        try:
            batch: list[bytes] = []
            for count, line in enumerate(iter_lines(logdir)):
                if count == size or not line.complete:
                    break
                batch.append(leaf_hash(line.raw))
                if len(batch) >= _REBUILD_BATCH:
                    tree.append(batch)
                    tree.flush()
                    batch = []
            tree.append(batch)
            tree.flush()
            if tree.size < size or tree.range_root(0, size) != root:
                raise ProofError(
                    f"the log's segments do not match its checkpoint of size {size}: "
                    "run `pricing audit verify`"
                )
            yield tree
        finally:
            tree.close()


def _read_note(path_or_note: Path | str | None, logdir: Path) -> str:
    if path_or_note is None:
        note = CheckpointStore(logdir).latest_note()
        if note is None:
            raise NotYetCheckpointedError(0, 0)
        return note
    if isinstance(path_or_note, Path):
        return read_one_checkpoint(path_or_note)
    return path_or_note


# -- checkpoints an auditor kept ---------------------------------------------------------


def read_checkpoint_file(path: Path) -> list[str]:
    """The signed checkpoint notes in a file: a bare note, or the checkpoint(s) of a proof.

    Auditors keep checkpoints as they got them: inside proof files (one in an inclusion
    proof, two in a consistency proof), or cut out of one with ``jq -r .checkpoint``,
    which appends a newline. Nothing after a note's last signature line is signed, so
    extra final newlines are dropped (and a missing one restored): the note is the same.
    The notes are returned unverified. Raises ProofFormatError for JSON that is not a
    proof document, OSError or UnicodeDecodeError for a file that cannot be read.
    """
    text = Path(path).read_text(encoding="utf-8")
    # A note starts with its origin line, never with "{": a JSON object is a proof file.
    if text.lstrip().startswith("{"):
        return _proof_checkpoints(_parse_proof_document(text, path))
    return [text.rstrip("\n") + "\n"]


def read_one_checkpoint(path: Path) -> str:
    """The one checkpoint note in a file (see `read_checkpoint_file`)."""
    notes = read_checkpoint_file(path)
    if len(notes) != 1:
        raise ProofFormatError(
            f"{path} is a consistency proof, with two checkpoints: give one of them"
        )
    return notes[0]


def _proof_checkpoints(doc: Mapping[str, Any]) -> list[str]:
    kind = doc.get("kind")
    if kind == "inclusion":
        return [_field(doc, "checkpoint", str)]
    if kind == "consistency":
        return [_field(doc, "old_checkpoint", str), _field(doc, "new_checkpoint", str)]
    raise ProofFormatError(f"unknown proof kind {kind!r}")


def prove_inclusion(
    logdir: Path,
    *,
    quote_id: str | None = None,
    seq: int | None = None,
    checkpoint: Path | str | None = None,
) -> InclusionProofResult:
    """Inclusion proof of a record (by quote id or seq) against a checkpoint of the log.

    `checkpoint` is a note file or note text; the log's latest checkpoint by default.
    The proof is checked against the checkpoint's root before it is returned. Raises
    QuoteNotFoundError / LookupError, NotYetCheckpointedError, ProofError.
    """
    logdir = Path(logdir)
    if (quote_id is None) == (seq is None):
        raise ValueError("give exactly one of quote_id and seq")
    located = _locate_by_quote_id(logdir, quote_id) if quote_id is not None else None
    if located is None:
        assert seq is not None  # checked above
        located = _locate_by_seq(logdir, seq)
    note = _read_note(checkpoint, logdir)
    cp = parse_checkpoint(note_text(note))
    if located.seq >= cp.size:
        raise NotYetCheckpointedError(located.seq, cp.size)
    leaf = leaf_hash(located.raw)
    with _leaf_hashes_for(logdir, cp.size, cp.root_hash) as tree:
        path = inclusion_path(tree, located.seq, cp.size)
    verify_inclusion(leaf, located.seq, cp.size, path, cp.root_hash)
    return InclusionProofResult(
        position=AuditPosition(cp.origin, located.seq, leaf.hex()),
        checkpoint=note,
        tree_size=cp.size,
        proof=tuple(path),
        record=located.raw,
    )


def prove_consistency(logdir: Path, old: Path | str, new: Path | str) -> ConsistencyProofResult:
    """Consistency proof between two checkpoints (note files or texts) of the log.

    Checked against both roots before it is returned. Raises ProofError if the log does
    not contain the newer tree or the two checkpoints are not of one log.
    """
    logdir = Path(logdir)
    old_note, new_note = _read_note(old, logdir), _read_note(new, logdir)
    old_cp = parse_checkpoint(note_text(old_note))
    new_cp = parse_checkpoint(note_text(new_note))
    if old_cp.origin != new_cp.origin:
        raise ProofError(f"checkpoints of different logs: {old_cp.origin} and {new_cp.origin}")
    if old_cp.size > new_cp.size:
        old_cp, new_cp, old_note, new_note = new_cp, old_cp, new_note, old_note
    path: list[bytes] = []
    if old_cp.size > 0:
        with _leaf_hashes_for(logdir, new_cp.size, new_cp.root_hash) as tree:
            path = consistency_path(tree, old_cp.size, new_cp.size)
        verify_consistency(old_cp.size, new_cp.size, path, old_cp.root_hash, new_cp.root_hash)
    return ConsistencyProofResult(
        new_cp.origin, old_cp.size, new_cp.size, tuple(path), old_note, new_note
    )


# -- checking a proof file with only the public key -------------------------------------


@dataclass(frozen=True, slots=True)
class ProofCheck:
    """What a verified proof establishes, for the report."""

    kind: str
    log_origin: str
    summary: str


def load_proof_document(path: Path) -> dict[str, Any]:
    """Read a proof file; raises ProofFormatError if it is not a proof document."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProofFormatError(f"{path} is not JSON: {exc}") from exc
    return _parse_proof_document(text, path)


def _parse_proof_document(text: str, path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ProofFormatError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != PROOF_FORMAT:
        raise ProofFormatError(f"{path} is not a {PROOF_FORMAT} document")
    return doc


def _field(doc: Mapping[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProofFormatError(f"proof field {name!r} must be a {kind.__name__}")
    return value


def _hashes(doc: Mapping[str, Any], name: str) -> list[bytes]:
    items = _field(doc, name, list)
    out: list[bytes] = []
    for i, item in enumerate(items):
        try:
            h = bytes.fromhex(item) if isinstance(item, str) else b""
        except ValueError:
            h = b""
        if len(h) != HASH_SIZE or item != h.hex():
            raise ProofFormatError(f"{name}[{i}] is not a lower-case hex SHA-256")
        out.append(h)
    return out


def verify_proof_document(doc: Mapping[str, Any], verifier: Verifier) -> ProofCheck:
    """Check an inclusion or consistency proof document with only the log's public key.

    Raises NoteError (a checkpoint not signed by `verifier`), ProofError (the proof does
    not lead to the signed root) or ProofFormatError (malformed document).
    """
    if doc.get("format") != PROOF_FORMAT:
        raise ProofFormatError(f"not a {PROOF_FORMAT} document")
    kind = doc.get("kind")
    if kind == "inclusion":
        return _verify_inclusion_doc(doc, verifier)
    if kind == "consistency":
        return _verify_consistency_doc(doc, verifier)
    raise ProofFormatError(f"unknown proof kind {kind!r}")


def _verify_inclusion_doc(doc: Mapping[str, Any], verifier: Verifier) -> ProofCheck:
    cp = verify_checkpoint(_field(doc, "checkpoint", str), verifier)
    index = _field(doc, "leaf_index", int)
    size = _field(doc, "tree_size", int)
    origin = _field(doc, "log_origin", str)
    record = _field(doc, "record", str).encode("utf-8")
    path = _hashes(doc, "inclusion_path")
    if size != cp.size:
        raise ProofError(f"proof claims tree size {size}, its checkpoint has {cp.size}")
    if origin != cp.origin:
        raise ProofError(f"proof claims log {origin!r}, its checkpoint is of {cp.origin!r}")
    leaf = leaf_hash(record)
    claimed = doc.get("leaf_hash")
    if claimed is not None and claimed != leaf.hex():
        raise ProofError(f"leaf_hash {claimed} is not the hash of the record ({leaf.hex()})")
    verify_inclusion(leaf, index, size, path, cp.root_hash)
    # The tree proves these bytes sit at `index`; the record must also say so itself,
    # or a record could be presented as another log's or another position's.
    try:
        data = json.loads(record)
    except ValueError as exc:
        raise ProofError("the proven record is not JSON") from exc
    if not isinstance(data, dict) or data.get("seq") != index or data.get("origin") != cp.origin:
        raise ProofError("the record's own seq/origin do not match its proven position")
    quote_id = (data.get("response") or {}).get("quote_id")
    what = f"quote {quote_id}" if quote_id else f"{data.get('kind')} record"
    return ProofCheck(
        "inclusion",
        cp.origin,
        f"{what} is record {index} of {cp.origin}, in its signed tree of {size} records",
    )


def _verify_consistency_doc(doc: Mapping[str, Any], verifier: Verifier) -> ProofCheck:
    old = verify_checkpoint(_field(doc, "old_checkpoint", str), verifier)
    new = verify_checkpoint(_field(doc, "new_checkpoint", str), verifier)
    path = _hashes(doc, "consistency_path")
    if old.origin != new.origin or _field(doc, "log_origin", str) != new.origin:
        raise ProofError("the checkpoints are not of the log the proof names")
    if _field(doc, "old_size", int) != old.size or _field(doc, "new_size", int) != new.size:
        raise ProofError("proof sizes differ from its checkpoints'")
    if old.size == 0:
        # Every tree extends the empty one; a non-empty "proof" of it is malformed.
        if path:
            raise ProofError("a proof from the empty tree must be empty")
    else:
        verify_consistency(old.size, new.size, path, old.root_hash, new.root_hash)
    return ProofCheck(
        "consistency",
        new.origin,
        f"the tree of {new.size} records of {new.origin} extends its tree of {old.size}",
    )


def write_proof(doc: Mapping[str, Any], path: Path) -> None:
    """Write a proof document as pretty-printed UTF-8 JSON."""
    text = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
