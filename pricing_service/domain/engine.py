"""The pricing engine: a pure function of a request and a policy version."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar, cast

from pricing_service.domain import schedule
from pricing_service.domain.errors import (
    FieldViolation,
    IneligibleError,
    InvalidRequestError,
    ProductNotFoundError,
)
from pricing_service.domain.evidence import ProductKind, Reference, Tenor
from pricing_service.domain.grading import Benchmark, grade_for
from pricing_service.domain.lpr import Fixing
from pricing_service.domain.policy import Policy, Product
from pricing_service.domain.quote import CarbonAssessment, PricedQuote, Step
from pricing_service.domain.rates import (
    CTX,
    ZERO,
    bp_to_percent,
    fmt_decimal,
    fmt_percent,
    round_to_step,
)
from pricing_service.domain.request import QuoteRequest

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
_EIGHT_HOURS = timedelta(hours=8)


def beijing_date(instant_utc: datetime) -> date:
    """The Beijing-time calendar date of an aware instant."""
    return instant_utc.astimezone(BEIJING).date()


def _pct(bp: Decimal) -> str:
    return fmt_percent(bp)


def _bp(bp: Decimal) -> str:
    return fmt_decimal(bp)


def _check_age(policy: Policy, pricing_date: date, assessed: date, field: str) -> None:
    if assessed > pricing_date:
        raise InvalidRequestError(
            [FieldViolation(field, f"{assessed} is after the pricing date {pricing_date}")]
        )
    age = (pricing_date - assessed).days
    if age > policy.evidence_max_age_days:
        raise IneligibleError(
            "EVIDENCE_TOO_OLD",
            f"{field} {assessed} is {age} days before the pricing date {pricing_date}; "
            f"the policy accepts at most {policy.evidence_max_age_days} days",
            {
                "field": field,
                "age_days": str(age),
                "max_age_days": str(policy.evidence_max_age_days),
            },
        )


@dataclass(frozen=True, slots=True)
class _Ordinary:
    """The ordinary-rate part of a quote: a function of (fixing, rating, term) alone."""

    tenor: Tenor
    base: Decimal
    fixing: Fixing
    steps: tuple[Step, ...]
    raw: Decimal
    rate: Decimal
    percent: Decimal


@dataclass(frozen=True, slots=True)
class _Final:
    """What follows from the final rate alone: its ROUNDING step and its percent."""

    step: Step
    percent: Decimal


# Bounds the per-policy memo. Its keys are bounded by the policy (fixings x ratings
# x terms, rates between floor and cap), but a long LPR history or a very fine
# rounding step could make that large: when full it is emptied and refills with
# what is in use. Entries are built again on demand, identical.
_MEMO_LIMIT = 1 << 15
_T = TypeVar("_T")


def _remember(memo: dict[Hashable, Any], key: Hashable, value: object) -> None:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value


def _memoized(policy: Policy, key: Hashable, build: Callable[[], _T]) -> _T:
    """policy.memo[key], built on first use (the key must fix the value)."""
    value = policy.memo.get(key)
    if value is None:
        value = build()
        _remember(policy.memo, key, value)
    return cast(_T, value)


def _ordinary(policy: Policy, index: int, rating: str, term: int) -> _Ordinary:
    fixing = policy.fixings.fixings[index]
    tenor = policy.tenor_for(term)
    base, base_step = _memoized(policy, ("base", index, tenor), lambda: _base_step(fixing, tenor))
    spread, spread_step = _memoized(
        policy, ("spread", rating), lambda: _spread_step(policy, rating)
    )
    tenor_add, tenor_step = _memoized(policy, ("tenor", term), lambda: _tenor_step(policy, term))
    raw = CTX.add(CTX.add(base, spread), tenor_add)
    # round_to_step() depends on the value of raw only; see price() on exponents.
    rate, rate_step, percent = _memoized(
        policy, ("ordinary", raw), lambda: _ordinary_rate(policy, raw)
    )
    steps = (
        (base_step, spread_step, rate_step)
        if tenor_step is None
        else (base_step, spread_step, tenor_step, rate_step)
    )
    return _Ordinary(tenor, base, fixing, steps, raw, rate, percent)


def _base_step(fixing: Fixing, tenor: Tenor) -> tuple[Decimal, Step]:
    base = fixing.rate_bp(tenor)
    published = fixing.published_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    return base, Step(
        "BASE_RATE",
        _pct(base),
        "percent",
        f"{tenor.value} LPR，{published}（北京时间）公布，定价时点有效",
        f"{tenor.value} LPR published {published} Beijing time, in force at pricing",
    )


def _spread_step(policy: Policy, rating: str) -> tuple[Decimal, Step]:
    spread = policy.spreads_bp[rating]
    return spread, Step(
        "STANDARD_SPREAD",
        _bp(spread),
        "bp",
        f"信用评级 {rating} 的标准加点",
        f"standard spread for credit rating {rating}",
    )


def _tenor_step(policy: Policy, term: int) -> tuple[Decimal, Step | None]:
    tenor_add = policy.tenor_spread_bp(term)
    if tenor_add == ZERO:
        return tenor_add, None
    return tenor_add, Step(
        "TENOR_SPREAD",
        _bp(tenor_add),
        "bp",
        f"期限 {term} 个月的期限加点",
        f"term spread for {term} months",
    )


def _ordinary_rate(policy: Policy, raw: Decimal) -> tuple[Decimal, Step, Decimal]:
    rate = round_to_step(raw, policy.rounding_step_bp, policy.rounding_mode)
    step = Step(
        "ORDINARY_RATE",
        _pct(rate),
        "percent",
        "普通贷款利率 = LPR + 标准加点",
        "ordinary-loan rate = LPR + standard spread",
    )
    return rate, step, bp_to_percent(rate)


def _final(policy: Policy, final: Decimal) -> _Final:
    mode_zh = {"half_even": "银行家舍入", "half_up": "四舍五入"}[policy.rounding_mode]
    step = Step(
        "ROUNDING",
        _pct(final),
        "percent",
        f"按 {_bp(policy.rounding_step_bp)} bp {mode_zh}，仅舍入一次",
        f"rounded once to {_bp(policy.rounding_step_bp)} bp, {policy.rounding_mode}",
    )
    return _Final(step, bp_to_percent(final))


def _concession(concession: Decimal) -> Step:
    return Step(
        "CONCESSION",
        _bp(concession),
        "bp",
        "较普通贷款利率的优惠",
        "concession versus the ordinary-loan rate",
    )


def price(req: QuoteRequest, policy: Policy) -> PricedQuote:
    """Price `req` under `policy`, step by step, exactly, whatever the caller's decimal context.

    Every Decimal operation here names CTX (no operators, no bare quantize), and
    the schedule and grading functions run under CTX themselves: a caller's
    decimal context cannot change a quote.

    What depends on the policy alone (the ordinary-rate part for a fixing,
    rating and term; the rounding and concession steps for a rate) is kept in
    policy.memo: it is a function of its key, so reading it back changes nothing.
    Rates of one policy carry the exponent of its rounding step, so a rate's
    value fixes its text, and keying those steps by value is exact.
    """
    product = policy.products.get(req.product_id)
    if product is None:
        raise ProductNotFoundError(req.product_id)
    term = req.term_months
    rating = req.credit_rating
    principal = req.principal_fen
    if (
        rating not in policy.spreads_bp
        or not policy.min_term_months <= term <= policy.max_term_months
        or principal > policy.max_principal_fen
        or req.upfront_fee_fen >= principal
    ):
        _check_terms(req, policy)
    pricing_time = req.pricing_time
    if pricing_time.tzinfo is UTC:
        pricing_date = (pricing_time + _EIGHT_HOURS).date()  # Beijing has no DST
    else:
        pricing_date = pricing_time.astimezone(BEIJING).date()
    index = policy.fixings.index_in_force(pricing_time)
    memo = policy.memo
    key: tuple[object, ...] = (index, rating, term)
    ordinary: _Ordinary | None = memo.get(key)
    if ordinary is None:
        ordinary = _ordinary(policy, index, rating, term)
        _remember(memo, key, ordinary)
    steps = list(ordinary.steps)

    adjust, carbon = _product_adjustment(req, policy, product, pricing_date, steps)
    if product.adds_spreads:
        raw = CTX.add(ordinary.raw, adjust)
        if product.reference is Reference.BASE:
            steps.append(_reference_step(product, ordinary.tenor, ordinary.raw, adjust))
    else:
        raw = CTX.add(ordinary.base, adjust)
        steps.append(_reference_step(product, ordinary.tenor, ordinary.base, adjust))
    floor_binding = raw < policy.floor_bp
    cap_binding = raw > policy.cap_bp
    bounded = raw
    if floor_binding:
        bounded = policy.floor_bp
        steps.append(
            Step(
                "FLOOR",
                _pct(policy.floor_bp),
                "percent",
                f"利率下限 {_pct(policy.floor_bp)}% 生效（调整后 {_pct(raw)}%）",
                f"floor {_pct(policy.floor_bp)}% binds (adjusted rate {_pct(raw)}%)",
            )
        )
    elif cap_binding:
        bounded = policy.cap_bp
        steps.append(
            Step(
                "CAP",
                _pct(policy.cap_bp),
                "percent",
                f"利率上限 {_pct(policy.cap_bp)}% 生效（调整后 {_pct(raw)}%）",
                f"cap {_pct(policy.cap_bp)}% binds (adjusted rate {_pct(raw)}%)",
            )
        )
    final = round_to_step(bounded, policy.rounding_step_bp, policy.rounding_mode)
    key = ("final", final)
    tail: _Final | None = memo.get(key)
    if tail is None:
        tail = _final(policy, final)
        _remember(memo, key, tail)
    steps.append(tail.step)
    concession = CTX.subtract(ordinary.rate, final)
    key = ("concession", concession)
    concession_step: Step | None = memo.get(key)
    if concession_step is None:
        concession_step = _concession(concession)
        _remember(memo, key, concession_step)
    steps.append(concession_step)

    repayment, first_year, annualised = schedule.loan_figures(
        principal,
        req.upfront_fee_fen,
        ordinary.percent,
        tail.percent,
        term,
        req.repayment,
        policy.annualised_decimals,
    )
    validity: timedelta | None = memo.get("validity")
    if validity is None:
        validity = timedelta(hours=policy.validity_hours)
        _remember(memo, "validity", validity)
    fixing = ordinary.fixing
    return PricedQuote(
        product_id=product.product_id,
        product_kind=product.kind,
        pricing_time=pricing_time,
        pricing_date=pricing_date,
        valid_until=pricing_time + validity,
        rate_bp=final,
        ordinary_bp=ordinary.rate,
        tenor=ordinary.tenor,
        base_bp=ordinary.base,
        base_published_at=fixing.published_at,
        concession_bp=concession,
        first_year_concession_fen=first_year,
        annualised_percent=annualised,
        repayment=repayment,
        floor_binding=floor_binding,
        cap_binding=cap_binding,
        steps=tuple(steps),
        policy_version=policy.version,
        policy_digest=policy.digest,
        carbon=carbon,
        reference=product.reference,
    )


def _reference_names(product: Product) -> tuple[str, str]:
    """What the product's adjustment is measured from, in Chinese and English."""
    if product.reference is Reference.ORDINARY:
        return "普通贷款利率", "the ordinary rate"
    if product.with_spreads:
        return "LPR 加点后利率", "the LPR plus spreads"
    return "LPR", "the LPR"


