"""RFC 6962 Merkle tree: conformance vectors, an independent reference, adversarial proofs.

The vectors are transparency-dev/merkle's testdata, kept in the shared folder beside the
repository (``<repo>/../shared/vectors/rfc6962``, or ``$RFC6962_VECTORS``). Their absence
is a failure, not a skip: CI clones the repository with ``shared/`` beside it, and a
verifier that was never run against the mutated vectors is exactly how immudb shipped one
that accepted falsified proofs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing_service.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_consistency_proof,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# --------------------------------------------------------------------------------------
# Locating the vectors


def _vectors_dir() -> Path:
    env = os.environ.get("RFC6962_VECTORS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "vectors" / "rfc6962"


VECTORS = _vectors_dir()
_PRESENT = (VECTORS / "inclusion").is_dir() and (VECTORS / "consistency").is_dir()
_MISSING_MSG = (
    f"RFC 6962 vectors not found at {VECTORS}: clone the shared folder beside the repository "
    "or set RFC6962_VECTORS"
)

# Exact counts guard against a partial copy silently shrinking the adversarial suite.
EXPECTED_FILE_COUNTS = {"inclusion": 98, "consistency": 98}


def _vector_params(kind: str) -> list[Any]:
    if not _PRESENT:
        # One failing placeholder per kind instead of zero silently-collected tests.
        return [pytest.param(None, id=f"{kind}-vectors-missing")]
    base = VECTORS / kind
    return [
        pytest.param(p, id=p.relative_to(base).as_posix()) for p in sorted(base.rglob("*.json"))
    ]


def _require_vectors() -> None:
    if not _PRESENT:
        pytest.fail(_MISSING_MSG)


def _b64(value: str | None) -> bytes:
    assert value is not None
    return base64.b64decode(value, validate=True)


def _proof(value: list[str] | None) -> list[bytes]:
    return [_b64(h) for h in value or []]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    # The README's contract: happy paths verify, every other file in a numbered case folder
    # is a mutation. Checking it here means a corrupted copy fails loudly.
    if path.name == "happy-path.json":
        assert data["wantErr"] is False, f"{path}: a happy path must have wantErr false"
    elif path.parent.name.isdigit() and path.parent.parent.name in {"inclusion", "consistency"}:
        assert data["wantErr"] is True, f"{path}: a mutation must have wantErr true"
    return data


# --------------------------------------------------------------------------------------
# The README tree: eight leaves and the roots of every prefix

README_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
README_LEAF_HASHES = [leaf_hash(d) for d in README_LEAVES]
README_ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


# --------------------------------------------------------------------------------------
# An independent reference: RFC 6962 §2.1 written out recursively, on leaf data


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return _sha256(b"\x00" + d[0])
    k = _split(n)
    return _sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if complete else [ref_mth(d)]
    k = _split(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], complete), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def _data(n: int) -> list[bytes]:
    """Leaf data for generated trees: the README leaves, then distinct filler."""
    return README_LEAVES[:n] + [b"leaf %d" % i for i in range(len(README_LEAVES), n)]


GEN_MAX = 33
GEN_DATA = _data(GEN_MAX)
GEN_HASHES = [leaf_hash(d) for d in GEN_DATA]
GEN_ROOTS = [ref_mth(GEN_DATA[:n]) for n in range(GEN_MAX + 1)]


def _flip(proof: list[bytes], i: int, j: int) -> list[bytes]:
    """``proof`` with one bit of byte ``j`` of element ``i`` flipped (bit varies with j)."""
    mutated = bytearray(proof[i])
    mutated[j] ^= 1 << (j % 8)
    return [*proof[:i], bytes(mutated), *proof[i + 1 :]]


# --------------------------------------------------------------------------------------
# Vectors


def test_vectors_present_and_complete() -> None:
    _require_vectors()
    for kind, want in EXPECTED_FILE_COUNTS.items():
        got = len(list((VECTORS / kind).rglob("*.json")))
        assert got == want, f"{kind}: {got} vector files, want {want}"
    for kind, want_dirs in {
        "inclusion": {"0", "1", "2", "3", "4", "additional", "single-entry"},
        "consistency": {"0", "1", "2", "3", "4", "additional"},
    }.items():
        assert {p.name for p in (VECTORS / kind).iterdir() if p.is_dir()} == want_dirs


def test_readme_roots_match_constants() -> None:
    _require_vectors()
    readme = (VECTORS / "README.md").read_text(encoding="utf-8")
    for size, root in README_ROOTS.items():
        assert f"{size} {root}" in readme


@pytest.mark.parametrize("path", _vector_params("inclusion"))
def test_inclusion_vector(path: Path | None) -> None:
    _require_vectors()
    assert path is not None
    v = _load(path)
    leaf, index, size = _b64(v["leafHash"]), v["leafIdx"], v["treeSize"]
    proof, root = _proof(v["proof"]), _b64(v["root"])
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, proof, root)
        return
    verify_inclusion(leaf, index, size, proof, root)
    assert root_from_inclusion_proof(leaf, index, size, proof) == root
    # Where the vector is about the README tree, our prover must produce the same path.
    if size <= len(README_LEAVES) and root.hex() == README_ROOTS[size]:
        assert leaf == README_LEAF_HASHES[index]
        assert inclusion_proof(README_LEAF_HASHES, index, size) == proof


@pytest.mark.parametrize("path", _vector_params("consistency"))
def test_consistency_vector(path: Path | None) -> None:
    _require_vectors()
    assert path is not None
    v = _load(path)
    size1, size2, proof = v["size1"], v["size2"], _proof(v["proof"])
    root1, root2 = _b64(v["root1"]), _b64(v["root2"])
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof, root1, root2)
        return
    verify_consistency(size1, size2, proof, root1, root2)
    if (
        size2 <= len(README_LEAVES)
        and root1.hex() == README_ROOTS[size1]
        and root2.hex() == README_ROOTS[size2]
    ):
        assert consistency_proof(README_LEAF_HASHES, size1, size2) == proof


# --------------------------------------------------------------------------------------
# Hashing and roots


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == README_ROOTS[0]
    assert leaf_hash(b"").hex() == README_ROOTS[1]
    assert leaf_hash(b"data") == _sha256(b"\x00data")
    assert node_hash(b"L" * 32, b"R" * 32) == _sha256(b"\x01" + b"L" * 32 + b"R" * 32)
    # Domain separation: a leaf whose data looks like two child hashes is not that node.
    assert leaf_hash(b"\x01" + b"L" * 32 + b"R" * 32) != node_hash(b"L" * 32, b"R" * 32)


@pytest.mark.parametrize("size", sorted(README_ROOTS))
def test_readme_root(size: int) -> None:
    assert root_from_leaf_hashes(README_LEAF_HASHES[:size]).hex() == README_ROOTS[size]
    cr = CompactRange()
    for h in README_LEAF_HASHES[:size]:
        cr.append(h)
    assert cr.size == size
    assert cr.root().hex() == README_ROOTS[size]


def test_compact_range_matches_root_for_sizes_0_to_70() -> None:
    data = _data(70)
    hashes = [leaf_hash(d) for d in data]
    cr = CompactRange()
    for n in range(71):
        assert cr.size == n
        assert len(cr.hashes()) == n.bit_count()
        assert cr.root() == root_from_leaf_hashes(hashes[:n]) == ref_mth(data[:n]), n
        if n < 70:
            cr.append(hashes[n])


def test_root_across_chunk_boundaries() -> None:
    # Sizes around the prover's internal chunk (4096 leaves) and its power-of-two splits.
    data = [b"%d" % i for i in range(8200)]
    hashes = [leaf_hash(d) for d in data]
    cr = CompactRange()
    sizes = {0, 1, 4095, 4096, 4097, 6000, 8191, 8192, 8193, 8200}
    for n in range(8201):
        if n in sizes:
            assert root_from_leaf_hashes(hashes[:n]) == cr.root(), n
        if n < 8200:
            cr.append(hashes[n])
    assert cr.root() == ref_mth(data)


def test_compact_range_state_round_trip() -> None:
    hashes = [leaf_hash(d) for d in _data(40)]
    for cut in range(41):
        cr = CompactRange()
        for h in hashes[:cut]:
            cr.append(h)
        restored = CompactRange.from_state(cr.size, cr.hashes())
        for h in hashes[cut:]:
            restored.append(h)
        assert restored.size == 40
        assert restored.root() == root_from_leaf_hashes(hashes), cut


def test_compact_range_copy_is_independent() -> None:
    cr = CompactRange()
    cr.append(README_LEAF_HASHES[0])
    twin = cr.copy()
    twin.append(README_LEAF_HASHES[1])
    assert cr.size == 1
    assert cr.root().hex() == README_ROOTS[1]
    assert twin.root().hex() == README_ROOTS[2]
    saved = cr.hashes()
    saved.append(b"x" * 32)  # the returned list is a copy
    assert cr.hashes() == [README_LEAF_HASHES[0]]


@pytest.mark.parametrize(
    ("size", "hashes"),
    [
        (0, [b"\x00" * 32]),
        (1, []),
        (3, [b"\x00" * 32]),
        (5, [b"\x00" * 32, b"\x00" * 32, b"\x00" * 32]),
        (2, [b"\x00" * 31]),
        (-1, []),
        (1 << 64, [b"\x00" * 32]),
    ],
)
def test_compact_range_rejects_bad_state(size: int, hashes: list[bytes]) -> None:
    with pytest.raises(ValueError, match="compact range"):
        CompactRange.from_state(size, hashes)


def test_compact_range_rejects_bad_leaf() -> None:
    cr = CompactRange()
    with pytest.raises(ValueError, match="32"):
        cr.append(b"short")
    assert cr.size == 0


# --------------------------------------------------------------------------------------
# Generated proofs: every index/size pair up to 33 leaves, against the reference


@pytest.mark.parametrize("size", range(1, GEN_MAX + 1))
def test_inclusion_all_indices(size: int) -> None:
    root = GEN_ROOTS[size]
    for index in range(size):
        leaf = GEN_HASHES[index]
        proof = inclusion_proof(GEN_HASHES, index, size)
        assert proof == ref_path(index, GEN_DATA[:size])
        verify_inclusion(leaf, index, size, proof, root)

        for i in range(len(proof)):
            for j in range(32):
                with pytest.raises(ProofError):
                    verify_inclusion(leaf, index, size, _flip(proof, i, j), root)
        bad_leaf = bytearray(leaf)
        bad_leaf[31] ^= 0x80
        bad_root = bytearray(root)
        bad_root[0] ^= 0x01
        adversarial: list[tuple[bytes, int, int, list[bytes], bytes]] = [
            (bytes(bad_leaf), index, size, proof, root),
            (leaf, index, size, proof, bytes(bad_root)),
            (leaf, index, size, proof, EMPTY_ROOT),
            (leaf, index, size, [*proof, root], root),
            (leaf, index, size, [root, *proof], root),
            (leaf, index, size, [*proof, b""], root),
            (leaf, index, size * 2, proof, root),
            (leaf, index, size // 2, proof, root),
            (leaf, index + 1, size, proof, root),
            (leaf, index - 1, size, proof, root),
            (leaf, index ^ 2, size, proof, root),
        ]
        if proof:
            adversarial.append((leaf, index, size, proof[:-1], root))
        # Note what is *not* here: the same root with size +- 1. RFC 6962 proofs bind the
        # size only through the root (index 0 of size 3 and of size 4 have the same proof
        # shape), so callers must take size and root from the same signed checkpoint.
        # The same proof must not verify against the root of any other size either.
        adversarial += [
            (leaf, index, other, proof, GEN_ROOTS[other])
            for other in range(index + 1, GEN_MAX + 1)
            if other != size
        ]
        for args in adversarial:
            with pytest.raises(ProofError):
                verify_inclusion(*args)


@pytest.mark.parametrize("size2", range(1, GEN_MAX + 1))
def test_consistency_all_pairs(size2: int) -> None:
    root2 = GEN_ROOTS[size2]
    for size1 in range(1, size2 + 1):
        root1 = GEN_ROOTS[size1]
        proof = consistency_proof(GEN_HASHES, size1, size2)
        assert proof == ref_subproof(size1, GEN_DATA[:size2], True)
        verify_consistency(size1, size2, proof, root1, root2)
        assert root_from_consistency_proof(size1, size2, proof, root1) == root2

        for i in range(len(proof)):
            for j in range(32):
                with pytest.raises(ProofError):
                    verify_consistency(size1, size2, _flip(proof, i, j), root1, root2)
        # As for inclusion, size2 + 1 with the same roots is not here: sizes are bound only
        # through the roots, which come from signed checkpoints.
        adversarial: list[tuple[int, int, list[bytes], bytes, bytes]] = [
            (size1 - 1, size2, proof, root1, root2),
            (size1 + 1, size2, proof, root1, root2),
            (size1 ^ 2, size2, proof, root1, root2),
            (size1, size2 * 2, proof, root1, root2),
            (size1, size2 // 2, proof, root1, root2),
            (size1, size2, [*proof, root1], root1, root2),
            (size1, size2, [root2, *proof], root1, root2),
            (size1, size2, [b"", *proof], root1, root2),
            (size1, size2, proof, root1, EMPTY_ROOT),
            (size1, size2, proof, b"WrongRoot", root2),
            (size1, size2, proof, root1, b"WrongRoot"),
        ]
        if proof:
            adversarial += [
                (size1, size2, proof[:-1], root1, root2),
                (size1, size2, [], root1, root2),
                (size1, size2, proof, root2, root1),
                (size1, size2, [proof[0], *proof], root1, root2),
            ]
        # Roots of other sizes must not pass for these sizes.
        adversarial += [
            (size1, size2, proof, GEN_ROOTS[other], root2)
            for other in range(1, GEN_MAX + 1)
            if other != size1
        ]
        adversarial += [
            (size1, size2, proof, root1, GEN_ROOTS[other])
            for other in range(1, GEN_MAX + 1)
            if other != size2
        ]
        for args in adversarial:
            with pytest.raises(ProofError):
                verify_consistency(*args)


def test_consistency_from_empty_tree() -> None:
    # Every tree extends the empty tree; there is nothing to prove, and a verifier that
    # "verified" such a proof would have checked nothing.
    for size2 in (0, 1, 5):
        with pytest.raises(ProofError, match="empty tree"):
            verify_consistency(0, size2, [], EMPTY_ROOT, GEN_ROOTS[size2])
        with pytest.raises(ValueError, match="old size"):
            consistency_proof(GEN_HASHES, 0, size2)


def test_equal_sizes_need_empty_proof_and_equal_roots() -> None:
    for size in range(1, 10):
        assert consistency_proof(GEN_HASHES, size, size) == []
        verify_consistency(size, size, [], GEN_ROOTS[size], GEN_ROOTS[size])
        with pytest.raises(ProofError):
            verify_consistency(size, size, [], GEN_ROOTS[size], GEN_ROOTS[size + 1])
        with pytest.raises(ProofError):
            verify_consistency(size, size, [GEN_ROOTS[size]], GEN_ROOTS[size], GEN_ROOTS[size])


# --------------------------------------------------------------------------------------
# Property tests on larger random trees


@settings(max_examples=150, deadline=None)
@given(
    salt=st.binary(max_size=8),
    size=st.integers(min_value=1, max_value=600),
    data=st.data(),
)
def test_property_inclusion(salt: bytes, size: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(salt + i.to_bytes(4, "big")) for i in range(size)]
    root = root_from_leaf_hashes(hashes)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = inclusion_proof(hashes, index, size)
    verify_inclusion(hashes[index], index, size, proof, root)
    if not proof:
        return
    i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="element")
    j = data.draw(st.integers(min_value=0, max_value=31), label="byte")
    bit = data.draw(st.integers(min_value=0, max_value=7), label="bit")
    mutated = bytearray(proof[i])
    mutated[j] ^= 1 << bit
    with pytest.raises(ProofError):
        verify_inclusion(
            hashes[index], index, size, [*proof[:i], bytes(mutated), *proof[i + 1 :]], root
        )
    other = data.draw(st.integers(min_value=0, max_value=size - 1), label="other index")
    if other != index:
        with pytest.raises(ProofError):
            verify_inclusion(hashes[index], other, size, proof, root)
        with pytest.raises(ProofError):
            verify_inclusion(hashes[other], index, size, proof, root)


@settings(max_examples=150, deadline=None)
@given(
    salt=st.binary(max_size=8),
    size2=st.integers(min_value=2, max_value=600),
    data=st.data(),
)
def test_property_consistency(salt: bytes, size2: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(salt + i.to_bytes(4, "big")) for i in range(size2)]
    size1 = data.draw(st.integers(min_value=1, max_value=size2 - 1), label="size1")
    root1 = root_from_leaf_hashes(hashes[:size1])
    root2 = root_from_leaf_hashes(hashes)
    proof = consistency_proof(hashes, size1, size2)
    verify_consistency(size1, size2, proof, root1, root2)
    i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="element")
    j = data.draw(st.integers(min_value=0, max_value=31), label="byte")
    bit = data.draw(st.integers(min_value=0, max_value=7), label="bit")
    mutated = bytearray(proof[i])
    mutated[j] ^= 1 << bit
    with pytest.raises(ProofError):
        verify_consistency(
            size1, size2, [*proof[:i], bytes(mutated), *proof[i + 1 :]], root1, root2
        )
    # A log that rewrote any one old leaf cannot prove consistency with the old root.
    k = data.draw(st.integers(min_value=0, max_value=size1 - 1), label="rewritten leaf")
    forged = [*hashes[:k], leaf_hash(b"forged"), *hashes[k + 1 :]]
    forged_proof = consistency_proof(forged, size1, size2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, forged_proof, root1, root_from_leaf_hashes(forged))


# --------------------------------------------------------------------------------------
# Leaf sources: anything indexable, never copied whole


class IndexOnly(Sequence[bytes]):
    """A sequence that allows integer indexing only, and counts it."""

    def __init__(self, items: list[bytes]) -> None:
        self._items = items
        self.reads = 0

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[bytes]: ...
    def __getitem__(self, i: int | slice) -> bytes | Sequence[bytes]:
        if not isinstance(i, int):
            raise TypeError("slicing would copy the log")
        self.reads += 1
        return self._items[i]

    def __iter__(self) -> Iterator[bytes]:
        raise TypeError("iterating would read the log whole in one go")


def test_index_only_sequence() -> None:
    hashes = [leaf_hash(b"%d" % i) for i in range(5000)]
    src = IndexOnly(hashes)
    assert root_from_leaf_hashes(src) == root_from_leaf_hashes(hashes)
    assert src.reads == 5000  # each leaf read once
    assert inclusion_proof(src, 4321, 4999) == inclusion_proof(hashes, 4321, 4999)
    assert consistency_proof(src, 777, 5000) == consistency_proof(hashes, 777, 5000)


def test_numpy_views() -> None:
    hashes = [leaf_hash(b"%d" % i) for i in range(300)]
    # A leaf hash ending in NUL bytes: numpy 'S32' elements would lose them when indexed.
    hashes[7] = b"\xab" * 30 + b"\x00\x00"
    rows = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(300, 32)
    s32 = np.frombuffer(b"".join(hashes), dtype="S32")
    want_root = root_from_leaf_hashes(hashes)
    want_incl = inclusion_proof(hashes, 7, 300)
    want_cons = consistency_proof(hashes, 100, 300)
    for src in (rows, s32, rows[:, :]):
        assert root_from_leaf_hashes(src) == want_root
        assert inclusion_proof(src, 7, 300) == want_incl
        assert consistency_proof(src, 100, 300) == want_cons
    # A non-contiguous view goes through per-row indexing and still agrees.
    doubled = np.repeat(rows, 2, axis=0)[::2]
    assert not doubled.flags.c_contiguous
    assert root_from_leaf_hashes(doubled) == want_root


def test_bad_leaf_sources() -> None:
    with pytest.raises(TypeError, match="flat bytes"):
        root_from_leaf_hashes(b"\x00" * 64)  # a flat blob, not a sequence of hashes
    with pytest.raises(ValueError, match="index 1 has 31 bytes"):
        root_from_leaf_hashes([b"\x00" * 32, b"\x00" * 31])


@pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (-1, 3), (0, 9), (0, -1)])
def test_inclusion_proof_bad_arguments(index: int, size: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(README_LEAF_HASHES, index, size)


@pytest.mark.parametrize(("old", "new"), [(3, 2), (1, 9), (-1, 3)])
def test_consistency_proof_bad_arguments(old: int, new: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        consistency_proof(README_LEAF_HASHES, old, new)


# --------------------------------------------------------------------------------------
# Verifier input hygiene: hostile types and ranges are ProofErrors, never crashes


def test_verifiers_reject_hostile_inputs() -> None:
    root3 = GEN_ROOTS[3]
    leaf = GEN_HASHES[2]
    proof = inclusion_proof(GEN_HASHES, 2, 3)
    verify_inclusion(leaf, 2, 3, proof, root3)
    hostile: list[tuple[Any, ...]] = [
        (leaf, -1, 3, proof, root3),
        (leaf, 2, 1 << 64, proof, root3),
        (leaf, True, 3, proof, root3),
        (leaf, 2.0, 3, proof, root3),
        (None, 2, 3, proof, root3),
        (leaf.hex(), 2, 3, proof, root3),
        (leaf, 2, 3, [proof[0].hex()], root3),
        (leaf, 2, 3, [None], root3),
        (leaf, 2, 3, [32], root3),
        (leaf, 2, 3, proof, None),
        (leaf, 2, 3, proof, 32),
    ]
    for args in hostile:
        with pytest.raises(ProofError):
            verify_inclusion(*args)

    c_proof = consistency_proof(GEN_HASHES, 3, 7)
    verify_consistency(3, 7, c_proof, root3, GEN_ROOTS[7])
    hostile_c: list[tuple[Any, ...]] = [
        (-3, 7, c_proof, root3, GEN_ROOTS[7]),
        (3, 1 << 64, c_proof, root3, GEN_ROOTS[7]),
        (3, 7, [h.hex() for h in c_proof], root3, GEN_ROOTS[7]),
        (3, 7, c_proof, None, GEN_ROOTS[7]),
        (3, 7, c_proof, root3, 32),
        (3, 3, [], 32, 32),
    ]
    for args in hostile_c:
        with pytest.raises(ProofError):
            verify_consistency(*args)


def test_sizes_outside_uint64_are_refused_outright() -> None:
    # Python ints never overflow; other verifiers use uint64, so a "size" they could not
    # even represent must not be a case where we behave differently.
    with pytest.raises(ProofError, match="uint64"):
        verify_inclusion(GEN_HASHES[0], -1, 3, [], GEN_ROOTS[3])
    with pytest.raises(ProofError, match="uint64"):
        verify_inclusion(GEN_HASHES[0], 0, 1 << 64, [], GEN_ROOTS[1])
    with pytest.raises(ProofError, match="uint64"):
        verify_consistency(-1, 3, [], GEN_ROOTS[1], GEN_ROOTS[3])


def test_error_messages_name_the_problem() -> None:
    proof = inclusion_proof(GEN_HASHES, 2, 5)
    with pytest.raises(ProofError, match=r"wrong inclusion proof length 2, want 3"):
        verify_inclusion(GEN_HASHES[2], 2, 5, proof[:2], GEN_ROOTS[5])
    with pytest.raises(ProofError, match=r"leads to root .* not the expected"):
        verify_inclusion(GEN_HASHES[3], 2, 5, proof, GEN_ROOTS[5])
    with pytest.raises(ProofError, match=r"beyond tree size"):
        verify_inclusion(GEN_HASHES[2], 5, 5, proof, GEN_ROOTS[5])
    c_proof = consistency_proof(GEN_HASHES, 3, 5)
    with pytest.raises(ProofError, match=r"old root"):
        verify_consistency(3, 5, c_proof, GEN_ROOTS[4], GEN_ROOTS[5])
    with pytest.raises(ProofError, match=r"new root"):
        verify_consistency(3, 5, c_proof, GEN_ROOTS[3], GEN_ROOTS[6])
    with pytest.raises(ProofError, match=r"cannot shrink"):
        verify_consistency(5, 3, c_proof, GEN_ROOTS[5], GEN_ROOTS[3])
