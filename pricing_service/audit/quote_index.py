"""Where each quote is in the log (quote id -> seq), in 16 bytes a quote.

A dict of strings costs ~150 bytes a quote and grows with the log for as long as the
server runs; this keeps the first 64 bits of each quote id and its seq in sorted numpy
arrays (new entries collect in a small dict and are merged in batches). Two quote ids
sharing 64 bits would be one in ~10^10 at a million quotes; the caller reads the record
back and checks its id anyway, and a shared prefix answers with every candidate.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MERGE_EVERY = 4096  # entries collected before a merge into the sorted arrays


def _prefix(quote_id: str) -> int:
    # "q_" + 32 hex digits: the first 16 digits are 64 uniformly random bits.
    return int(quote_id[2:18], 16)


class QuoteIndex:
    """quote id -> seq for every quote of the log; not thread-safe (the writer locks)."""

    def __init__(self) -> None:
        self._keys: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self._seqs: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._recent: dict[int, list[int]] = {}
        self._pending = 0

    def add(self, quote_id: str, seq: int) -> None:
        """Index a quote at `seq` (a quote id logged again has both seqs)."""
        key = _prefix(quote_id)
        self._recent.setdefault(key, []).append(seq)
        self._pending += 1
        if self._pending >= MERGE_EVERY:
            self._merge()

    def candidates(self, quote_id: str) -> list[int]:
        """Every seq whose quote id shares the first 64 bits, in log order."""
        try:
            key = np.uint64(_prefix(quote_id))
        except ValueError:  # not the shape of a quote id: no quote has it
            return []
        lo = int(np.searchsorted(self._keys, key, side="left"))
        hi = int(np.searchsorted(self._keys, key, side="right"))
        found = [int(s) for s in self._seqs[lo:hi]]
        return sorted(found + self._recent.get(int(key), []))

    def _merge(self) -> None:
        keys = np.fromiter((k for k, seqs in self._recent.items() for _ in seqs), dtype=np.uint64)
        seqs = np.fromiter((s for v in self._recent.values() for s in v), dtype=np.int64)
        all_keys = np.concatenate([self._keys, keys])
        all_seqs = np.concatenate([self._seqs, seqs])
        order = np.lexsort((all_seqs, all_keys))
        self._keys, self._seqs = all_keys[order], all_seqs[order]
        self._recent.clear()
        self._pending = 0

    def __len__(self) -> int:
        return len(self._keys) + self._pending