def _reference_step(product: Product, tenor: Tenor, start: Decimal, adjust: Decimal) -> Step:
    """PRICING_REFERENCE: the rate a `base` product's adjustment was taken from, and by how much.

    Only products priced off the LPR have it: an ordinary-reference quote's
    breakdown is what it always was.
    """
    size = _bp(adjust.copy_abs())
    if adjust < ZERO:
        zh, en = f"低{size}个基点", f"{size} bp below"
    elif adjust > ZERO:
        zh, en = f"高{size}个基点", f"{size} bp above"
    else:
        zh, en = "持平", "level with"
    if product.with_spreads:
        spreads_zh = "（另加信用评级与期限加点）"
        spreads_en = " plus the rating and term spreads"
    else:
        spreads_zh = "（不加信用评级与期限加点）"
        spreads_en = ", without the rating and term spreads"
    return Step(
        "PRICING_REFERENCE",
        _pct(start),
        "percent",
        f"{product.name_zh}：较{tenor.value} LPR{zh}{spreads_zh}",
        f"{product.name_en}: {en} the {tenor.value} LPR{spreads_en}",
    )


def term_violations(
    credit_rating: str, term_months: int, principal_fen: int, upfront_fee_fen: int, policy: Policy
) -> list[FieldViolation]:
    """The request's terms that the policy does not allow, one violation per field."""
    bad: list[FieldViolation] = []
    if credit_rating not in policy.spreads_bp:
        known = ", ".join(policy.spreads_bp)
        bad.append(
            FieldViolation("credit_rating", f"unknown rating {credit_rating!r}; one of {known}")
        )
    if not policy.min_term_months <= term_months <= policy.max_term_months:
        bad.append(
            FieldViolation(
                "term_months",
                f"must be {policy.min_term_months} to {policy.max_term_months} months",
            )
        )
    if principal_fen > policy.max_principal_fen:
        bad.append(
            FieldViolation("principal_fen", f"must be at most {policy.max_principal_fen} fen")
        )
    if upfront_fee_fen >= principal_fen > 0:
        bad.append(FieldViolation("upfront_fee_fen", "must be less than principal_fen"))
    return bad


