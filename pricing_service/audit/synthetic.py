"""Synthetic but realistically shaped audit events, for benchmarks and tests.

Shaped like the protobuf JSON of a real CreateQuoteRequest / Quote (proto field names,
int64 as decimal strings, enums by name, ~1 KB per record), without running the pricing
engine. Deterministic for a given index, so tests can rebuild the same log twice.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pricing_service.audit.sink import AuditEvent

__all__ = [
    "fast_synthetic_event",
    "synthetic_denial",
    "synthetic_event",
    "synthetic_policy_switch",
    "synthetic_quote_id",
]

_EPOCH: Final = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
_RATINGS: Final = ("AAA", "AA", "A", "BBB")
_PRODUCTS: Final = (
    ("lvtanrong", "PRODUCT_KIND_CARBON_ACCOUNT"),
    ("mine-score", "PRODUCT_KIND_MINE_SCORE"),
    ("standard", "PRODUCT_KIND_STANDARD"),
)
_POLICY_DIGEST: Final = hashlib.sha256(b"synthetic policy v1").hexdigest()
_PEER: Final = "ipv4:10.20.0.7:50112"  # core banking's address, apart from its identity


def synthetic_quote_id(i: int) -> str:
    """The quote id of synthetic event `i`: ``q_`` and 32 hex digits."""
    return "q_" + hashlib.blake2b(i.to_bytes(8, "big"), digest_size=16).hexdigest()


def _rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def synthetic_event(i: int, *, refusal_every: int = 20) -> AuditEvent:
    """Event number `i`: a binding quote, or every `refusal_every`-th a refusal."""
    digest = hashlib.blake2b(i.to_bytes(8, "big"), digest_size=32).digest()
    at = _EPOCH + timedelta(seconds=i * 7 + digest[0])
    product_id, kind = _PRODUCTS[digest[1] % len(_PRODUCTS)]
    grade = 1 + digest[2] % 5
    principal = (1 + digest[3] % 200) * 10_000_000  # 100k .. 20M CNY, in fen
    term = (12, 24, 36, 60, 120)[digest[4] % 5]
    request: dict[str, Any] = {
        "request_id": f"req-{digest[:8].hex()}-{i}",
        "borrower_id": f"91650100MA{digest[5:9].hex().upper()}",
        "product_id": product_id,
        "credit_rating": _RATINGS[digest[9] % len(_RATINGS)],
        "principal_fen": str(principal),
        "term_months": term,
        "repayment_method": "REPAYMENT_METHOD_EQUAL_INSTALLMENT",
        "pricing_time": _rfc3339(at),
        "carbon_grade": {
            "grade": grade,
            "assessed_on": (at - timedelta(days=30 + digest[10])).date().isoformat(),
            "platform_id": "changji-carbon-account",
        },
    }
    if refusal_every and i % refusal_every == refusal_every - 1:
        return AuditEvent(
            kind="refusal",
            request=request,
            response=None,
            error={
                "code": "FAILED_PRECONDITION",
                "message": f"carbon-account grade {grade} is not eligible for {product_id}",
                "reason": "GRADE_NOT_ELIGIBLE",
                "field_violations": [],
            },
            caller="core-banking@bank.example",
            policy_digest=_POLICY_DIGEST,
            time=_rfc3339(at),
            peer=_PEER,
        )
    base = 345 if term <= 60 else 395
    spread = 30 + digest[11] % 60
    discount = 200 if kind == "PRODUCT_KIND_CARBON_ACCOUNT" else digest[12] % 80
    rate = base + spread - discount
    response: dict[str, Any] = {
        "quote_id": synthetic_quote_id(i),
        "request_id": request["request_id"],
        "borrower_id": request["borrower_id"],
        "product_id": product_id,
        "product_kind": kind,
        "pricing_time": _rfc3339(at),
        "pricing_date": (at + timedelta(hours=8)).date().isoformat(),
        "valid_until": _rfc3339(at + timedelta(days=7)),
        "annual_rate": f"{rate // 100}.{rate % 100:02d}",
        "ordinary_rate": f"{(base + spread) // 100}.{(base + spread) % 100:02d}",
        "base_rate": {
            "tenor": "TENOR_1Y" if term <= 60 else "TENOR_5Y_PLUS",
            "rate": f"{base // 100}.{base % 100:02d}",
            "published_at": "2025-12-22T01:15:00Z",
        },
        "concession_bp": str(discount),
        "first_year_concession_fen": str(principal * discount // 10_000),
        "annualised_rate": f"{rate // 100}.{rate % 100:02d}",
        "repayment": {
            "method": "REPAYMENT_METHOD_EQUAL_INSTALLMENT",
            "installments": term,
            "first_payment_fen": str(principal // term + principal * rate // 1_200_000),
            "total_payment_fen": str(principal + principal * rate * term // 2_400_000),
            "total_interest_fen": str(principal * rate * term // 2_400_000),
        },
        "steps": [
            {
                "code": "BASE_RATE",
                "value": f"{base // 100}.{base % 100:02d}",
                "unit": "percent",
                "reason_zh": "贷款市场报价利率（LPR）",
                "reason_en": "loan prime rate in force on the pricing date",
            },
            {
                "code": "STANDARD_SPREAD",
                "value": str(spread),
                "unit": "bp",
                "reason_zh": "普通贷款标准加点",
                "reason_en": f"standard spread for rating {request['credit_rating']}",
            },
            {
                "code": "CARBON_DISCOUNT",
                "value": str(-discount),
                "unit": "bp",
                "reason_zh": f"碳账户评级{grade}级优惠",
                "reason_en": f"carbon-account grade {grade} discount",
            },
        ],
        "policy_version": "2026.1",
        "policy_digest": _POLICY_DIGEST,
        "carbon": {"grade": grade, "source": "given", "efficiency_k": "", "level": ""},
        "principal_fen": str(principal),
        "term_months": term,
    }
    return AuditEvent(
        kind="quote",
        request=request,
        response=response,
        error=None,
        caller="core-banking@bank.example",
        policy_digest=_POLICY_DIGEST,
        time=_rfc3339(at),
        peer=_PEER,
    )


def synthetic_denial(i: int) -> AuditEvent:
    """Event `i`'s request as a caller the permission table refuses would have sent it."""
    request = synthetic_event(i, refusal_every=0).request
    return AuditEvent(
        kind="denial",
        request=request,
        response=None,
        error={
            "code": "PERMISSION_DENIED",
            "message": "caller 'branch-teller' may not call CreateQuote",
            "reason": "PERMISSION_DENIED",
        },
        caller="branch-teller",
        policy_digest=None,
        time=(request or {})["pricing_time"],
        peer="ipv4:10.20.0.9:51022",
    )


