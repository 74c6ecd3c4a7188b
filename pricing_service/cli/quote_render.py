"""Human-readable rendering of quotes, products and policies for the `pricing` CLI (rich).

Money arrives in integer fen and rates as decimal strings; both are shown without
passing through a binary float. Server-provided text is rendered as plain text,
never as rich markup, so a "[...]" in a reason cannot restyle or hide output.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import IO

from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pricing_service.domain.evidence import ProductKind, Reference
from pricing_service.domain.policy import Policy, Product
from pricing_service.domain.rates import fmt_decimal, fmt_percent

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

REPAYMENT_LABELS = {
    pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT: "等额本息 equal instalments",
    pb.REPAYMENT_METHOD_EQUAL_PRINCIPAL: "等额本金 equal principal",
    pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET: "按月付息、到期还本 interest-only, bullet",
}
KIND_LABELS = {
    pb.PRODUCT_KIND_STANDARD: "standard",
    pb.PRODUCT_KIND_CARBON_ACCOUNT: "carbon account",
    pb.PRODUCT_KIND_MINE_SCORE: "mine score",
    pb.PRODUCT_KIND_TRANSITION: "transition",
}
TENOR_LABELS = {pb.TENOR_1Y: "1Y", pb.TENOR_5Y_PLUS: "5Y+"}


PIPE_WIDTH = 120
"""Columns when output is not a terminal: wide enough for a step's reason on one line."""


