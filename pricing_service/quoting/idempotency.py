"""The request ids already used, in bounded memory: the idempotency window.

The most recent `window` ids live in memory; older ones are looked up in a store (the
audit log's request-id index, on disk) when the service has one. Without a store (the
audit log disabled: benchmarks only) an id older than the window is forgotten, which is
documented. Each id keeps the quote it made and the fingerprints a retry may have, as
64-bit prefixes: a few hundred bytes an id, not a kilobyte.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

DEFAULT_WINDOW = 20_000


def print_of(fingerprint: str) -> int:
    """A fingerprint's first 64 bits: ample to tell apart the requests under one id."""
    return int(fingerprint[:16], 16)


@dataclass(frozen=True, slots=True)
class Used:
    """A used request id: the quote it made and the fingerprints that count as the same."""

    quote_id: str
    prints: tuple[int, ...]

    def same_request(self, fingerprint: str) -> bool:
        """Whether a request with `fingerprint` is a retry of the one that used the id."""
        return print_of(fingerprint) in self.prints


class UsedIdStore(Protocol):
    """Every request id the log holds, on disk."""

    def get(self, request_id: str) -> Used | None:
        """The id's use, or None if the log has no quote under it."""

    def put(self, request_id: str, used: Used, seq: int) -> None:
        """Record the id's use by the quote at log position `seq`."""


class RecentIds:
    """The idempotency window: an LRU of `window` ids in front of an optional store."""

    def __init__(self, window: int = DEFAULT_WINDOW, store: UsedIdStore | None = None) -> None:
        if window < 1:
            raise ValueError("the idempotency window must hold at least one id")
        self.window = window
        self.store = store
        self._recent: OrderedDict[str, Used] = OrderedDict()
        self._lock = threading.Lock()

    def recent(self, request_id: str) -> Used | None:
        """The id's use if it is in memory (cheap: safe to call under the service's lock)."""
        with self._lock:
            used = self._recent.get(request_id)
            if used is not None:
                self._recent.move_to_end(request_id)
            return used

    def get(self, request_id: str) -> Used | None:
        """The id's use: from memory, else from the store (disk: call outside locks)."""
        used = self.recent(request_id)
        if used is None and self.store is not None:
            used = self.store.get(request_id)
            if used is not None:
                self.remember(request_id, used)
        return used

    def persist(self, request_id: str, used: Used, seq: int) -> None:
        """Record a use in the store (disk: call outside locks); `seq` is its log position."""
        if self.store is not None:
            self.store.put(request_id, used, seq)

    def remember(self, request_id: str, used: Used) -> None:
        """Record a use in memory (cheap: safe under the service's lock)."""
        with self._lock:
            self._recent[request_id] = used
            self._recent.move_to_end(request_id)
            while len(self._recent) > self.window:
                self._recent.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._recent)