def synthetic_policy_switch(i: int) -> AuditEvent:
    """A reload at event `i`'s time from the synthetic policy to a second version."""
    at = _rfc3339(_EPOCH + timedelta(seconds=i * 7))
    new_digest = hashlib.sha256(b"synthetic policy v2").hexdigest()
    return AuditEvent(
        kind="policy_switch",
        request=None,
        response=None,
        error=None,
        caller="signal:SIGHUP",
        policy_digest=None,
        time=at,
        policies={
            "old": {"digest": _POLICY_DIGEST, "version": "2026.1"},
            "new": {"digest": new_digest, "version": "2026.2"},
        },
    )


_TEMPLATES: Final = 1024
_template_cache: dict[int, AuditEvent] = {}


def fast_synthetic_event(i: int) -> AuditEvent:
    """Like `synthetic_event(i)` but cut from one of 1,024 cached variants (for bulk logs).

    Only the ids differ from the variant's (quote id, request id), so each record is
    still unique and every variant's shape and size are those of `synthetic_event`.
    """
    variant = i % _TEMPLATES
    template = _template_cache.get(variant)
    if template is None:
        template = _template_cache[variant] = synthetic_event(variant)
    request_id = f"req-{i:016x}"
    request = {**(template.request or {}), "request_id": request_id}
    response = template.response
    if response is not None:
        response = {**response, "quote_id": synthetic_quote_id(i), "request_id": request_id}
    return AuditEvent(
        template.kind,
        request,
        response,
        template.error,
        template.caller,
        template.policy_digest,
        template.time,
        template.peer,
    )