def evidence_violations(product: Product, present: frozenset[str]) -> list[FieldViolation]:
    """Evidence the product needs that the request lacks (`present`: evidence field names)."""
    if product.kind is ProductKind.CARBON_ACCOUNT and not present & {
        "carbon_grade",
        "carbon_emissions",
    }:
        return [
            FieldViolation(
                "carbon_grade",
                f"product {product.product_id} needs carbon_grade or carbon_emissions",
            )
        ]
    if product.kind is ProductKind.MINE_SCORE and "mine_score" not in present:
        return [FieldViolation("mine_score", f"product {product.product_id} needs mine_score")]
    if product.kind is ProductKind.TRANSITION and "transition_kpis" not in present:
        return [
            FieldViolation("transition_kpis", f"product {product.product_id} needs transition_kpis")
        ]
    return []


def _check_terms(req: QuoteRequest, policy: Policy) -> None:
    bad = term_violations(
        req.credit_rating, req.term_months, req.principal_fen, req.upfront_fee_fen, policy
    )
    if bad:
        raise InvalidRequestError(bad)


def _product_adjustment(
    req: QuoteRequest, policy: Policy, product: Product, pricing_date: date, steps: list[Step]
) -> tuple[Decimal, CarbonAssessment | None]:
    if product.kind is ProductKind.STANDARD:
        return ZERO, None
    if product.kind is ProductKind.CARBON_ACCOUNT:
        return _carbon(req, policy, product, pricing_date, steps)
    if product.kind is ProductKind.MINE_SCORE:
        return _mine(req, policy, product, pricing_date, steps), None
    return _transition(req, policy, product, pricing_date, steps), None


