"""All conversions between protobuf messages and the domain, with field checks.

Malformed input is collected field by field so the caller gets one
BadRequest.FieldViolation per bad field in a single INVALID_ARGUMENT.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from pricing_service.api.pb_json import dict_to_message, message_to_dict, timestamp_from_json
from pricing_service.audit.prove import InclusionProofResult
from pricing_service.audit.sink import AuditPosition
from pricing_service.domain.engine import beijing_date
from pricing_service.domain.errors import FieldViolation, InvalidRequestError
from pricing_service.domain.evidence import (
    Emissions,
    GivenGrade,
    Industry,
    MineAcceptance,
    ProductKind,
    Reference,
    RepaymentMethod,
    Tenor,
    TransitionKpis,
)
from pricing_service.domain.policy import Policy, Product
from pricing_service.domain.quote import PricedQuote, Step
from pricing_service.domain.rates import fmt_decimal, fmt_percent
from pricing_service.domain.request import QuoteRequest
from pricing_service.domain.schedule import RepaymentSummary
from pricing_service.quoting.documents import StepCache
from pricing_service.quoting.service import StoredQuote

MAX_ID = 128
DECIMAL_INT_DIGITS = 15
DECIMAL_FRACTION_DIGITS = 6
_PLAIN_DECIMAL = re.compile(
    rf"[0-9]{{1,{DECIMAL_INT_DIGITS}}}(\.[0-9]{{1,{DECIMAL_FRACTION_DIGITS}}})?", re.ASCII
)
_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# Pricing instants the service accepts: wide enough for back-dating and replay, narrow
# enough that every derived date (validity, evidence age) stays representable.
EARLIEST_PRICING = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_PRICING = datetime(2200, 1, 1, tzinfo=UTC)
MAX_SHORT = 64
MAX_DECIMAL_CHARS = 32

REPAYMENT_FROM_PB = {
    pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT: RepaymentMethod.EQUAL_INSTALLMENT,
    pb.REPAYMENT_METHOD_EQUAL_PRINCIPAL: RepaymentMethod.EQUAL_PRINCIPAL,
    pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET: RepaymentMethod.INTEREST_ONLY_BULLET,
}
REPAYMENT_TO_PB = {v: k for k, v in REPAYMENT_FROM_PB.items()}
INDUSTRY_FROM_PB = {
    pb.INDUSTRY_POWER: Industry.POWER,
    pb.INDUSTRY_ELECTROLYTIC_ALUMINIUM: Industry.ELECTROLYTIC_ALUMINIUM,
    pb.INDUSTRY_CHEMICALS: Industry.CHEMICALS,
    pb.INDUSTRY_PETROCHEMICALS: Industry.PETROCHEMICALS,
    pb.INDUSTRY_COKING: Industry.COKING,
    pb.INDUSTRY_OTHER: Industry.OTHER,
}
KIND_TO_PB = {
    ProductKind.STANDARD: pb.PRODUCT_KIND_STANDARD,
    ProductKind.CARBON_ACCOUNT: pb.PRODUCT_KIND_CARBON_ACCOUNT,
    ProductKind.MINE_SCORE: pb.PRODUCT_KIND_MINE_SCORE,
    ProductKind.TRANSITION: pb.PRODUCT_KIND_TRANSITION,
}
REFERENCE_TO_PB = {
    Reference.ORDINARY: pb.PRICING_REFERENCE_UNSPECIFIED,
    Reference.BASE: pb.PRICING_REFERENCE_BASE,
}
TENOR_TO_PB = {Tenor.ONE_YEAR: pb.TENOR_1Y, Tenor.FIVE_YEAR_PLUS: pb.TENOR_5Y_PLUS}
SCORE_QUANTUM = Decimal("0.1")


def canonical_json(message: Message) -> dict[str, Any]:
    """The protobuf JSON mapping with proto field names: int64 as strings, no floats."""
    return message_to_dict(message)


def fingerprint(message: Message) -> str:
    """Hex SHA-256 of a message's deterministic binary form: equal messages, equal prints.

    Only compared within one running process (idempotency), never stored, so the
    binary form's stability across protobuf versions does not matter here; it costs
    ~2 µs where the canonical JSON costs ~40 µs.
    """
    return hashlib.sha256(message.SerializeToString(deterministic=True)).hexdigest()


def to_datetime(ts: Timestamp) -> datetime:
    """A protobuf Timestamp as an aware UTC datetime (microsecond precision)."""
    return datetime.fromtimestamp(ts.seconds, tz=UTC).replace(microsecond=ts.nanos // 1000)


# Timestamp.ToJsonString's own form: whole seconds, 0, 3, 6 or 9 fraction digits, "Z".


def to_timestamp(dt: datetime) -> Timestamp:
    """An aware datetime as a protobuf Timestamp."""
    ts = Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts


class _Fields:
    """Collects field violations while reading a request."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def bad(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def text(self, value: str, field: str, *, required: bool, limit: int = MAX_SHORT) -> str:
        if required and not value.strip():
            self.bad(field, "required")
        elif len(value) > limit:
            self.bad(field, f"at most {limit} characters, got {len(value)}")
        elif not value.isprintable():
            # Control, format (bidi overrides) and separator characters make ids that
            # look alike on screen and differ in the log; isprintable() rejects them all.
            self.bad(field, "must not contain control, format or separator characters")
        return value

    def decimal(
        self, value: str, field: str, *, minimum: Decimal | None = None, positive: bool = False
    ) -> Decimal:
        if not value:
            self.bad(field, "required decimal string")
            return Decimal(0)
        if not _PLAIN_DECIMAL.fullmatch(value):
            # ASCII digits only, no exponent: bounded magnitude and scale keep every
            # exact computation within the 34-digit context.
            self.bad(
                field,
                f"must be a plain decimal like 1234.5 (at most {DECIMAL_INT_DIGITS} digits "
                f"and {DECIMAL_FRACTION_DIGITS} decimals), got {value[:40]!r}",
            )
            return Decimal(0)
        d = Decimal(value)
        if positive and d <= 0:
            self.bad(field, "must be > 0")
        elif minimum is not None and d < minimum:
            self.bad(field, f"must be >= {minimum}")
        return d

    def date(self, value: str, field: str) -> date:
        try:
            if not _PLAIN_DATE.fullmatch(value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            self.bad(field, f"not a date YYYY-MM-DD: {value!r}")
            return date.min


def check_pricing_time(req: pb.CreateQuoteRequest) -> None:
    """Refuse an out-of-range pricing_time before anything renders the request."""
    if not req.HasField("pricing_time"):
        return
    ts = req.pricing_time
    low, high = EARLIEST_PRICING.timestamp(), LATEST_PRICING.timestamp()
    if not (0 <= ts.nanos < 1_000_000_000 and low <= ts.seconds < high):
        raise InvalidRequestError(
            [
                FieldViolation(
                    "pricing_time",
                    f"must be between {EARLIEST_PRICING:%Y-%m-%d} and {LATEST_PRICING:%Y-%m-%d}",
                )
            ]
        )


def request_to_domain(req: pb.CreateQuoteRequest) -> QuoteRequest:
    """Check every field of an effective request (pricing_time set) and build the domain request."""
    f = _Fields()
    f.text(req.request_id, "request_id", required=False, limit=MAX_ID)
    f.text(req.borrower_id, "borrower_id", required=True)
    f.text(req.product_id, "product_id", required=True)
    f.text(req.credit_rating, "credit_rating", required=True, limit=16)
    if req.principal_fen <= 0:
        f.bad("principal_fen", "must be > 0")
    if not 1 <= req.term_months <= 360:
        f.bad("term_months", "must be 1 to 360")
    repayment = REPAYMENT_FROM_PB.get(req.repayment_method)
    if repayment is None:
        f.bad("repayment_method", f"unknown or unspecified value {req.repayment_method}")
    if req.upfront_fee_fen < 0:
        f.bad("upfront_fee_fen", "must be >= 0")
    pricing_time = EARLIEST_PRICING
    try:
        check_pricing_time(req)
        pricing_time = to_datetime(req.pricing_time)
    except InvalidRequestError as exc:
        f.violations.extend(exc.violations)

    grade = emissions = mine = kpis = None
    if req.HasField("carbon_grade"):
        g = req.carbon_grade
        if not 1 <= g.grade <= 5:
            f.bad("carbon_grade.grade", "must be 1 to 5")
        f.text(g.platform_id, "carbon_grade.platform_id", required=True)
        grade = GivenGrade(
            g.grade, f.date(g.assessed_on, "carbon_grade.assessed_on"), g.platform_id
        )
    if req.HasField("carbon_emissions"):
        e = req.carbon_emissions
        industry = INDUSTRY_FROM_PB.get(e.industry)
        if industry is None:
            f.bad("carbon_emissions.industry", f"unknown or unspecified value {e.industry}")
        out = va = None
        if e.output_quantity:
            out = f.decimal(e.output_quantity, "carbon_emissions.output_quantity", positive=True)
        if e.value_added_10k_cny:
            va = f.decimal(
                e.value_added_10k_cny, "carbon_emissions.value_added_10k_cny", positive=True
            )
        emissions = Emissions(
            industry or Industry.OTHER,
            f.decimal(e.emissions_tco2, "carbon_emissions.emissions_tco2", minimum=Decimal(0)),
            out,
            va,
            f.date(e.period_end, "carbon_emissions.period_end"),
            f.text(e.platform_id, "carbon_emissions.platform_id", required=True),
        )
    if req.HasField("mine_score"):
        m = req.mine_score
        score = f.decimal(m.score, "mine_score.score")
        if score.is_finite() and not Decimal(0) <= score <= Decimal(100):
            f.bad("mine_score.score", "must be 0 to 100")
        elif score.is_finite() and score != score.quantize(SCORE_QUANTUM):
            f.bad("mine_score.score", "at most one decimal")
        if not 1 <= m.construction_class <= 3:
            f.bad("mine_score.construction_class", "must be 1, 2 or 3")
        mine = MineAcceptance(
            score,
            m.construction_class,
            m.mandatory_indicators_passed,
            f.date(m.accepted_on, "mine_score.accepted_on"),
        )
    if req.HasField("transition_kpis"):
        t = req.transition_kpis
        kpis = TransitionKpis(
            f.decimal(
                t.annual_tco2_reduced, "transition_kpis.annual_tco2_reduced", minimum=Decimal(0)
            ),
            f.decimal(
                t.coal_g_per_kwh_before, "transition_kpis.coal_g_per_kwh_before", positive=True
            ),
            f.decimal(
                t.coal_g_per_kwh_after, "transition_kpis.coal_g_per_kwh_after", minimum=Decimal(0)
            ),
            f.date(t.verified_on, "transition_kpis.verified_on"),
        )
    if f.violations:
        raise InvalidRequestError(f.violations)
    assert repayment is not None
    return QuoteRequest(
        borrower_id=req.borrower_id,
        product_id=req.product_id,
        credit_rating=req.credit_rating,
        principal_fen=req.principal_fen,
        term_months=req.term_months,
        repayment=repayment,
        upfront_fee_fen=req.upfront_fee_fen,
        pricing_time=pricing_time,
        carbon_grade=grade,
        carbon_emissions=emissions,
        mine_score=mine,
        transition_kpis=kpis,
    )


def _repayment_pb(r: RepaymentSummary) -> pb.RepaymentSummary:
    return pb.RepaymentSummary(
        method=REPAYMENT_TO_PB[r.method],
        installments=r.installments,
        first_payment_fen=r.first_payment_fen,
        total_payment_fen=r.total_payment_fen,
        total_interest_fen=r.total_interest_fen,
    )


def echoed(req: pb.CreateQuoteRequest) -> dict[str, Any]:
    """The request fields a quote echoes, in document form, without rendering the whole
    request (a simulation batch prices thousands and logs none)."""
    return {
        "request_id": req.request_id,
        "borrower_id": req.borrower_id,
        "principal_fen": str(req.principal_fen),
        "term_months": req.term_months,
        "pricing_time": req.pricing_time.ToJsonString(),
    }


def _step_message(s: Step) -> pb.PricingStep:
    return pb.PricingStep(
        code=s.code, value=s.value, unit=s.unit, reason_zh=s.reason_zh, reason_en=s.reason_en
    )


# The repeated field copies the cached message, which is never handed out itself.
_step_pb = StepCache(_step_message)


def quote_to_pb(q: PricedQuote, *, quote_id: str, request: Mapping[str, Any]) -> pb.Quote:
    """The protobuf Quote of a priced quote; `request` is the effective request's document,
    whose ids, amount, term and instant the quote echoes (as `quote_document` does)."""
    out = pb.Quote(
        quote_id=quote_id,
        request_id=request.get("request_id", ""),
        borrower_id=request.get("borrower_id", ""),
        product_id=q.product_id,
        product_kind=KIND_TO_PB[q.product_kind],
        pricing_date=q.pricing_date.isoformat(),
        annual_rate=fmt_percent(q.rate_bp),
        ordinary_rate=fmt_percent(q.ordinary_bp),
        base_rate=pb.BaseRateFixing(
            tenor=TENOR_TO_PB[q.tenor],
            rate=fmt_percent(q.base_bp),
            published_at=to_timestamp(q.base_published_at),
        ),
        concession_bp=fmt_decimal(q.concession_bp),
        first_year_concession_fen=q.first_year_concession_fen,
        annualised_rate=fmt_decimal(q.annualised_percent),
        repayment=_repayment_pb(q.repayment),
        floor_binding=q.floor_binding,
        cap_binding=q.cap_binding,
        steps=[_step_pb(s) for s in q.steps],
        policy_version=q.policy_version,
        policy_digest=q.policy_digest,
        principal_fen=int(request.get("principal_fen", 0)),
        term_months=request.get("term_months", 0),
        pricing_reference=REFERENCE_TO_PB[q.reference],
    )
    # The request's own timestamp, nanos and all: the quote echoes the instant it priced.
    out.pricing_time.CopyFrom(timestamp_from_json(request["pricing_time"]))
    out.valid_until.CopyFrom(to_timestamp(q.valid_until))
    if q.carbon is not None:
        out.carbon.CopyFrom(
            pb.CarbonAssessment(
                grade=q.carbon.grade,
                source=q.carbon.source,
                efficiency_k=q.carbon.efficiency_k,
                level=q.carbon.level,
            )
        )
    return out


def product_to_pb(p: Product) -> pb.Product:
    """A product of the policy as the API lists it."""
    descriptions = {
        ProductKind.STANDARD: "Ordinary-loan rate: LPR + standard spread.",
        ProductKind.CARBON_ACCOUNT: "Ordinary rate adjusted by carbon-account grade; "
        f"eligible grades {', '.join(str(g) for g in sorted(p.grade_adjust_bp))}.",
        ProductKind.MINE_SCORE: "Ordinary rate adjusted by a monotone curve of the mine's "
        f"intelligentization acceptance score (minimum {p.min_score}).",
        ProductKind.TRANSITION: "Ordinary rate adjusted by the band of the project's cut in "
        "net coal consumption.",
    }
    return pb.Product(
        product_id=p.product_id,
        kind=KIND_TO_PB[p.kind],
        name_zh=p.name_zh,
        name_en=p.name_en,
        required_evidence=list(p.required_evidence),
        description=descriptions[p.kind] + _reference_note(p),
        pricing_reference=REFERENCE_TO_PB[p.reference],
    )


def _reference_note(p: Product) -> str:
    """What the description adds for a product priced off the LPR (nothing otherwise)."""
    if p.reference is Reference.ORDINARY:
        return ""
    if p.with_spreads:
        return " Adjustment taken from the LPR of the tenor plus the rating and term spreads."
    return " Adjustment taken from the LPR of the tenor, without the rating and term spreads."


def policy_to_pb(policy: Policy, as_of: datetime, document: bytes) -> pb.DescribePolicyResponse:
    """The policy version in force at `as_of`, with the fixings then in force.

    `document` is the version's canonical bytes, whose SHA-256 is its digest.
    """
    fixing = policy.fixings.in_force(as_of)
    return pb.DescribePolicyResponse(
        policy_version=policy.version,
        policy_digest=policy.digest,
        effective_from=policy.effective_from.isoformat(),
        fixings_in_force=[
            pb.BaseRateFixing(
                tenor=TENOR_TO_PB[t],
                rate=fmt_percent(fixing.rate_bp(t)),
                published_at=to_timestamp(fixing.published_at),
            )
            for t in Tenor
        ],
        lpr_confirmed_through=policy.lpr_confirmed_through.isoformat(),
        credit_ratings=list(policy.spreads_bp),
        floor_rate=fmt_percent(policy.floor_bp),
        cap_rate=fmt_percent(policy.cap_bp),
        rounding=f"{fmt_decimal(policy.rounding_step_bp)} bp {policy.rounding_mode}",
        policy_document=document,
    )


# -- use-case results as messages -------------------------------------------------------


def position_pb(position: AuditPosition) -> pb.AuditPosition:
    """An audit position as the API returns it."""
    return pb.AuditPosition(
        log_origin=position.log_origin, sequence=position.sequence, leaf_hash=position.leaf_hash
    )


def quote_pb(stored: StoredQuote) -> pb.Quote:
    """A stored quote as a message: from its domain quote when this process priced it
    (cheap), else parsed from its logged document (tests hold the two equal)."""
    if stored.priced is None:
        return dict_to_message(stored.document, pb.Quote())
    return quote_to_pb(stored.priced, quote_id=stored.quote_id, request=stored.document)


def create_response(stored: StoredQuote) -> pb.CreateQuoteResponse:
    """CreateQuote's answer."""
    return pb.CreateQuoteResponse(
        quote=quote_pb(stored), audit_position=position_pb(stored.position)
    )


def get_response(stored: StoredQuote) -> pb.GetQuoteResponse:
    """GetQuote's answer."""
    return pb.GetQuoteResponse(quote=quote_pb(stored), audit_position=position_pb(stored.position))


def proof_pb(proof: InclusionProofResult) -> pb.GetQuoteProofResponse:
    """GetQuoteProof's answer: the record, its position, the path and the checkpoint."""
    return pb.GetQuoteProofResponse(
        audit_position=position_pb(proof.position),
        checkpoint=proof.checkpoint,
        tree_size=proof.tree_size,
        inclusion_proof=list(proof.proof),
        record=proof.record,
    )


def as_of(request: pb.ListProductsRequest | pb.DescribePolicyRequest) -> datetime | None:
    """The request's as_of instant, or None for "now"."""
    if not request.HasField("as_of"):
        return None
    try:
        when = to_datetime(request.as_of)
        beijing_date(when)  # from 9999-12-31T16:00Z on, Beijing's date is past year 9999
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidRequestError([FieldViolation("as_of", "not a valid timestamp")]) from exc
    return when
