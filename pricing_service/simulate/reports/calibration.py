"""The report of `pricing simulate calibrate`: the solved parameter, its cost, the search."""

from __future__ import annotations

from collections.abc import Sequence

from pricing_service.policy.store import load_policy_bytes
from pricing_service.simulate import charts
from pricing_service.simulate.calibrate import Calibration
from pricing_service.simulate.report import Report, RunFacts
from pricing_service.simulate.summary import cny


def calibration_rows(result: Calibration) -> list[list[str]]:
    """(what, value) rows of the result: the report's table and the command's printed one."""
    data = result.to_json()
    return [
        ["parameter", result.param],
        ["solved value", data["value"]],
        ["first-year cost CNY", cny(result.cost_fen)],
        ["budget CNY", cny(result.target_fen)],
        ["unspent CNY", cny(result.gap_fen)],
        ["next step", data["next_value"]],
        ["cost at the next step CNY", cny(result.next_cost_fen)],
        ["current value", data["original_value"] or "-"],
        ["cost at the current value CNY", cny(result.original_cost_fen)],
        ["draft policy", f"{result.version} ({data['draft_digest'][:16]}...)"],
    ]


def calibration_report(
    result: Calibration,
    run: RunFacts,
    *,
    bad_rows: Sequence[Sequence[object]] = (),
    bad_row_headers: Sequence[str] = ("row", "problem"),
) -> Report:
    """The result table, warnings, the cost against the parameter and a calibrated curve."""
    report = Report("Calibration of a policy parameter to a concession budget").facts(run.items())
    report.table(
        "Result",
        ("what", "value"),
        calibration_rows(result),
        caption=f"Rule: {result.to_json()['rule']}. Costs are first-year concessions against "
        "the ordinary-loan rate, exact sums of whole fen.",
    )
    if result.warnings:
        report.table(
            "Warnings",
            ("the calibrated draft",),
            [[w] for w in result.warnings],
            caption="The draft is a valid policy: these orderings are legal, probably unintended.",
        )
    _cost_chart(report, result)
    _curve_charts(report, result)
    report.bad_rows(bad_rows, headers=bad_row_headers, total=run.skipped_rows)
    return report


def _cost_chart(report: Report, result: Calibration) -> None:
    current = (
        None if result.original_value is None else (result.original_value, result.original_cost_fen)
    )
    report.chart(
        "First-year cost against the parameter",
        charts.calibration_chart(
            result.param,
            result.evaluated,
            target_fen=result.target_fen,
            solved=result.value,
            current=current,
        ),
        "Each point is a value the solver priced the book at (exact fen); the cost is a step "
        "function of the parameter, so the answer is the most generous value at or under the "
        "budget line. The right panel shows the steps either side of it.",
    )


def _curve_charts(report: Report, result: Calibration) -> None:
    """The draft's score curve of the product the parameter belongs to, if it has one."""
    draft_policy = load_policy_bytes(result.draft_toml())[0]
    for product in draft_policy.products.values():
        if product.curve is not None and result.param.startswith(f"products.{product.product_id}."):
            report.chart(
                f"Calibrated score curve of {product.product_id}",
                charts.score_curve_chart(
                    product.curve, product_id=product.product_id, min_score=product.min_score
                ),
                "The draft's score curve: anchors as calibrated, the table re-interpolated.",
            )
