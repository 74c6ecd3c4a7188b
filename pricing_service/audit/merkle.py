"""RFC 6962 §2.1 Merkle tree hashing, proofs and proof verification.

This is the pure cryptographic core of the audit log: no I/O, no clock, stdlib only.

- Leaf hash ``SHA-256(0x00 || data)``, interior node ``SHA-256(0x01 || left || right)``,
  empty tree ``SHA-256("")`` (RFC 6962 §2.1).
- `CompactRange` keeps only the right-edge subtree roots of a tree growing from 0, so a
  writer appends in O(log n) and can persist/restore its state in O(log n) space.
- `inclusion_proof` / `consistency_proof` build RFC 6962 §2.1.1 PATH and §2.1.2 PROOF
  from a sequence of leaf hashes that is only ever indexed (it may be an mmap-backed view).
- `verify_inclusion` / `verify_consistency` are a port of transparency-dev/merkle
  ``proof/verify.go`` and raise `ProofError` on any mismatch. A verifier that accepts a
  falsified proof is the worst bug this module could have (immudb GO-2022-1117), so every
  length, range and hash is checked before anything is trusted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final, Protocol

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "LeafHashes",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT: Final[bytes] = hashlib.sha256(b"").digest()
"""Root hash of the empty tree, ``SHA-256("")``."""

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"
# Sizes and indices are uint64 in every other implementation (Go, C++, Java); keeping the
# same range means a proof we accept is one they would accept, and vice versa.
_MAX_UINT64: Final = (1 << 64) - 1
# Perfect subtrees up to this many leaves are hashed level by level with list
# comprehensions (far fewer Python-level calls than one-append-at-a-time); 4096 leaf
# hashes is ~130 KiB of transient memory, so the input is never copied whole.
_CHUNK_HEIGHT: Final = 12

_sha256 = hashlib.sha256


class LeafHashes(Protocol):
    """Where the provers read leaf hashes from: ``len()`` and integer indexing only.

    Any ``Sequence[bytes]`` fits, and so does a numpy ``(n, 32)`` uint8 or ``S32`` array
    (e.g. an np.memmap of a file of 32-byte hashes), which is not a Sequence to mypy.
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> Any: ...


class ProofError(Exception):
    """An inclusion or consistency proof failed verification (or was malformed)."""


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash ``SHA-256(0x00 || data)``."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash ``SHA-256(0x01 || left || right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _largest_pow2_below(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``): RFC 6962's split k."""
    return 1 << ((n - 1).bit_length() - 1)


def _hash_at(hashes: LeafHashes, i: int) -> bytes:
    """Fetch element ``i`` of a leaf-hash sequence as exactly 32 bytes.

    The sequence may hold bytes, memoryviews or numpy rows; ``bytes()`` normalises them.
    An int element means a flat ``bytes`` blob was passed instead of a sequence of hashes
    (``bytes(int)`` would silently produce zeros), and a short element is typically a numpy
    ``S32`` element, which drops trailing NUL bytes: both would give wrong roots silently.
    """
    item = hashes[i]
    if isinstance(item, int):
        msg = "leaf hashes must be a sequence of 32-byte hashes, not a flat bytes blob"
        raise TypeError(msg)
    h = bytes(item)
    if len(h) != HASH_SIZE:
        msg = f"leaf hash at index {i} has {len(h)} bytes, want {HASH_SIZE}"
        raise ValueError(msg)
    return h


class _LeafReader:
    """Reads runs of leaf hashes from any sequence without copying it whole.

    A C-contiguous buffer of 32-byte rows (numpy ``(n, 32)`` uint8 or ``S32`` arrays,
    np.memmap views of a hash file) is read through one flat memoryview, a chunk at a
    time: much faster than indexing row by row, and it sidesteps ``S32`` elements losing
    their trailing NUL bytes. Anything else is indexed element by element.
    """

    __slots__ = ("_flat", "_seq")

    def __init__(self, hashes: LeafHashes) -> None:
        self._seq = hashes
        self._flat: memoryview | None = None
        try:
            view = memoryview(hashes)  # type: ignore[arg-type]
        except TypeError:
            return
        rows_of_32 = (
            view.ndim == 2 and view.itemsize == 1 and view.shape == (len(hashes), 32)
        ) or (view.ndim == 1 and view.itemsize == HASH_SIZE)
        if rows_of_32 and view.c_contiguous:
            self._flat = view.cast("B")

    def run(self, start: int, stop: int) -> list[bytes]:
        """Leaf hashes ``start .. stop-1`` as a list of 32-byte ``bytes``."""
        if self._flat is not None:
            raw = self._flat[start * HASH_SIZE : stop * HASH_SIZE].tobytes()
            return [raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)]
        seq = self._seq
        items = list(map(seq.__getitem__, range(start, stop)))
        # Fast path for the common list-of-bytes case, checked with C-level maps; anything
        # else (bytes subclasses, rows, wrong sizes) goes through the strict per-item path.
        if set(map(type, items)) == {bytes} and set(map(len, items)) == {HASH_SIZE}:
            return items
        return [_hash_at(seq, i) for i in range(start, stop)]