def console(file: IO[str] | None = None) -> Console:
    """A console for data output: no markup, emoji or auto-highlighting of server text."""
    out = Console(file=file, markup=False, emoji=False, highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        # rich assumes 80 columns off a terminal, which folds every bilingual reason.
        out.width = PIPE_WIDTH
    return out


def fen_to_cny(fen: int) -> str:
    """Integer fen as CNY with thousands separators: 1090935 -> "10,909.35"."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def beijing_time(ts: Timestamp) -> str:
    """A Timestamp in Beijing time, e.g. "2026-11-20 10:00:00 +08:00"."""
    instant = datetime.fromtimestamp(ts.seconds, tz=UTC).replace(microsecond=ts.nanos // 1000)
    return instant.astimezone(BEIJING).isoformat(sep=" ")


def _kv_table(title: str | None = None) -> Table:
    table = Table(
        title=title, show_header=False, box=box.SIMPLE, title_justify="left", pad_edge=False
    )
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    return table


def render_quote(out: Console, quote: pb.Quote, position: pb.AuditPosition | None) -> None:
    """The readable breakdown of a quote: header, steps, outcome, repayment, provenance."""
    head = _kv_table(f"Quote {quote.quote_id}")
    head.add_row("product", f"{quote.product_id} ({KIND_LABELS.get(quote.product_kind, '?')})")
    head.add_row("borrower", quote.borrower_id)
    if quote.request_id:
        head.add_row("request id", quote.request_id)
    head.add_row("principal", f"{fen_to_cny(quote.principal_fen)} CNY")
    head.add_row("term", f"{quote.term_months} months")
    head.add_row("pricing time", f"{beijing_time(quote.pricing_time)} (date {quote.pricing_date})")
    head.add_row("valid until", beijing_time(quote.valid_until))
    out.print(head)

    steps = Table(title="Pricing steps 定价步骤", box=box.SIMPLE_HEAD, title_justify="left")
    steps.add_column("#", justify="right")
    steps.add_column("code", no_wrap=True)
    steps.add_column("value", justify="right", no_wrap=True)
    steps.add_column("unit", no_wrap=True)
    steps.add_column("reason 说明", overflow="fold")
    for i, step in enumerate(quote.steps, 1):
        steps.add_row(
            str(i), step.code, step.value, step.unit, Text(f"{step.reason_zh}\n{step.reason_en}")
        )
    out.print(steps)

    result = _kv_table("Result 结果")
    result.add_row("annual rate 执行利率", Text(f"{quote.annual_rate} %", style="bold"))
    result.add_row("ordinary rate 普通贷款利率", f"{quote.ordinary_rate} %")
    result.add_row(
        "concession 优惠",
        f"{quote.concession_bp} bp; first year {fen_to_cny(quote.first_year_concession_fen)} CNY",
    )
    result.add_row("annualised rate 年化利率", f"{quote.annualised_rate} % (incl. upfront fees)")
    base = quote.base_rate
    result.add_row(
        "base rate",
        f"{TENOR_LABELS.get(base.tenor, '?')} LPR {base.rate} %, "
        f"published {beijing_time(base.published_at)}",
    )
    if quote.pricing_reference == pb.PRICING_REFERENCE_BASE:
        result.add_row(
            "priced from 定价基准",
            f"the {TENOR_LABELS.get(base.tenor, '?')} LPR (product reference: base)",
        )
    if quote.floor_binding or quote.cap_binding:
        result.add_row("bound", "floor binds" if quote.floor_binding else "cap binds")
    if quote.HasField("carbon"):
        c = quote.carbon
        extra = "".join(
            [f", K {c.efficiency_k}" if c.efficiency_k else "", f", {c.level}" if c.level else ""]
        )
        result.add_row("carbon grade", f"{c.grade} ({c.source}{extra})")
    out.print(result)

    r = quote.repayment
    repay = _kv_table("Repayment 还款")
    repay.add_row("method", REPAYMENT_LABELS.get(r.method, "unspecified"))
    repay.add_row("instalments", str(r.installments))
    repay.add_row("first payment", f"{fen_to_cny(r.first_payment_fen)} CNY")
    repay.add_row("total payment", f"{fen_to_cny(r.total_payment_fen)} CNY")
    repay.add_row("total interest", f"{fen_to_cny(r.total_interest_fen)} CNY")
    out.print(repay)

    prov = _kv_table("Provenance 依据")
    prov.add_row("policy", f"{quote.policy_version} sha256:{quote.policy_digest}")
    if position is not None:
        prov.add_row("audit log", position.log_origin)
        leaf = f", leaf {position.leaf_hash}" if position.leaf_hash else ""
        prov.add_row("audit position", f"#{position.sequence}{leaf}")
    out.print(prov)


def render_products(out: Console, response: pb.ListProductsResponse) -> None:
    """The products table of ListProducts."""
    table = Table(
        title=f"Products of policy {response.policy_version}",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    table.add_column("product", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("evidence", overflow="fold")
    table.add_column("description", overflow="fold")
    for p in response.products:
        table.add_row(
            p.product_id,
            KIND_LABELS.get(p.kind, "?"),
            Text(f"{p.name_zh}\n{p.name_en}"),
            ", ".join(p.required_evidence) or "-",
            p.description,
        )
    out.print(table)
    out.print(f"policy digest sha256:{response.policy_digest}")


def render_policy_description(out: Console, response: pb.DescribePolicyResponse) -> None:
    """DescribePolicy as a key-value table."""
    table = _kv_table(f"Policy {response.policy_version}")
    table.add_row("digest", f"sha256:{response.policy_digest}")
    table.add_row("effective from", response.effective_from)
    for fixing in response.fixings_in_force:
        table.add_row(
            f"LPR {TENOR_LABELS.get(fixing.tenor, '?')} in force",
            f"{fixing.rate} % (published {beijing_time(fixing.published_at)})",
        )
    table.add_row("LPR confirmed through", response.lpr_confirmed_through)
    table.add_row("credit ratings", ", ".join(response.credit_ratings))
    table.add_row("floor / cap", f"{response.floor_rate} % / {response.cap_rate} %")
    table.add_row("rounding", response.rounding)
    out.print(table)


def _bp_lines(items: Iterable[tuple[int, Decimal]], label: str) -> list[str]:
    return [f"{label} {k}: {fmt_decimal(v)} bp" for k, v in sorted(items)]


def product_key_numbers(product: Product) -> list[str]:
    """The numbers that price a product, one per line (its reference too, when not ordinary)."""
    if product.reference is Reference.BASE:
        spreads = (
            "plus rating, term spreads" if product.with_spreads else "no rating or term spread"
        )
        return ["off the LPR (reference base)", spreads, *_kind_numbers(product)]
    return _kind_numbers(product)


def _kind_numbers(product: Product) -> list[str]:
    if product.kind is ProductKind.STANDARD:
        return ["ordinary rate, no adjustment"]
    if product.kind is ProductKind.CARBON_ACCOUNT:
        return [*_bp_lines(product.grade_adjust_bp.items(), "grade"), "other grades refused"]
    if product.kind is ProductKind.MINE_SCORE:
        anchors = ", ".join(
            f"{fmt_decimal(s)}→{fmt_decimal(v)}"
            for s, v in (product.curve.anchors if product.curve else ())
        )
        lines = [f"min score {fmt_decimal(product.min_score)}", f"curve score→bp: {anchors}"]
        if any(v != 0 for v in product.class_adjust_bp.values()):
            lines.extend(_bp_lines(product.class_adjust_bp.items(), "class"))
        return lines
    return [
        f"min {fmt_decimal(product.min_annual_tco2_reduced)} tCO2/yr reduced",
        *(
            f"coal cut ≥ {fmt_decimal(b.min_reduction_pct)} %: {fmt_decimal(b.adjust_bp)} bp"
            for b in product.bands
        ),
    ]


def render_policy_summary(out: Console, policy: Policy, source: str) -> None:
    """An offline summary of a validated policy document (`pricing policy show`)."""
    head = _kv_table(f"Policy {policy.version}  ({source})")
    head.add_row("digest", f"sha256:{policy.digest}")
    head.add_row("effective from", policy.effective_from.isoformat())
    if policy.description:
        head.add_row("description", policy.description)
    fixings = policy.fixings.fixings
    if fixings:
        latest = fixings[-1]
        head.add_row(
            "LPR fixings",
            f"{len(fixings)} (first {fixings[0].published_at.astimezone(BEIJING).date()}, "
            f"latest {latest.published_at.astimezone(BEIJING).isoformat(sep=' ')}: "
            f"1Y {fmt_percent(latest.lpr_1y_bp)} %, 5Y+ {fmt_percent(latest.lpr_5y_bp)} %)",
        )
    head.add_row("LPR confirmed through", policy.lpr_confirmed_through.isoformat())
    head.add_row("tenor split", f"1Y LPR up to {policy.tenor_split_months} months, 5Y+ above")
    head.add_row(
        "bounds", f"floor {fmt_percent(policy.floor_bp)} %, cap {fmt_percent(policy.cap_bp)} %"
    )
    head.add_row(
        "rounding",
        f"{fmt_decimal(policy.rounding_step_bp)} bp {policy.rounding_mode}; "
        f"annualised rate to {policy.annualised_decimals} decimals",
    )
    head.add_row(
        "quotes",
        f"valid {policy.validity_hours} h; term {policy.min_term_months}-"
        f"{policy.max_term_months} months; principal ≤ {fen_to_cny(policy.max_principal_fen)} CNY",
    )
    head.add_row("evidence age", f"≤ {policy.evidence_max_age_days} days")
    head.add_row("carbon grade K bounds", ", ".join(fmt_decimal(k) for k in policy.grade_k_upper))
    out.print(head)

    spreads = Table(title="Standard spreads", box=box.SIMPLE_HEAD, title_justify="left")
    spreads.add_column("rating")
    spreads.add_column("spread bp", justify="right")
    for rating, bp in policy.spreads_bp.items():
        spreads.add_row(rating, fmt_decimal(bp))
    for band in policy.tenor_spreads:
        spreads.add_row(f"term ≤ {band.max_months} m", f"+{fmt_decimal(band.add_bp)}")
    out.print(spreads)

    industries = Table(title="Industry benchmarks", box=box.SIMPLE_HEAD, title_justify="left")
    industries.add_column("industry")
    industries.add_column("basis")
    industries.add_column("tCO2 per unit", justify="right")
    for industry, bench in policy.industries.items():
        industries.add_row(
            industry.value, f"{bench.basis} ({bench.unit})", fmt_decimal(bench.benchmark)
        )
    out.print(industries)

    products = Table(title="Products", box=box.SIMPLE_HEAD, title_justify="left")
    products.add_column("product", no_wrap=True)
    products.add_column("kind", no_wrap=True)
    products.add_column("name", overflow="fold")
    products.add_column("key numbers", overflow="fold")
    for product in policy.products.values():
        products.add_row(
            product.product_id,
            product.kind.value,
            Text(f"{product.name_zh}\n{product.name_en}"),
            Text("\n".join(product_key_numbers(product))),
        )
    out.print(products)


def render_problems(out: IO[str], problems: Sequence[str]) -> None:
    """Every validation problem, one per line, never wrapped (file paths stay greppable)."""
    print(f"{len(problems)} problem(s):", file=out)
    for problem in problems:
        print(f"  - {problem}", file=out)
