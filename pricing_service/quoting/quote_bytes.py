"""The canonical bytes of a quote's document, rendered from cached pieces (replay's fast path).

`documents.quote_document` builds the document as a dict (~16 us) and the record's
canonical JSON serialises it (~6 us more). Replay renders one per logged quote, and most of
a document is a function of a handful of keys: the breakdown's steps (most of them the
engine's memoised Step objects, shared by every quote of a fixing, rating and term), the
base rate of a fixing. Here each step's and each base rate's JSON is rendered once and
spliced in (orjson.Fragment); the rest is the few per-quote values.

The mapping itself is quote_document's (`documents.document_of`, written once); only the
base rate and the steps come in as fragments. tests/unit/test_quote_bytes.py holds the
bytes equal to `canonical_json(quote_document(...))` over drawn quotes of every product.
Replay only ever compares these bytes with a recorded response: if they differed from
quote_document's, an intact record would merely take today's path (which renders with
quote_document).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Final

import orjson

from pricing_service.domain.quote import PricedQuote, Step
from pricing_service.quoting.documents import (
    StepCache,
    base_rate_document,
    document_of,
    step_document,
)

__all__ = ["quote_bytes"]

_SORTED: Final = orjson.OPT_SORT_KEYS
# Entries are functions of their keys; when full the cache is emptied and refills with
# what is in use (per-quote texts, like a mine score's, would otherwise grow it forever).
_LIMIT: Final = 1 << 12
_bases: dict[Hashable, orjson.Fragment] = {}


def _step_json(step: Step) -> bytes:
    return orjson.dumps(step_document(step), option=_SORTED)


# By identity first: most steps are the engine's memoised objects (see StepCache).
_step = StepCache(_step_json, limit=_LIMIT)


def _base(q: PricedQuote) -> orjson.Fragment:
    # A Decimal's text depends on its exponent, not only its value: the key holds both.
    key = (q.tenor, q.base_bp.as_tuple(), q.base_published_at)
    cached = _bases.get(key)
    if cached is None:
        cached = orjson.Fragment(orjson.dumps(base_rate_document(q), option=_SORTED))
        if len(_bases) >= _LIMIT:
            _bases.clear()
        _bases[key] = cached
    return cached


def quote_bytes(q: PricedQuote, *, quote_id: str, request: Mapping[str, Any]) -> bytes:
    """canonical_json(quote_document(q, quote_id=quote_id, request=request)), faster."""
    steps = orjson.Fragment(b"[" + b",".join(map(_step, q.steps)) + b"]") if q.steps else None
    document = document_of(q, quote_id=quote_id, request=request, base_rate=_base(q), steps=steps)
    return orjson.dumps(document, option=_SORTED)