class CompactRange:
    """The right-edge subtree roots of a Merkle tree growing from size 0.

    For a tree of ``size`` leaves it holds one perfect-subtree root per set bit of
    ``size``, left to right (largest subtree first), which is all that is needed to append
    the next leaf in O(log n) and to compute the current root hash. `hashes` and
    `from_state` let a writer persist and restore it.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        """Create the compact range of the empty tree."""
        self._size = 0
        self._hashes: list[bytes] = []

    @classmethod
    def from_state(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Restore a compact range saved with `size` and `hashes`.

        Raises ValueError if the number of hashes does not match ``size`` (one per set
        bit) or any hash is not 32 bytes, so a corrupt saved state is never extended.
        """
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _MAX_UINT64:
            msg = f"compact range size must be an integer in [0, 2**64), got {size!r}"
            raise ValueError(msg)
        restored = [bytes(h) for h in hashes]
        if len(restored) != size.bit_count():
            msg = (
                f"compact range of size {size} needs {size.bit_count()} hashes, got {len(restored)}"
            )
            raise ValueError(msg)
        for i, h in enumerate(restored):
            if len(h) != HASH_SIZE:
                msg = f"compact range hash {i} has {len(h)} bytes, want {HASH_SIZE}"
                raise ValueError(msg)
        cr = cls()
        cr._size = size
        cr._hashes = restored
        return cr

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def hashes(self) -> list[bytes]:
        """The subtree roots, largest (leftmost) first; a copy safe to persist."""
        return list(self._hashes)

    def copy(self) -> CompactRange:
        """An independent copy (e.g. to compute a tentative root before committing)."""
        return CompactRange.from_state(self._size, self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf by its leaf hash (not its data) in O(log n)."""
        h = bytes(leaf_hash)
        if len(h) != HASH_SIZE:
            msg = f"leaf hash has {len(h)} bytes, want {HASH_SIZE}"
            raise ValueError(msg)
        if self._size >= _MAX_UINT64:
            msg = "compact range is full (2**64 - 1 leaves)"
            raise OverflowError(msg)
        # Each trailing 1 bit of the old size is a perfect subtree of the same height as
        # the one being carried, so they merge like a binary increment.
        s = self._size
        while s & 1:
            h = node_hash(self._hashes.pop(), h)
            s >>= 1
        self._hashes.append(h)
        self._size += 1

    def root(self) -> bytes:
        """The RFC 6962 root hash of the tree of `size` leaves."""
        if not self._hashes:
            return EMPTY_ROOT
        # MTH splits at the largest power of two, so the root is the right-to-left fold of
        # the subtree roots: the smaller subtrees sit under the right child.
        root = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            root = node_hash(h, root)
        return root

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size})"


def _perfect_root(leaves: _LeafReader, start: int, height: int) -> bytes:
    """Root of the perfect subtree of ``2**height`` leaves starting at ``start``."""
    level = leaves.run(start, start + (1 << height))
    prefix = _NODE_PREFIX
    while len(level) > 1:
        pairs = iter(level)
        level = [
            _sha256(prefix + left + right).digest()
            for left, right in zip(pairs, pairs, strict=False)
        ]
    return level[0]


def _range_root(leaves: _LeafReader, start: int, end: int) -> bytes:
    """MTH of leaves ``start .. end-1`` as a standalone tree, read a chunk at a time.

    Walks the range as a sequence of perfect subtrees of non-increasing height (chunks of
    ``2**_CHUNK_HEIGHT`` leaves, then the binary decomposition of the remainder) merged on a
    small stack, so memory stays O(chunk + log n) whatever the range size.
    """
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    stack: list[tuple[int, bytes]] = []  # (height, root), heights strictly decreasing

    def push(height: int, h: bytes) -> None:
        while stack and stack[-1][0] == height:
            _, left = stack.pop()
            h = node_hash(left, h)
            height += 1
        stack.append((height, h))

    pos = start
    chunk = 1 << _CHUNK_HEIGHT
    while end - pos >= chunk:
        push(_CHUNK_HEIGHT, _perfect_root(leaves, pos, _CHUNK_HEIGHT))
        pos += chunk
    for height in range(_CHUNK_HEIGHT - 1, -1, -1):
        if (end - pos) >> height & 1:
            push(height, _perfect_root(leaves, pos, height))
            pos += 1 << height
    root = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        root = node_hash(h, root)
    return root


def root_from_leaf_hashes(hashes: LeafHashes) -> bytes:
    """RFC 6962 MTH of a whole sequence of leaf hashes (EMPTY_ROOT for none)."""
    return _range_root(_LeafReader(hashes), 0, len(hashes))


def _check_tree_args(leaf_hashes: LeafHashes, size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int):
        msg = f"tree size must be an int, got {type(size).__name__}"
        raise TypeError(msg)
    if not 0 <= size <= len(leaf_hashes):
        msg = f"tree size {size} outside [0, {len(leaf_hashes)}] (leaves available)"
        raise ValueError(msg)


def inclusion_proof(leaf_hashes: LeafHashes, index: int, size: int) -> list[bytes]:
    """RFC 6962 §2.1.1 audit path for leaf ``index`` in the tree of the first ``size`` leaves.

    Hashes are ordered from the leaf's sibling up to the root's child, as `verify_inclusion`
    expects. ``leaf_hashes`` is only indexed (never copied whole); cost is O(size) hashes.
    Raises ValueError unless ``0 <= index < size <= len(leaf_hashes)``.
    """
    _check_tree_args(leaf_hashes, size)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        msg = f"leaf index {index!r} outside [0, {size})"
        raise ValueError(msg)
    leaves = _LeafReader(leaf_hashes)
    path: list[bytes] = []
    lo, hi = 0, size
    # Descend from the root: at each split the subtree not containing the leaf is the
    # sibling on the path. Collected top-down, returned bottom-up.
    while hi - lo > 1:
        k = _largest_pow2_below(hi - lo)
        if index < lo + k:
            path.append(_range_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_range_root(leaves, lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(leaf_hashes: LeafHashes, old_size: int, new_size: int) -> list[bytes]:
    """RFC 6962 §2.1.2 consistency proof that the first ``old_size`` leaves prefix the tree
    of the first ``new_size`` leaves.

    Returns an empty list when the sizes are equal. Raises ValueError unless
    ``0 < old_size <= new_size <= len(leaf_hashes)``: a proof from the empty tree is
    meaningless (every tree extends it) and verifiers reject it, so callers handle
    ``old_size == 0`` themselves. ``leaf_hashes`` is only indexed; cost is O(new_size).
    """
    _check_tree_args(leaf_hashes, new_size)
    if isinstance(old_size, bool) or not isinstance(old_size, int):
        msg = f"old size must be an int, got {type(old_size).__name__}"
        raise TypeError(msg)
    if not 0 < old_size <= new_size:
        msg = f"old size {old_size} outside (0, {new_size}]"
        raise ValueError(msg)
    # Iterative SUBPROOF(m, D[lo:lo+n], complete): every step appends one hash *after* the
    # sub-proof, so hashes are collected top-down and reversed at the end.
    leaves = _LeafReader(leaf_hashes)
    proof: list[bytes] = []
    lo, m, n = 0, old_size, new_size
    complete = True  # whether D[lo:lo+m] is the whole old tree (its root is known to the verifier)
    while m != n:
        k = _largest_pow2_below(n)
        if m <= k:
            proof.append(_range_root(leaves, lo + k, lo + n))
            n = k
        else:
            proof.append(_range_root(leaves, lo, lo + k))
            lo, m, n = lo + k, m - k, n - k
            complete = False
    if not complete:
        proof.append(_range_root(leaves, lo, lo + m))
    proof.reverse()
    return proof


# --------------------------------------------------------------------------------------
# Verification: a port of transparency-dev/merkle proof/verify.go.


def _check_uint64(value: int, what: str) -> None:
    # Adversarial input: a negative or huge "size" must be a clean rejection, never a
    # Python big-int path that no other implementation would take.
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{what} must be an int, got {type(value).__name__}"
        raise ProofError(msg)
    if not 0 <= value <= _MAX_UINT64:
        msg = f"{what} {value} is outside the uint64 range"
        raise ProofError(msg)


def _as_bytes(value: bytes, what: str) -> bytes:
    # bytes(int) would silently become zeros and bytes(None) a TypeError: both must be a
    # ProofError, since these values come from whoever hands us the proof.
    if not isinstance(value, bytes | bytearray | memoryview):
        msg = f"{what} must be bytes, got {type(value).__name__}"
        raise ProofError(msg)
    return bytes(value)


def _as_hash(value: bytes, what: str) -> bytes:
    h = _as_bytes(value, what)
    if len(h) != HASH_SIZE:
        msg = f"{what} has {len(h)} bytes, want {HASH_SIZE}"
        raise ProofError(msg)
    return h


def _proof_hashes(proof: Sequence[bytes] | None) -> list[bytes]:
    # Not in verify.go (which lets a wrong-size element fail later as a root mismatch):
    # rejecting it up front gives a clearer error and cannot reject a genuine proof.
    if proof is None:
        return []
    return [_as_hash(h, f"proof[{i}]") for i, h in enumerate(proof)]


def _decomp_incl_proof(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion proof into its inner part (below where the paths to ``index``
    and ``size - 1`` diverge) and border part (left siblings on the right border)."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    # Only the hashes to the left of the path: that recomputes the *older* (smaller)
    # version of the subtree, which is how the old root is rebuilt from the same proof.
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Root hash implied by an inclusion proof; raises ProofError if it is malformed.

    Useful to report *which* root a bad proof points to; to check a proof use
    `verify_inclusion`.
    """
    _check_uint64(index, "leaf index")
    _check_uint64(size, "tree size")
    if index >= size:
        msg = f"leaf index {index} is beyond tree size {size}"
        raise ProofError(msg)
    seed = _as_hash(leaf_hash, "leaf hash")
    hashes = _proof_hashes(proof)
    inner, border = _decomp_incl_proof(index, size)
    if len(hashes) != inner + border:
        msg = f"wrong inclusion proof length {len(hashes)}, want {inner + border}"
        raise ProofError(msg)
    res = _chain_inner(seed, hashes[:inner], index)
    return _chain_border_right(res, hashes[inner:])


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with
    ``root``; raise ProofError otherwise. Requires ``0 <= index < size``."""
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    expected = _as_bytes(root, "root")
    if calculated != expected:
        msg = (
            f"inclusion proof for leaf {index} of tree size {size} leads to root "
            f"{calculated.hex()}, not the expected {expected.hex()}"
        )
        raise ProofError(msg)


def root_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> bytes:
    """Root of the tree of ``size2`` leaves implied by a consistency proof from ``root1``.

    Checks along the way that the proof reproduces ``root1``; raises ProofError on any
    mismatch or malformed input. Requires ``0 < size1 <= size2``.
    """
    _check_uint64(size1, "size1")
    _check_uint64(size2, "size2")
    hashes = _proof_hashes(proof)
    if size2 < size1:
        msg = f"size2 ({size2}) < size1 ({size1}): a log cannot shrink"
        raise ProofError(msg)
    if size1 == 0:
        # Every tree extends the empty tree, so there is nothing to prove and accepting
        # anything here would let a proof "verify" without checking a single hash.
        msg = "consistency proof from the empty tree is meaningless"
        raise ProofError(msg)
    if size1 == size2:
        if hashes:
            msg = f"size1 = size2 = {size1}, but the proof is not empty"
            raise ProofError(msg)
        return _as_bytes(root1, "root1")
    if not hashes:
        msg = f"empty consistency proof between different sizes {size1} and {size2}"
        raise ProofError(msg)
    old_root = _as_hash(root1, "root1")

    inner, border = _decomp_incl_proof(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zeros of size1
    inner -= shift  # shift < inner because size1 < size2

    # The proof starts with the root of the 2**shift subtree holding leaf size1-1, unless
    # size1 is that very power of two, in which case that subtree *is* the old tree.
    if size1 == 1 << shift:
        seed, start = old_root, 0
    else:
        seed, start = hashes[0], 1
    if len(hashes) != start + inner + border:
        msg = f"wrong consistency proof length {len(hashes)}, want {start + inner + border}"
        raise ProofError(msg)
    rest = hashes[start:]

    mask = (size1 - 1) >> shift  # start chaining from level `shift`
    hash1 = _chain_inner_right(seed, rest[:inner], mask)
    hash1 = _chain_border_right(hash1, rest[inner:])
    if hash1 != old_root:
        msg = (
            f"consistency proof {size1} -> {size2} leads to old root {hash1.hex()}, "
            f"not the expected {old_root.hex()}"
        )
        raise ProofError(msg)
    hash2 = _chain_inner(seed, rest[:inner], mask)
    return _chain_border_right(hash2, rest[inner:])


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` leaves with ``root2`` extends the tree of
    ``size1`` leaves with ``root1``; raise ProofError otherwise.

    Requires ``0 < size1 <= size2``; for equal sizes the proof must be empty and the roots
    equal. ``size1 == 0`` is always rejected: the caller decides what an empty previous
    checkpoint means (it is trivially consistent and needs no proof).
    """
    calculated = root_from_consistency_proof(size1, size2, proof, root1)
    expected = _as_bytes(root2, "root2")
    if calculated != expected:
        msg = (
            f"consistency proof {size1} -> {size2} leads to new root {calculated.hex()}, "
            f"not the expected {expected.hex()}"
        )
        raise ProofError(msg)