def _carbon(
    req: QuoteRequest, policy: Policy, product: Product, pricing_date: date, steps: list[Step]
) -> tuple[Decimal, CarbonAssessment]:
    if req.carbon_grade is not None and req.carbon_emissions is not None:
        raise InvalidRequestError(
            [FieldViolation("carbon_emissions", "give either carbon_grade or carbon_emissions")]
        )
    if req.carbon_grade is not None:
        given = req.carbon_grade
        _check_age(policy, pricing_date, given.assessed_on, "carbon_grade.assessed_on")
        grade = given.grade
        carbon = (
            _memoized(policy, ("carbon_given", grade), lambda: _given_assessment(grade))
            if grade in product.grade_adjust_bp  # no memo entry for grades a request makes up
            else _given_assessment(grade)
        )
        steps.append(
            Step(
                "CARBON_GRADE",
                str(grade),
                "grade",
                f"碳账户等级 {grade} 级（{given.platform_id}，{given.assessed_on} 评定）",
                f"carbon-account grade {grade} ({given.platform_id}, assessed {given.assessed_on})",
            )
        )
    elif req.carbon_emissions is not None:
        ev = req.carbon_emissions
        _check_age(policy, pricing_date, ev.period_end, "carbon_emissions.period_end")
        bench = policy.industries[ev.industry]
        result = grade_for(ev, bench, policy.grade_k_upper, policy.level_upper)
        grade = result.grade
        k = fmt_decimal(result.k_display)
        carbon = CarbonAssessment(
            grade=grade, source="computed", efficiency_k=k, level=result.level
        )
        reason_zh, reason_en = _memoized(
            policy, ("k_reasons", ev.industry), lambda: _k_reasons(bench)
        )
        steps.append(Step("CARBON_EFFICIENCY_K", k, "K", reason_zh, reason_en))
        steps.append(
            _memoized(
                policy,
                ("carbon_computed_grade", result.level, grade),
                lambda: _computed_grade_step(result.level, grade),
            )
        )
    else:
        raise InvalidRequestError(
            [
                FieldViolation(
                    "carbon_grade",
                    f"product {product.product_id} needs carbon_grade or carbon_emissions",
                )
            ]
        )
    adjust = product.grade_adjust_bp.get(grade)
    if adjust is None:
        eligible = ", ".join(str(g) for g in sorted(product.grade_adjust_bp))
        raise IneligibleError(
            "CARBON_GRADE_INELIGIBLE",
            f"carbon grade {grade} is not eligible for {product.product_id} (eligible: {eligible})",
            {"grade": str(grade), "eligible_grades": eligible},
        )
    steps.append(
        _memoized(
            policy,
            ("carbon_adjustment", product.product_id, grade),
            lambda: Step(
                "CARBON_ADJUSTMENT",
                _bp(adjust),
                "bp",
                f"{product.name_zh}：碳账户 {grade} 级较{_reference_names(product)[0]}调整",
                f"{product.name_en}: adjustment for carbon grade {grade} "
                f"vs {_reference_names(product)[1]}",
            ),
        )
    )
    return adjust, carbon


