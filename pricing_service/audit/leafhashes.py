"""The leaf-hash sidecar (``leafhashes.bin``) and fast subtree roots for proofs.

``leafhashes.bin`` holds the 32-byte RFC 6962 leaf hash of every record, in sequence
order, so proofs can be computed without re-hashing the records. It is derivable from the
segments: the writer rebuilds it at every start, it is not fsynced, and `verify` never
trusts it (it only uses it, after checking it against a signed root, to name which record
differs).

A proof needs roots of subtrees of up to half the tree. `LeafHashes` caches the root of
every complete aligned chunk of ``2**chunk_height`` leaves (32 bytes per 1024 records by
default), so any subtree root costs at most one chunk of leaf reads plus a fold over
chunk roots, instead of re-hashing the whole tree.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from pricing_service.audit.fsutil import FileOps, pwrite_all
from pricing_service.audit.merkle import EMPTY_ROOT, HASH_SIZE, node_hash, root_from_leaf_hashes

__all__ = ["LEAF_HASHES_FILE", "LeafHashes"]

LEAF_HASHES_FILE: Final = "leafhashes.bin"
DEFAULT_CHUNK_HEIGHT: Final = 10
_READ_CHUNKS: Final = 64  # chunks per read when loading an existing file


class LeafHashes:
    """Append-only leaf hashes: a file plus a not-yet-written tail, with chunk roots.

    Thread-safe: the writer thread appends and flushes while request threads read.
    """

    def __init__(
        self,
        path: Path,
        ops: FileOps | None = None,
        *,
        chunk_height: int = DEFAULT_CHUNK_HEIGHT,
        truncate: bool = False,
        writable: bool = True,
    ) -> None:
        """Open (or create) the sidecar at `path`; `truncate` starts it empty.

        An existing file is read once to build the chunk-root cache; a trailing partial
        hash (a torn write) is ignored and overwritten by the next flush.
        """
        self.path = Path(path)
        self._ops = ops or FileOps()
        self._chunk = 1 << chunk_height
        self._lock = threading.Lock()
        flags = (os.O_RDWR | os.O_CREAT) if writable else os.O_RDONLY
        if truncate:
            flags |= os.O_TRUNC
        self._fd = self._ops.open(self.path, flags, 0o644)
        self._flushed = 0  # hashes in the file
        self._pending = bytearray()  # hashes appended but not yet in the file
        self._chunk_roots: list[bytes] = []
        self._open_chunk: list[bytes] = []  # leaves of the incomplete last chunk
        self._load()

    @property
    def size(self) -> int:
        """Number of leaf hashes (written or pending)."""
        with self._lock:
            return self._flushed + len(self._pending) // HASH_SIZE

    @property
    def flushed_size(self) -> int:
        """Number of leaf hashes already written to the file."""
        with self._lock:
            return self._flushed

    def append(self, hashes: Sequence[bytes]) -> None:
        """Add leaf hashes in sequence order (kept in memory until `flush`)."""
        with self._lock:
            for h in hashes:
                self._pending += h
                self._add_to_chunks(h)

    def flush(self) -> None:
        """Write pending hashes to the file; on OSError they stay pending for a retry."""
        with self._lock:
            if not self._pending:
                return
            data = bytes(self._pending)
            offset = self._flushed * HASH_SIZE
        # Written at an explicit offset, so a retry after a short write simply rewrites.
        pwrite_all(self._ops, self._fd, data, offset)
        with self._lock:
            self._flushed += len(data) // HASH_SIZE
            del self._pending[: len(data)]

    def leaves(self, lo: int, hi: int) -> list[bytes]:
        """Leaf hashes ``lo .. hi-1``."""
        with self._lock:
            flushed = self._flushed
            size = flushed + len(self._pending) // HASH_SIZE
            if not 0 <= lo <= hi <= size:
                raise IndexError(f"leaf range [{lo}, {hi}) outside [0, {size})")
            tail = bytes(
                self._pending[max(lo - flushed, 0) * HASH_SIZE : (hi - flushed) * HASH_SIZE]
            )
        head = b""
        if lo < flushed:
            want = (min(hi, flushed) - lo) * HASH_SIZE
            head = os.pread(self._fd, want, lo * HASH_SIZE)
            if len(head) != want:
                raise OSError(f"{self.path} is shorter than the {flushed} hashes written")
        blob = head + tail if hi > flushed else head
        return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]

    def leaf(self, index: int) -> bytes:
        """The leaf hash at `index`."""
        return self.leaves(index, index + 1)[0]

    def range_root(self, lo: int, hi: int) -> bytes:
        """RFC 6962 MTH of leaves ``lo .. hi-1`` as a standalone tree.

        Proof algorithms only ask for ranges whose start is a multiple of a power of two
        at least as large as the range's left subtree, so perfect ranges of a chunk or more
        are always whole cached chunks.
        """
        n = hi - lo
        if n <= 0:
            return EMPTY_ROOT
        chunk = self._chunk
        if n <= chunk:
            return root_from_leaf_hashes(self.leaves(lo, hi))
        if lo % chunk == 0 and n & (n - 1) == 0:
            first = lo // chunk
            with self._lock:
                roots = self._chunk_roots[first : first + n // chunk]
            if len(roots) == n // chunk:
                return root_from_leaf_hashes(roots)
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self.range_root(lo, lo + k), self.range_root(lo + k, hi))

    def close(self) -> None:
        """Close the file (pending hashes are dropped: the writer flushes first)."""
        with self._lock:
            if self._fd >= 0:
                self._ops.close(self._fd)
                self._fd = -1

    def _add_to_chunks(self, h: bytes) -> None:
        self._open_chunk.append(h)
        if len(self._open_chunk) == self._chunk:
            self._chunk_roots.append(root_from_leaf_hashes(self._open_chunk))
            self._open_chunk = []

    def _load(self) -> None:
        length = os.fstat(self._fd).st_size
        whole = length // HASH_SIZE
        step = self._chunk * _READ_CHUNKS * HASH_SIZE
        offset = 0
        while offset < whole * HASH_SIZE:
            blob = os.pread(self._fd, min(step, whole * HASH_SIZE - offset), offset)
            if not blob:
                break
            for i in range(0, len(blob), HASH_SIZE):
                self._add_to_chunks(blob[i : i + HASH_SIZE])
            offset += len(blob)
        self._flushed = offset // HASH_SIZE
