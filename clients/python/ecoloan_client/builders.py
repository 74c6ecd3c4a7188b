"""Build CreateQuoteRequest messages from keyword arguments, exactly.

Money is given in CNY as a decimal string (or Decimal/int) and converted to integer
fen without rounding; more than two decimals is an error, never silently rounded.
Binary floats are refused everywhere: the contract carries no float, and
`0.1 + 0.2` must never reach a binding quote.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

__all__ = [
    "DecimalLike",
    "carbon_emissions",
    "carbon_grade",
    "cny_to_fen",
    "decimal_string",
    "industry",
    "mine_score",
    "quote_request",
    "repayment_method",
    "timestamp",
    "transition_kpis",
]

DecimalLike = str | Decimal | int
"""A decimal amount: a string such as "1000000.50", a Decimal, or an int. Never a float."""

_REPAYMENT_NAMES: dict[str, pb.RepaymentMethod.ValueType] = {
    "equal-installment": pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
    "equal-principal": pb.REPAYMENT_METHOD_EQUAL_PRINCIPAL,
    "interest-only": pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET,
    "interest-only-bullet": pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET,
    "等额本息": pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
    "等额本金": pb.REPAYMENT_METHOD_EQUAL_PRINCIPAL,
    "按月付息到期还本": pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET,
}
REPAYMENT_CHOICES = ("equal-installment", "equal-principal", "interest-only")
"""The short repayment names the CLI offers."""

INDUSTRY_CHOICES = (
    "power",
    "electrolytic-aluminium",
    "chemicals",
    "petrochemicals",
    "coking",
    "other",
)
"""Industry names accepted by `industry()` (also the enum names and underscores)."""


def _decimal(value: DecimalLike, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
        # float is refused on purpose: its binary value is not the decimal the caller wrote.
        raise TypeError(
            f"{what}: give a decimal string, Decimal or int, not {type(value).__name__}"
        )
    try:
        result = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"{what}: not a decimal number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{what}: not a finite number: {value!r}")
    return result


def decimal_string(value: DecimalLike, what: str = "value") -> str:
    """A decimal as the contract's decimal string (plain notation, no exponent)."""
    return format(_decimal(value, what), "f")


def cny_to_fen(amount: DecimalLike, what: str = "amount") -> int:
    """Exact CNY -> fen: "1000000" -> 100000000, "12.34" -> 1234; "1.234" is an error."""
    value = _decimal(amount, what)
    # Integer arithmetic on the decimal's digits: Decimal operations round to the
    # context precision (28 digits), which an exact conversion must not depend on.
    if value.adjusted() > 16:
        raise ValueError(f"{what}: too large for int64 fen: {amount!r}")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by _decimal
    units = int("".join(map(str, digits)) or "0")
    shift = exponent + 2  # fen = units x 10^(exponent + 2)
    if units == 0:
        return 0
    if shift < -64:  # more decimals than any amount is ever written with
        raise ValueError(f"{what}: at most 2 decimals (fen) allowed, got {amount!r}")
    if shift >= 0:
        fen = units * int(10**shift)
    else:
        fen, rest = divmod(units, 10**-shift)
        if rest:
            raise ValueError(f"{what}: at most 2 decimals (fen) allowed, got {amount!r}")
    if fen >= 2**63:
        raise ValueError(f"{what}: too large for int64 fen: {amount!r}")
    return -fen if sign else fen


def timestamp(value: datetime | str) -> Timestamp:
    """An RFC 3339 string or an aware datetime as a protobuf Timestamp.

    A naive datetime is refused: Beijing time and UTC differ by eight hours, which
    can change the pricing date and the LPR fixing in force.
    """
    ts = Timestamp()
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamp needs a UTC offset: {value.isoformat()}")
        ts.FromDatetime(value)
        return ts
    try:
        ts.FromJsonString(value.strip())
    except ValueError as exc:
        raise ValueError(
            f"not an RFC 3339 timestamp (e.g. 2026-11-20T10:00:00+08:00): {value!r} ({exc})"
        ) from None
    return ts


def _date(value: date | str, what: str) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return value


def repayment_method(name: str | int) -> pb.RepaymentMethod.ValueType:
    """A repayment method from "equal-installment" / "equal-principal" / "interest-only",
    the Chinese names (等额本息, 等额本金, 按月付息到期还本), the enum name, or its number.
    """
    if isinstance(name, int):
        return pb.RepaymentMethod.Value(
            pb.RepaymentMethod.Name(pb.RepaymentMethod.ValueType(name))
        )  # checks the number
    key = name.strip().lower().replace("_", "-")
    if key in _REPAYMENT_NAMES:
        return _REPAYMENT_NAMES[key]
    try:
        return pb.RepaymentMethod.Value(name.strip().upper())
    except ValueError:
        raise ValueError(
            f"unknown repayment method {name!r}; one of {', '.join(REPAYMENT_CHOICES)}"
        ) from None