def _given_assessment(grade: int) -> CarbonAssessment:
    return CarbonAssessment(grade=grade, source="given", efficiency_k="", level="")


def _k_reasons(bench: Benchmark) -> tuple[str, str]:
    return (
        f"碳效 K = 排放强度 ÷ 行业基准 {fmt_decimal(bench.benchmark)} tCO2/{bench.unit}",
        f"K = intensity ÷ industry benchmark {fmt_decimal(bench.benchmark)} tCO2/{bench.unit}",
    )


def _computed_grade_step(level: str, grade: int) -> Step:
    label = f"{level}{grade}级" if level else f"{grade}级"
    return Step(
        "CARBON_GRADE",
        str(grade),
        "grade",
        f"按碳效 K 计算等级：{label}",
        f"grade computed from K: {grade}",
    )


def _mine(
    req: QuoteRequest, policy: Policy, product: Product, pricing_date: date, steps: list[Step]
) -> Decimal:
    ev = req.mine_score
    if ev is None:
        raise InvalidRequestError(
            [FieldViolation("mine_score", f"product {product.product_id} needs mine_score")]
        )
    _check_age(policy, pricing_date, ev.accepted_on, "mine_score.accepted_on")
    if not ev.mandatory_indicators_passed:
        raise IneligibleError(
            "MANDATORY_INDICATOR_FAILED",
            "a mandatory intelligentization indicator failed: acceptance fails regardless of score",
            {"score": fmt_decimal(ev.score)},
        )
    if ev.score < product.min_score:
        raise IneligibleError(
            "MINE_SCORE_BELOW_MINIMUM",
            f"score {ev.score} is below the policy minimum {product.min_score}",
            {"score": fmt_decimal(ev.score), "min_score": fmt_decimal(product.min_score)},
        )
    if ev.construction_class not in product.class_adjust_bp:
        raise InvalidRequestError(
            [FieldViolation("mine_score.construction_class", "must be 1, 2 or 3")]
        )
    assert product.curve is not None
    curve_bp = product.curve.adjustment_bp(ev.score)
    class_bp = product.class_adjust_bp[ev.construction_class]
    steps.append(
        Step(
            "MINE_SCORE_ADJUSTMENT",
            _bp(curve_bp),
            "bp",
            f"智能化验收评分 {ev.score} 分（{ev.accepted_on} 验收）按单调曲线调整",
            f"acceptance score {ev.score} (accepted {ev.accepted_on}) on the monotone curve",
        )
    )
    if class_bp != ZERO:
        cls = ev.construction_class
        steps.append(
            _memoized(
                policy,
                ("mine_class", product.product_id, cls),
                lambda: Step(
                    "MINE_CLASS_ADJUSTMENT",
                    _bp(class_bp),
                    "bp",
                    f"建设条件 {cls} 类调整",
                    f"construction-condition class {cls} adjustment",
                ),
            )
        )
    return CTX.add(curve_bp, class_bp)


