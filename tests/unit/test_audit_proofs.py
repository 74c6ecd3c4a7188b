"""Proofs: cached-subtree paths equal the reference, proof files verify with only the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from audit_support import ORIGIN, forged_record, quote_id, write_log

from pricing_service.audit.compact import fold, push_leaf
from pricing_service.audit.errors import NotYetCheckpointedError, QuoteNotFoundError
from pricing_service.audit.keys import load_verifier, write_keypair
from pricing_service.audit.leafhashes import LeafHashes
from pricing_service.audit.merkle import (
    CompactRange,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
)
from pricing_service.audit.note import NoteError
from pricing_service.audit.prove import (
    consistency_path,
    inclusion_path,
    prove_consistency,
    prove_inclusion,
    verify_proof_document,
)

LEAVES = [leaf_hash(bytes([i])) for i in range(70)]


@pytest.fixture
def cached(tmp_path: Path) -> LeafHashes:
    """70 leaves, chunks of 4, half flushed to the file and half still pending."""
    tree = LeafHashes(tmp_path / "leafhashes.bin", chunk_height=2, truncate=True)
    tree.append(LEAVES[:33])
    tree.flush()
    tree.append(LEAVES[33:])
    return tree


def test_cached_subtree_roots_equal_the_reference(cached: LeafHashes) -> None:
    for size in range(71):
        assert cached.range_root(0, size) == root_from_leaf_hashes(LEAVES[:size])


def test_cached_inclusion_paths_equal_the_reference(cached: LeafHashes) -> None:
    for size in range(1, 71):
        for index in range(size):
            assert inclusion_path(cached, index, size) == inclusion_proof(LEAVES, index, size)


def test_cached_consistency_paths_equal_the_reference(cached: LeafHashes) -> None:
    for new in range(1, 71):
        for old in range(1, new + 1):
            assert consistency_path(cached, old, new) == consistency_proof(LEAVES, old, new)


def test_leaf_hash_file_reloads_with_the_same_chunk_roots(
    cached: LeafHashes, tmp_path: Path
) -> None:
    cached.flush()
    reloaded = LeafHashes(tmp_path / "leafhashes.bin", chunk_height=2, writable=False)
    assert reloaded.size == 70
    assert inclusion_path(reloaded, 5, 70) == inclusion_proof(LEAVES, 5, 70)


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    """A closed log of 21 records with checkpoints at 1..21."""
    write_log(tmp_path / "log", 21).close()
    return tmp_path / "log"


def test_inclusion_proof_file_verifies_with_only_the_public_key(logdir: Path) -> None:
    doc = prove_inclusion(logdir, quote_id=quote_id(9)).to_document()
    check = verify_proof_document(doc, load_verifier(logdir / "audit.vkey"))
    assert check.summary == (
        f"quote {quote_id(9)} is record 9 of {ORIGIN}, in its signed tree of 21 records"
    )
    assert (doc["kind"], doc["leaf_index"], doc["tree_size"]) == ("inclusion", 9, 21)
    assert json.loads(doc["record"])["seq"] == 9


def _tampered(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**doc, **changes}


def test_tampered_inclusion_proofs_are_rejected(logdir: Path) -> None:
    verifier = load_verifier(logdir / "audit.vkey")
    doc = prove_inclusion(logdir, seq=9).to_document()
    record = doc["record"].replace('"3.45"', '"2.45"')
    path = list(doc["inclusion_path"])
    path[0] = "00" * 32
    other = prove_inclusion(logdir, seq=10).to_document()
    for bad in (
        _tampered(doc, record=record, leaf_hash=None),
        _tampered(doc, inclusion_path=path),
        _tampered(doc, leaf_index=10),
        _tampered(doc, record=other["record"], leaf_hash=other["leaf_hash"]),
        _tampered(doc, tree_size=20),
    ):
        with pytest.raises(ProofError):
            verify_proof_document(bad, verifier)


def test_proof_checked_with_another_key_is_rejected(logdir: Path, tmp_path: Path) -> None:
    _, vkey = write_keypair(ORIGIN, tmp_path / "other")
    doc = prove_inclusion(logdir, seq=3).to_document()
    with pytest.raises(NoteError, match="no verifiable signatures"):
        verify_proof_document(doc, load_verifier(vkey))


def test_consistency_proof_file_verifies_and_detects_a_fork(logdir: Path) -> None:
    verifier = load_verifier(logdir / "audit.vkey")
    old = logdir / "checkpoints" / f"{6:020d}.note"
    new = logdir / "checkpoint.latest"
    doc = prove_consistency(logdir, old, new).to_document()
    assert (doc["old_size"], doc["new_size"]) == (6, 21)
    assert verify_proof_document(doc, verifier).summary == (
        f"the tree of 21 records of {ORIGIN} extends its tree of 6"
    )
    swapped = prove_consistency(logdir, new, old).to_document()
    assert swapped["consistency_path"] == doc["consistency_path"]
    forged = _tampered(doc, consistency_path=[*doc["consistency_path"][:-1], "11" * 32])
    with pytest.raises(ProofError):
        verify_proof_document(forged, verifier)


def test_proofs_survive_a_missing_or_damaged_leaf_hash_sidecar(logdir: Path) -> None:
    expected = prove_inclusion(logdir, seq=13)
    sidecar = logdir / "leafhashes.bin"
    sidecar.write_bytes(b"\x01" * sidecar.stat().st_size)
    assert prove_inclusion(logdir, seq=13) == expected
    sidecar.unlink()
    assert prove_inclusion(logdir, seq=13) == expected


def test_prove_unknown_quote_or_uncovered_record_fails_clearly(tmp_path: Path) -> None:
    # The server signs every batch before acknowledging it, so a record after the newest
    # checkpoint is one it never acknowledged: here, appended while it is down.
    write_log(tmp_path, 3).close()
    with (tmp_path / "segments" / f"{0:020d}.jsonl").open("ab") as f:
        f.write(forged_record(3) + b"\n")
    with pytest.raises(QuoteNotFoundError):
        prove_inclusion(tmp_path, quote_id="q_nope")
    with pytest.raises(NotYetCheckpointedError, match="record 3 is not yet covered"):
        prove_inclusion(tmp_path, quote_id=quote_id(3))


def test_tight_loop_compact_range_equals_the_checked_one() -> None:
    stack: list[bytes] = []
    reference = CompactRange()
    for size, h in enumerate(LEAVES):
        assert fold(stack) == reference.root() == root_from_leaf_hashes(LEAVES[:size])
        push_leaf(stack, size, h)
        reference.append(h)
        assert stack == reference.hashes()
