"""The canonical bytes of a quote's document, rendered from cached pieces (replay's fast path).

`documents.quote_document` builds the document as a dict (~16 us) and the record's
canonical JSON serialises it (~6 us more). Replay renders one per logged quote, and most of
a document is a function of a handful of keys: the breakdown's steps (most of them the
engine's memoised Step objects, shared by every quote of a fixing, rating and term), the
base rate of a fixing. Here each step's and each base rate's JSON is rendered once and
spliced in (orjson.Fragment); the rest is the few per-quote values.

The same mapping as quote_document, key for key, with the same rule that a field at its
default is left out. tests/unit/test_quote_bytes.py holds the bytes equal to
`canonical_json(quote_document(...))` over drawn quotes of every product. Replay only ever
compares these bytes with a recorded response: if they differed from quote_document's,
an intact record would merely take today's path (which renders with quote_document).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Final

import orjson

from pricing_service.domain.quote import PricedQuote, Step
from pricing_service.domain.rates import fmt_decimal, fmt_percent
from pricing_service.quoting.documents import (
    KIND_NAMES,
    REFERENCE_NAMES,
    REPAYMENT_NAMES,
    TENOR_NAMES,
    StepCache,
    step_document,
    timestamp_json,
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
        cached = orjson.Fragment(
            orjson.dumps(
                {
                    "tenor": TENOR_NAMES[q.tenor],
                    "rate": fmt_percent(q.base_bp),
                    "published_at": timestamp_json(q.base_published_at),
                },
                option=_SORTED,
            )
        )
        if len(_bases) >= _LIMIT:
            _bases.clear()
        _bases[key] = cached
    return cached


def quote_bytes(q: PricedQuote, *, quote_id: str, request: Mapping[str, Any]) -> bytes:
    """canonical_json(quote_document(q, quote_id=quote_id, request=request)), faster."""
    out: dict[str, Any] = {
        "product_kind": KIND_NAMES[q.product_kind],
        "pricing_date": q.pricing_date.isoformat(),
        "valid_until": timestamp_json(q.valid_until),
        "annual_rate": fmt_percent(q.rate_bp),
        "ordinary_rate": fmt_percent(q.ordinary_bp),
        "base_rate": _base(q),
    }
    # proto3 JSON leaves out a field at its default value; so does the log.
    for key, value in (
        ("quote_id", quote_id),
        ("request_id", request.get("request_id", "")),
        ("borrower_id", request.get("borrower_id", "")),
        ("product_id", q.product_id),
        ("pricing_time", request.get("pricing_time", "")),
        ("concession_bp", fmt_decimal(q.concession_bp)),
        ("annualised_rate", fmt_decimal(q.annualised_percent)),
        ("floor_binding", q.floor_binding),
        ("cap_binding", q.cap_binding),
        ("policy_version", q.policy_version),
        ("policy_digest", q.policy_digest),
        ("principal_fen", request.get("principal_fen", "")),
        ("term_months", request.get("term_months", 0)),
        ("pricing_reference", REFERENCE_NAMES[q.reference]),
    ):
        if value:
            out[key] = value
    if q.first_year_concession_fen:
        out["first_year_concession_fen"] = str(q.first_year_concession_fen)
    r = q.repayment
    repayment: dict[str, Any] = {"method": REPAYMENT_NAMES[r.method]}
    if r.installments:
        repayment["installments"] = r.installments
    for key, fen in (
        ("first_payment_fen", r.first_payment_fen),
        ("total_payment_fen", r.total_payment_fen),
        ("total_interest_fen", r.total_interest_fen),
    ):
        if fen:
            repayment[key] = str(fen)  # int64 travels as a JSON string
    out["repayment"] = repayment
    if q.steps:
        out["steps"] = orjson.Fragment(b"[" + b",".join(map(_step, q.steps)) + b"]")
    if q.carbon is not None:
        carbon: dict[str, Any] = {}
        for key, value in (
            ("grade", q.carbon.grade),
            ("source", q.carbon.source),
            ("efficiency_k", q.carbon.efficiency_k),
            ("level", q.carbon.level),
        ):
            if value:
                carbon[key] = value
        out["carbon"] = carbon
    return orjson.dumps(out, option=_SORTED)