def _transition(
    req: QuoteRequest, policy: Policy, product: Product, pricing_date: date, steps: list[Step]
) -> Decimal:
    ev = req.transition_kpis
    if ev is None:
        raise InvalidRequestError(
            [
                FieldViolation(
                    "transition_kpis", f"product {product.product_id} needs transition_kpis"
                )
            ]
        )
    _check_age(policy, pricing_date, ev.verified_on, "transition_kpis.verified_on")
    if ev.annual_tco2_reduced < product.min_annual_tco2_reduced:
        raise IneligibleError(
            "TRANSITION_KPI_BELOW_MINIMUM",
            f"annual reduction {ev.annual_tco2_reduced} tCO2 is below the policy minimum "
            f"{product.min_annual_tco2_reduced}",
            {"annual_tco2_reduced": fmt_decimal(ev.annual_tco2_reduced)},
        )
    cut = CTX.subtract(ev.coal_g_per_kwh_before, ev.coal_g_per_kwh_after)
    pct = CTX.divide(CTX.multiply(cut, HUNDRED), ev.coal_g_per_kwh_before).quantize(
        CENT, context=CTX
    )
    for band in product.bands:
        # Compared by cross-multiplication so a band edge is exact.
        if CTX.multiply(cut, HUNDRED) >= CTX.multiply(
            band.min_reduction_pct, ev.coal_g_per_kwh_before
        ):
            steps.append(
                Step(
                    "TRANSITION_BAND",
                    _bp(band.adjust_bp),
                    "bp",
                    f"供电煤耗下降 {fmt_decimal(pct)}%，"
                    f"达到 ≥{fmt_decimal(band.min_reduction_pct)}% 档",
                    f"net coal consumption cut {fmt_decimal(pct)}% meets the "
                    f"≥{fmt_decimal(band.min_reduction_pct)}% band",
                )
            )
            return band.adjust_bp
    lowest = fmt_decimal(product.bands[-1].min_reduction_pct) if product.bands else "0"
    raise IneligibleError(
        "TRANSITION_KPI_BELOW_MINIMUM",
        f"net coal consumption cut {fmt_decimal(pct)}% is below the lowest band ({lowest}%)",
        {"reduction_pct": fmt_decimal(pct)},
    )


__all__ = ["BEIJING", "beijing_date", "evidence_violations", "price", "term_violations"]
