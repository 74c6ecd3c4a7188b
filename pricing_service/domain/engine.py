"""The pricing engine: a pure function of a request and a policy version."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from pricing_service.domain import schedule
from pricing_service.domain.errors import (
    FieldViolation,
    IneligibleError,
    InvalidRequestError,
    ProductNotFoundError,
)
from pricing_service.domain.evidence import ProductKind, Tenor
from pricing_service.domain.grading import grade_for
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


def price(req: QuoteRequest, policy: Policy) -> PricedQuote:
    """Price `req` under `policy`, step by step, exactly."""
    product = policy.products.get(req.product_id)
    if product is None:
        raise ProductNotFoundError(req.product_id)
    _check_terms(req, policy)
    pricing_date = beijing_date(req.pricing_time)
    steps: list[Step] = []

    tenor = policy.tenor_for(req.term_months)
    fixing = policy.fixings.in_force(req.pricing_time)
    base = fixing.rate_bp(tenor)
    published = fixing.published_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    steps.append(
        Step(
            "BASE_RATE",
            _pct(base),
            "percent",
            f"{tenor.value} LPR，{published}（北京时间）公布，定价时点有效",
            f"{tenor.value} LPR published {published} Beijing time, in force at pricing",
        )
    )
    spread = policy.spreads_bp[req.credit_rating]
    steps.append(
        Step(
            "STANDARD_SPREAD",
            _bp(spread),
            "bp",
            f"信用评级 {req.credit_rating} 的标准加点",
            f"standard spread for credit rating {req.credit_rating}",
        )
    )
    tenor_add = policy.tenor_spread_bp(req.term_months)
    if tenor_add != ZERO:
        steps.append(
            Step(
                "TENOR_SPREAD",
                _bp(tenor_add),
                "bp",
                f"期限 {req.term_months} 个月的期限加点",
                f"term spread for {req.term_months} months",
            )
        )
    ordinary_raw = base + spread + tenor_add
    ordinary = round_to_step(ordinary_raw, policy.rounding_step_bp, policy.rounding_mode)
    steps.append(
        Step(
            "ORDINARY_RATE",
            _pct(ordinary),
            "percent",
            "普通贷款利率 = LPR + 标准加点",
            "ordinary-loan rate = LPR + standard spread",
        )
    )

    adjust, carbon = _product_adjustment(req, policy, product, pricing_date, steps)
    raw = ordinary_raw + adjust
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
    mode_zh = {"half_even": "银行家舍入", "half_up": "四舍五入"}[policy.rounding_mode]
    steps.append(
        Step(
            "ROUNDING",
            _pct(final),
            "percent",
            f"按 {_bp(policy.rounding_step_bp)} bp {mode_zh}，仅舍入一次",
            f"rounded once to {_bp(policy.rounding_step_bp)} bp, {policy.rounding_mode}",
        )
    )
    concession = ordinary - final
    steps.append(
        Step(
            "CONCESSION",
            _bp(concession),
            "bp",
            "较普通贷款利率的优惠",
            "concession versus the ordinary-loan rate",
        )
    )
    final_pct = bp_to_percent(final)
    ordinary_pct = bp_to_percent(ordinary)
    repayment = schedule.summary(req.principal_fen, final_pct, req.term_months, req.repayment)
    first_year = schedule.first_year_concession_fen(
        req.principal_fen, ordinary_pct, final_pct, req.term_months, req.repayment
    )
    annualised = schedule.annualised_percent(
        req.principal_fen,
        req.upfront_fee_fen,
        final_pct,
        req.term_months,
        req.repayment,
        policy.annualised_decimals,
    )
    return PricedQuote(
        product_id=product.product_id,
        product_kind=product.kind,
        pricing_time=req.pricing_time,
        pricing_date=pricing_date,
        valid_until=req.pricing_time + timedelta(hours=policy.validity_hours),
        rate_bp=final,
        ordinary_bp=ordinary,
        tenor=tenor,
        base_bp=base,
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
    )


def _check_terms(req: QuoteRequest, policy: Policy) -> None:
    bad: list[FieldViolation] = []
    if req.credit_rating not in policy.spreads_bp:
        known = ", ".join(policy.spreads_bp)
        bad.append(
            FieldViolation("credit_rating", f"unknown rating {req.credit_rating!r}; one of {known}")
        )
    if not policy.min_term_months <= req.term_months <= policy.max_term_months:
        bad.append(
            FieldViolation(
                "term_months",
                f"must be {policy.min_term_months} to {policy.max_term_months} months",
            )
        )
    if req.principal_fen > policy.max_principal_fen:
        bad.append(
            FieldViolation("principal_fen", f"must be at most {policy.max_principal_fen} fen")
        )
    if req.upfront_fee_fen >= req.principal_fen:
        bad.append(FieldViolation("upfront_fee_fen", "must be less than principal_fen"))
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
        carbon = CarbonAssessment(grade=grade, source="given", efficiency_k="", level="")
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
        label = f"{result.level}{grade}级" if result.level else f"{grade}级"
        steps.append(
            Step(
                "CARBON_EFFICIENCY_K",
                k,
                "K",
                f"碳效 K = 排放强度 ÷ 行业基准 {fmt_decimal(bench.benchmark)} tCO2/{bench.unit}",
                f"K = intensity ÷ industry benchmark {fmt_decimal(bench.benchmark)} "
                f"tCO2/{bench.unit}",
            )
        )
        steps.append(
            Step(
                "CARBON_GRADE",
                str(grade),
                "grade",
                f"按碳效 K 计算等级：{label}",
                f"grade computed from K: {grade}",
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
        Step(
            "CARBON_ADJUSTMENT",
            _bp(adjust),
            "bp",
            f"{product.name_zh}：碳账户 {grade} 级较普通贷款利率调整",
            f"{product.name_en}: adjustment for carbon grade {grade} vs the ordinary rate",
        )
    )
    return adjust, carbon


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
        steps.append(
            Step(
                "MINE_CLASS_ADJUSTMENT",
                _bp(class_bp),
                "bp",
                f"建设条件 {ev.construction_class} 类调整",
                f"construction-condition class {ev.construction_class} adjustment",
            )
        )
    return curve_bp + class_bp


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
    cut = ev.coal_g_per_kwh_before - ev.coal_g_per_kwh_after
    pct = CTX.divide(CTX.multiply(cut, HUNDRED), ev.coal_g_per_kwh_before).quantize(Decimal("0.01"))
    for band in product.bands:
        # Compared by cross-multiplication so a band edge is exact.
        if cut * HUNDRED >= band.min_reduction_pct * ev.coal_g_per_kwh_before:
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


__all__ = ["BEIJING", "Tenor", "beijing_date", "price"]
