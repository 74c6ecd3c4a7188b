"""The tight-loop form of a compact range, for streaming a whole log through the tree.

`merkle.CompactRange` is the checked, general form; these two functions do the same on a
plain list with no per-call validation, because verify and start-up recovery call them
once per record and the checks cost more than the hashing (tests pin them to
`CompactRange`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

from pricing_service.audit.merkle import EMPTY_ROOT

__all__ = ["LEAF_PREFIX", "fold", "push_leaf"]

LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"
_sha256 = hashlib.sha256


def push_leaf(stack: list[bytes], size: int, leaf_hash: bytes) -> None:
    """Append `leaf_hash` as leaf number `size` to the right-edge roots `stack`."""
    h = leaf_hash
    while size & 1:
        h = _sha256(_NODE_PREFIX + stack.pop() + h).digest()
        size >>= 1
    stack.append(h)


def fold(stack: Sequence[bytes]) -> bytes:
    """The root hash of the tree whose right-edge subtree roots are `stack`."""
    if not stack:
        return EMPTY_ROOT
    root = stack[-1]
    for h in reversed(stack[:-1]):
        root = _sha256(_NODE_PREFIX + h + root).digest()
    return root