def industry(name: str | int) -> pb.Industry.ValueType:
    """An industry from "electrolytic-aluminium" (or _), "INDUSTRY_POWER", or its number."""
    if isinstance(name, int):
        return pb.Industry.Value(pb.Industry.Name(pb.Industry.ValueType(name)))
    key = name.strip().upper().replace("-", "_")
    if not key.startswith("INDUSTRY_"):
        key = "INDUSTRY_" + key
    try:
        return pb.Industry.Value(key)
    except ValueError:
        raise ValueError(
            f"unknown industry {name!r}; one of {', '.join(INDUSTRY_CHOICES)}"
        ) from None


def carbon_grade(grade: int, assessed_on: date | str, platform_id: str) -> pb.CarbonGrade:
    """A carbon-account grade (1 best .. 5) assessed by `platform_id` on `assessed_on`."""
    return pb.CarbonGrade(
        grade=grade, assessed_on=_date(assessed_on, "assessed_on"), platform_id=platform_id
    )


def carbon_emissions(
    industry_name: str | int,
    emissions_tco2: DecimalLike,
    *,
    period_end: date | str,
    platform_id: str,
    output_quantity: DecimalLike | None = None,
    value_added_10k_cny: DecimalLike | None = None,
) -> pb.CarbonEmissions:
    """Emissions and activity from which the server computes the carbon grade."""
    out = pb.CarbonEmissions(
        industry=industry(industry_name),
        emissions_tco2=decimal_string(emissions_tco2, "emissions_tco2"),
        period_end=_date(period_end, "period_end"),
        platform_id=platform_id,
    )
    if output_quantity is not None:
        out.output_quantity = decimal_string(output_quantity, "output_quantity")
    if value_added_10k_cny is not None:
        out.value_added_10k_cny = decimal_string(value_added_10k_cny, "value_added_10k_cny")
    return out


def mine_score(
    score: DecimalLike,
    construction_class: int,
    accepted_on: date | str,
    *,
    mandatory_indicators_passed: bool = True,
) -> pb.MineScore:
    """A coal mine's intelligentization acceptance result (score 0-100, one decimal)."""
    return pb.MineScore(
        score=decimal_string(score, "score"),
        construction_class=construction_class,
        mandatory_indicators_passed=mandatory_indicators_passed,
        accepted_on=_date(accepted_on, "accepted_on"),
    )


def transition_kpis(
    annual_tco2_reduced: DecimalLike,
    coal_g_per_kwh_before: DecimalLike,
    coal_g_per_kwh_after: DecimalLike,
    verified_on: date | str,
) -> pb.TransitionKpis:
    """Verified KPIs of a transition project."""
    return pb.TransitionKpis(
        annual_tco2_reduced=decimal_string(annual_tco2_reduced, "annual_tco2_reduced"),
        coal_g_per_kwh_before=decimal_string(coal_g_per_kwh_before, "coal_g_per_kwh_before"),
        coal_g_per_kwh_after=decimal_string(coal_g_per_kwh_after, "coal_g_per_kwh_after"),
        verified_on=_date(verified_on, "verified_on"),
    )


def quote_request(
    *,
    product_id: str,
    borrower_id: str,
    credit_rating: str,
    term_months: int,
    repayment: str | int,
    principal_cny: DecimalLike | None = None,
    principal_fen: int | None = None,
    upfront_fee_cny: DecimalLike | None = None,
    upfront_fee_fen: int | None = None,
    request_id: str = "",
    pricing_time: datetime | str | None = None,
    carbon_grade: pb.CarbonGrade | None = None,
    carbon_emissions: pb.CarbonEmissions | None = None,
    mine_score: pb.MineScore | None = None,
    transition_kpis: pb.TransitionKpis | None = None,
) -> pb.CreateQuoteRequest:
    """A CreateQuoteRequest from keyword arguments.

    Give the principal once, in CNY (`principal_cny="1000000"`) or in fen; the fee
    likewise. Set `request_id` to make the call safely retryable (the client then
    retries it on UNAVAILABLE/DEADLINE_EXCEEDED). Leave `pricing_time` unset to price
    at the server's clock.
    """
    if (principal_cny is None) == (principal_fen is None):
        raise ValueError("give exactly one of principal_cny and principal_fen")
    if upfront_fee_cny is not None and upfront_fee_fen is not None:
        raise ValueError("give at most one of upfront_fee_cny and upfront_fee_fen")
    request = pb.CreateQuoteRequest(
        request_id=request_id,
        borrower_id=borrower_id,
        product_id=product_id,
        credit_rating=credit_rating,
        principal_fen=(
            cny_to_fen(principal_cny, "principal_cny")
            if principal_cny is not None
            else int(principal_fen or 0)
        ),
        term_months=term_months,
        repayment_method=repayment_method(repayment),
        upfront_fee_fen=(
            cny_to_fen(upfront_fee_cny, "upfront_fee_cny")
            if upfront_fee_cny is not None
            else int(upfront_fee_fen or 0)
        ),
    )
    if pricing_time is not None:
        request.pricing_time.CopyFrom(timestamp(pricing_time))
    if carbon_grade is not None:
        request.carbon_grade.CopyFrom(carbon_grade)
    if carbon_emissions is not None:
        request.carbon_emissions.CopyFrom(carbon_emissions)
    if mine_score is not None:
        request.mine_score.CopyFrom(mine_score)
    if transition_kpis is not None:
        request.transition_kpis.CopyFrom(transition_kpis)
    return request
