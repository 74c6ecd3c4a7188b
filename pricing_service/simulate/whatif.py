"""What-if: the real binding requests of an audit log, re-priced under a draft policy.

Each selected record (a binding quote or a refused binding request) is priced
again under the draft as if the draft had been in force at the request's own
pricing instant, with the draft's own LPR table, and compared with what was
actually quoted. Nothing is written to the log: the log is only read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pricing_service.audit.reader import LogRecord
from pricing_service.audit.record import PRICED_KINDS, AuditRecord
from pricing_service.domain.engine import price
from pricing_service.domain.errors import PricingError
from pricing_service.domain.policy import Policy
from pricing_service.domain.rates import CTX, fmt_decimal, fmt_percent
from pricing_service.quoting.canonical_request import read_canonical
from pricing_service.quoting.incoming import IncomingQuote
from pricing_service.quoting.pricing import price_under
from pricing_service.quoting.refusals import error_record
from pricing_service.quoting.replay import Decode, ReplayFilter
from pricing_service.simulate.results import PRICED, UNITS_PER_BP

_UNITS_PER_PERCENT = UNITS_PER_BP * 100


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one pricing gave: PRICED with its figures, or the refusal's reason or code."""

    status: str
    rate_units: int = 0
    concession_units: int = 0
    first_year_concession_fen: int = 0

    @property
    def priced(self) -> bool:
        """Whether the outcome is a quote."""
        return self.status == PRICED


@dataclass(frozen=True, slots=True)
class WhatIfRow:
    """One logged request: where it is, who it was for, what it got and what the draft gives."""

    seq: int
    quote_id: str
    borrower_id: str
    product_id: str
    pricing_time: str
    principal_fen: int
    actual: Outcome
    draft: Outcome

    @property
    def changed(self) -> bool:
        """Whether the draft gives anything other than what was quoted."""
        return self.actual != self.draft


@dataclass(slots=True)
class WhatIf:
    """Every selected request with its two outcomes, and the counts of the run."""

    draft_version: str
    draft_digest: str
    records: int = 0
    selected: int = 0
    rows: list[WhatIfRow] = field(default_factory=list)

    @property
    def changed(self) -> list[WhatIfRow]:
        """The rows whose outcome under the draft differs."""
        return [r for r in self.rows if r.changed]

    def to_json(self) -> dict[str, Any]:
        """Counts and totals, exact (integers and decimal strings)."""
        both = [r for r in self.rows if r.actual.priced and r.draft.priced]
        actual_cost = sum(r.actual.first_year_concession_fen for r in self.rows)
        draft_cost = sum(r.draft.first_year_concession_fen for r in self.rows)
        return {
            "draft_policy_version": self.draft_version,
            "draft_policy_digest": self.draft_digest,
            "records_read": self.records,
            "requests_selected": self.selected,
            "unchanged": sum(1 for r in self.rows if not r.changed),
            "changed": sum(1 for r in self.rows if r.changed),
            "rate_up": sum(1 for r in both if r.draft.rate_units > r.actual.rate_units),
            "rate_down": sum(1 for r in both if r.draft.rate_units < r.actual.rate_units),
            "now_refused": sum(1 for r in self.rows if r.actual.priced and not r.draft.priced),
            "now_priced": sum(1 for r in self.rows if not r.actual.priced and r.draft.priced),
            "first_year_concession_fen": {
                "actual": actual_cost,
                "draft": draft_cost,
                "change": draft_cost - actual_cost,
            },
        }


def _rate_units(percent: str) -> int:
    units = CTX.multiply(Decimal(percent), _UNITS_PER_PERCENT)
    return int(units)


def _bp_units(bp: str) -> int:
    return int(CTX.multiply(Decimal(bp), UNITS_PER_BP))


def _from_document(quote: Mapping[str, Any]) -> Outcome:
    """The figures of a quote's canonical document (logged, or priced under the draft)."""
    return Outcome(
        PRICED,
        _rate_units(quote.get("annual_rate", "0")),
        _bp_units(quote.get("concession_bp") or "0"),
        int(quote.get("first_year_concession_fen", "0")),
    )


def _refusal_status(error: dict[str, Any]) -> str:
    return str(error.get("reason") or error.get("code") or "REFUSED")


def _actual(record: AuditRecord) -> Outcome:
    if record.kind == "quote":
        return _from_document(record.response or {})
    return Outcome(_refusal_status(dict(record.error or {})))


def _draft(request: IncomingQuote, draft: Policy) -> Outcome:
    try:
        return _from_document(price_under(request, draft).document)
    except PricingError as exc:
        return Outcome(_refusal_status(error_record(exc)))


def _draft_of(document: Mapping[str, Any], draft: Policy, decode: Decode) -> Outcome:
    """_draft(decode(document), draft), without the adapter for a canonical document.

    read_canonical gives the adapter's domain request for the documents it accepts
    (tests/unit/test_replay_fast.py), so the engine prices (or refuses) exactly what
    price_under would; the figures are read from the same texts quote_document writes.
    """
    domain = read_canonical(document)
    if domain is None:
        return _draft(decode(document), draft)
    try:
        q = price(domain, draft)
    except PricingError as exc:
        return Outcome(_refusal_status(error_record(exc)))
    return _from_document(
        {
            "annual_rate": fmt_percent(q.rate_bp),
            "concession_bp": fmt_decimal(q.concession_bp),
            "first_year_concession_fen": str(q.first_year_concession_fen),
        }
    )


def whatif(
    records: Iterable[LogRecord],
    draft: Policy,
    selection: ReplayFilter | None = None,
    on_record: Callable[[LogRecord], None] | None = None,
    *,
    decode: Decode,
) -> WhatIf:
    """Re-price each selected logged request under `draft` and set it beside what it got.

    `decode` reads a recorded request document back (the transport adapter's reader)."""
    selection = selection or ReplayFilter()
    out = WhatIf(draft.version, draft.digest)
    for rec in records:
        out.records += 1
        if on_record is not None:
            on_record(rec)
        record = rec.record
        request_json = record.request
        # Denials and policy switches were priced by nothing: there is no outcome to compare.
        if record.kind not in PRICED_KINDS or request_json is None:
            continue
        if not selection.selects(request_json, record.response):
            continue
        out.selected += 1
        quote_id = record.quote_id
        out.rows.append(
            WhatIfRow(
                seq=rec.seq,
                quote_id=quote_id,
                borrower_id=request_json.get("borrower_id", ""),
                product_id=request_json.get("product_id", ""),
                pricing_time=request_json.get("pricing_time", ""),
                principal_fen=int(request_json.get("principal_fen", "0")),
                actual=_actual(record),
                draft=_draft_of(request_json, draft, decode),
            )
        )
    return out
