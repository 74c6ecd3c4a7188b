"""A recorded request document read straight into the domain request, when it is canonical.

Replay reads each logged request back through the transport adapter (`Decode`: the
protobuf JSON parser, then the adapter's field checks), ~60 us a record. Every request
the service logs is in one exact form, the protobuf JSON mapping of a valid request
(proto field names, int64 as strings, enums by name, fields at their default left out,
instants as Timestamp.ToJsonString writes them). For a document in that form, and whose
every field passes the adapter's checks, `read_canonical` gives the domain request the
adapter would give, in a few microseconds; for ANY other document it gives None and the
caller reads it through the adapter, so that what is odd about it is judged there alone.

"In that form" matters twice: the adapter would accept looser spellings ("240" for 240,
an enum by number), but the quote id hashes the adapter's re-rendering of the request,
which equals the recorded document only for a document already in the form. So a
document this reader accepts is its own re-rendering, and everything derived from it
(the quote id, the echoed fields) is what the adapter's path derives.

tests/unit/test_canonical_request.py draws requests, valid and not, and holds this
reader to the adapter's (`decode_document(doc).to_domain()` and `.document()`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from pricing_service.domain.evidence import (
    Emissions,
    GivenGrade,
    Industry,
    MineAcceptance,
    TransitionKpis,
)
from pricing_service.domain.request import QuoteRequest
from pricing_service.quoting.documents import REPAYMENT_NAMES

__all__ = ["read_canonical"]

_REPAYMENTS: Final = {name: method for method, name in REPAYMENT_NAMES.items()}
_INDUSTRIES: Final = {f"INDUSTRY_{i.name}": i for i in Industry}
_KEYS: Final = frozenset(
    {
        "request_id",
        "borrower_id",
        "product_id",
        "credit_rating",
        "principal_fen",
        "term_months",
        "repayment_method",
        "upfront_fee_fen",
        "pricing_time",
        "carbon_grade",
        "carbon_emissions",
        "mine_score",
        "transition_kpis",
    }
)
_GRADE_KEYS: Final = frozenset({"grade", "assessed_on", "platform_id"})
_EMISSIONS_KEYS: Final = frozenset(
    {
        "industry",
        "emissions_tco2",
        "output_quantity",
        "value_added_10k_cny",
        "period_end",
        "platform_id",
    }
)
_MINE_KEYS: Final = frozenset(
    {"score", "construction_class", "mandatory_indicators_passed", "accepted_on"}
)
_KPI_KEYS: Final = frozenset(
    {"annual_tco2_reduced", "coal_g_per_kwh_before", "coal_g_per_kwh_after", "verified_on"}
)
_INT64_MAX: Final = 2**63 - 1
# A positive int64 as the mapping writes it: no sign, no leading zero.
_POSITIVE: Final = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)
# The adapter's plain decimal (15 digits, 6 decimals), which it keeps as given.
_DECIMAL: Final = re.compile(r"[0-9]{1,15}(\.[0-9]{1,6})?", re.ASCII)
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# ToJsonString's instant: UTC, "Z", no fraction or 3, 6 or 9 digits, the fewest that
# hold the nanos (anything else re-renders differently, so it is not canonical).
_STAMP: Final = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.((?!000)[0-9]{3}|[0-9]{3}(?!000)[0-9]{3}|[0-9]{6}(?!000)[0-9]{3}))?Z",
    re.ASCII,
)
# The adapter's accepted pricing instants (api.convert.EARLIEST_PRICING, LATEST_PRICING).
_EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)
_SCORE_QUANTUM: Final = Decimal("0.1")
_ZERO: Final = Decimal(0)
_HUNDRED: Final = Decimal(100)
_SHORT: Final = 64
_LONG_ID: Final = 128
_RATING: Final = 16


class _NotCanonicalError(Exception):
    """The document is not one this reader vouches for: the adapter reads it."""


def read_canonical(document: Mapping[str, Any]) -> QuoteRequest | None:
    """The domain request of a canonical, valid, effective request document; else None."""
    try:
        return _read(document)
    except (_NotCanonicalError, ValueError, TypeError, KeyError, OverflowError):
        return None


def _text(value: object, limit: int) -> str:
    # Present means non-empty (the mapping leaves "" out); the adapter's checks: not
    # blank, at most `limit` characters, printable.
    if type(value) is not str or not value.strip() or len(value) > limit:
        raise _NotCanonicalError
    if not value.isprintable():
        raise _NotCanonicalError
    return value


def _positive_int64(value: object) -> int:
    if type(value) is not str or not _POSITIVE.fullmatch(value):
        raise _NotCanonicalError
    number = int(value)
    if number > _INT64_MAX:
        raise _NotCanonicalError
    return number


def _decimal(value: object, *, positive: bool = False) -> Decimal:
    if type(value) is not str or not _DECIMAL.fullmatch(value):
        raise _NotCanonicalError
    number = Decimal(value)
    if positive and number <= _ZERO:
        raise _NotCanonicalError
    return number


def _date(value: object) -> date:
    if type(value) is not str or not _DATE.fullmatch(value):
        raise _NotCanonicalError
    return date.fromisoformat(value)


def _small_int(value: object, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise _NotCanonicalError
    return value


def _object(value: object, keys: frozenset[str]) -> Mapping[str, Any]:
    if type(value) is not dict or not value.keys() <= keys:
        raise _NotCanonicalError
    return value


def _instant(value: object) -> datetime:
    if type(value) is not str:
        raise _NotCanonicalError
    m = _STAMP.fullmatch(value)
    if m is None:
        raise _NotCanonicalError
    whole = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC)
    fraction = m.group(2) or ""
    # The adapter keeps microseconds (nanos // 1000) of the Timestamp.
    micros = int(fraction.ljust(9, "0")) // 1000
    if not _EARLIEST <= whole < _LATEST:
        raise _NotCanonicalError
    return whole + timedelta(microseconds=micros)


def _read(doc: Mapping[str, Any]) -> QuoteRequest:
    if type(doc) is not dict or not doc.keys() <= _KEYS:
        raise _NotCanonicalError
    if "request_id" in doc:
        _text(doc["request_id"], _LONG_ID)
    fee = doc.get("upfront_fee_fen")
    repayment = _REPAYMENTS.get(doc["repayment_method"])
    if repayment is None:
        raise _NotCanonicalError
    grade = emissions = mine = kpis = None
    if "carbon_grade" in doc:
        g = _object(doc["carbon_grade"], _GRADE_KEYS)
        grade = GivenGrade(
            _small_int(g["grade"], 1, 5),
            _date(g["assessed_on"]),
            _text(g["platform_id"], _SHORT),
        )
    if "carbon_emissions" in doc:
        e = _object(doc["carbon_emissions"], _EMISSIONS_KEYS)
        industry = _INDUSTRIES.get(e["industry"])
        if industry is None:
            raise _NotCanonicalError
        output = e.get("output_quantity")
        added = e.get("value_added_10k_cny")
        emissions = Emissions(
            industry,
            _decimal(e["emissions_tco2"]),
            None if output is None else _decimal(output, positive=True),
            None if added is None else _decimal(added, positive=True),
            _date(e["period_end"]),
            _text(e["platform_id"], _SHORT),
        )
    if "mine_score" in doc:
        m = _object(doc["mine_score"], _MINE_KEYS)
        score = _decimal(m["score"])
        if score > _HUNDRED or score != score.quantize(_SCORE_QUANTUM):
            raise _NotCanonicalError
        passed = m.get("mandatory_indicators_passed", False)
        if passed is not True and "mandatory_indicators_passed" in m:
            raise _NotCanonicalError  # false is left out by the mapping
        mine = MineAcceptance(
            score, _small_int(m["construction_class"], 1, 3), passed, _date(m["accepted_on"])
        )
    if "transition_kpis" in doc:
        t = _object(doc["transition_kpis"], _KPI_KEYS)
        kpis = TransitionKpis(
            _decimal(t["annual_tco2_reduced"]),
            _decimal(t["coal_g_per_kwh_before"], positive=True),
            _decimal(t["coal_g_per_kwh_after"]),
            _date(t["verified_on"]),
        )
    return QuoteRequest(
        borrower_id=_text(doc["borrower_id"], _SHORT),
        product_id=_text(doc["product_id"], _SHORT),
        credit_rating=_text(doc["credit_rating"], _RATING),
        principal_fen=_positive_int64(doc["principal_fen"]),
        term_months=_small_int(doc["term_months"], 1, 360),
        repayment=repayment,
        upfront_fee_fen=0 if fee is None else _positive_int64(fee),
        pricing_time=_instant(doc["pricing_time"]),
        carbon_grade=grade,
        carbon_emissions=emissions,
        mine_score=mine,
        transition_kpis=kpis,
    )
