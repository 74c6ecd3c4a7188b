"""PNG charts of simulation results, drawn without pyplot.

Each chart is a `matplotlib.figure.Figure` rendered by its own Agg canvas, so
nothing here selects a backend or touches pyplot's global figure state: the
module is safe to import in a process that also uses pyplot interactively.

Counts are binned in exact integer rate units; binary floats appear only as
drawing coordinates. Labels are English plus product ids, drawn in the DejaVu
Sans font that matplotlib ships, so the PNG bytes do not depend on the fonts
of the machine (CJK fonts are often absent). The PNG carries no Software or
date metadata: the same inputs and matplotlib version give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from io import BytesIO
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from pricing_service.domain.curve import ScoreCurve
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.results import UNITS_PER_BP, LoanResults
from pricing_service.simulate.summary import DiffSummary, Stats, Summary

WIDTH_IN, HEIGHT_IN, DPI = 9.0, 4.5, 100  # 900 x 450 px
MAX_BINS = 40
COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_UNITS_PER_PERCENT = UNITS_PER_BP * 100
_FONT = {"family": "DejaVu Sans"}

Number = int | float | Decimal


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _png(fig: Figure) -> bytes:
    buffer = BytesIO()
    # metadata None drops matplotlib's default Software text chunk; Agg writes no date.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _titles(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontdict=_FONT, fontsize=13)
    ax.set_xlabel(xlabel, fontdict=_FONT)
    ax.set_ylabel(ylabel, fontdict=_FONT)


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])


def rate_bins(units: npt.NDArray[np.int64], max_bins: int = MAX_BINS) -> npt.NDArray[np.int64]:
    """Integer bin edges (rate units) in whole bp, each value strictly inside one bin.

    Edges sit half a bp off the whole-bp grid, so a rate on the grid (the usual
    1 bp rounding step) is never on an edge and its bin does not depend on how
    a float would round it.
    """
    half = UNITS_PER_BP // 2
    lo = (int(units.min()) // UNITS_PER_BP) * UNITS_PER_BP - half
    hi = -(-int(units.max()) // UNITS_PER_BP) * UNITS_PER_BP + half
    span_bp = (hi - lo) // UNITS_PER_BP
    width_bp = max(1, -(-span_bp // max_bins))
    count = -(-span_bp // width_bp)
    return lo + np.arange(count + 1, dtype=np.int64) * (width_bp * UNITS_PER_BP)


def _counts(units: npt.NDArray[np.int64], edges: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    # side="right": a value on an edge belongs to the bin that edge opens.
    idx = np.searchsorted(edges, units, side="right") - 1
    return np.bincount(idx, minlength=len(edges) - 1).astype(np.int64)


def rate_histogram(portfolio: Portfolio, results: LoanResults) -> bytes:
    """Stacked histogram of the quoted rates of priced loans, one colour per product."""
    fig, ax = _figure()
    priced = results.priced
    _titles(ax, "Quoted rate of priced loans, by product", "Quoted rate (% p.a.)", "Loans")
    if not priced.any():
        _empty(ax, "No priced loans")
        return _png(fig)
    rates = results.rate_units[priced]
    products = portfolio.product_id[priced].astype(str)
    edges = rate_bins(rates)
    left = edges[:-1] / _UNITS_PER_PERCENT
    width = float(edges[1] - edges[0]) / _UNITS_PER_PERCENT
    bottom = np.zeros(len(edges) - 1, dtype=np.int64)
    for i, product in enumerate(sorted(set(products.tolist()))):
        counts = _counts(rates[products == product], edges)
        ax.bar(
            left,
            counts,
            width=width,
            bottom=bottom,
            align="edge",
            color=COLOURS[i % len(COLOURS)],
            edgecolor="white",
            linewidth=0.5,
            label=f"{product} (n={int(counts.sum())})",
        )
        bottom += counts
    ax.legend(title="product", fontsize=9)
    return _png(fig)


def _group_bars(groups: Sequence[tuple[str, Stats]], title: str, xlabel: str) -> bytes:
    fig, ax = _figure()
    _titles(ax, title, xlabel, "Average concession (bp)")
    names = [name for name, _ in groups]
    averages = [s.avg_concession_bp for _, s in groups]
    values = [float(a) if a is not None else 0.0 for a in averages]
    x = np.arange(len(names))
    bars = ax.bar(x, values, color=COLOURS[0], width=0.6)
    for bar, (_, s), height in zip(bars, groups, values, strict=True):
        ax.annotate(
            f"n={s.priced}",
            (bar.get_x() + bar.get_width() / 2, max(height, 0.0)),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.set_xticks(x, names)
    ax.margins(y=0.15)
    return _png(fig)


def concession_by_grade(summary: Summary) -> bytes:
    """Bar chart: average concession of priced carbon-account loans per grade 1-5."""
    return _group_bars(
        list(summary.by_grade.items()),
        "Concession by carbon grade (priced carbon-account loans)",
        "Carbon grade (1 = most carbon-efficient)",
    )


def concession_by_score_band(summary: Summary) -> bytes:
    """Bar chart: average concession of priced loans per mine score band."""
    return _group_bars(
        list(summary.by_score_band.items()),
        "Concession by mine score band (priced loans with a mine score)",
        "Mine intelligentization acceptance score",
    )


def score_curve_chart(
    curve: ScoreCurve, *, product_id: str, min_score: Decimal | None = None
) -> bytes:
    """The score -> adjustment table (all 1001 points) as a line, the anchors as markers."""
    fig, ax = _figure()
    _titles(
        ax,
        f"Mine score adjustment curve ({product_id})",
        "Acceptance score",
        "Adjustment to the ordinary rate (bp)",
    )
    scores = np.arange(len(curve.table)) / 10
    ax.plot(scores, [float(v) for v in curve.table], color=COLOURS[0], label="table (0.1 step)")
    ax.plot(
        [float(s) for s, _ in curve.anchors],
        [float(v) for _, v in curve.anchors],
        linestyle="none",
        marker="o",
        markersize=7,
        color=COLOURS[3],
        label="policy anchors",
    )
    for s, v in curve.anchors:
        # Labels go left of anchors near 100 so they stay inside the axes.
        right_edge = s > 90
        ax.annotate(
            f"{s}: {v} bp",
            (float(s), float(v)),
            xytext=(-8 if right_edge else 6, 6),
            textcoords="offset points",
            ha="right" if right_edge else "left",
            fontsize=8,
        )
    if min_score is not None and min_score > 0:
        ax.axvspan(0, float(min_score), color="#eeeeee", label=f"refused (score < {min_score})")
    ax.set_xlim(0, 100)
    ax.legend(fontsize=9, loc="lower left")
    return _png(fig)


def rate_change_histogram(diff: DiffSummary) -> bytes:
    """Histogram of the rate change (bp) of loans priced under both policies whose rate moved."""
    fig, ax = _figure()
    moved = diff.rate_delta_units[diff.rate_delta_units != 0]
    _titles(
        ax,
        f"Rate change, {diff.draft_version} minus {diff.base_version}",
        "Rate change (bp)",
        "Loans",
    )
    if len(moved) == 0:
        _empty(ax, "No loan's rate changed")
        return _png(fig)
    edges = rate_bins(moved)
    counts = _counts(moved, edges)
    width = float(edges[1] - edges[0]) / UNITS_PER_BP
    ax.bar(
        edges[:-1] / UNITS_PER_BP,
        counts,
        width=width,
        align="edge",
        color=COLOURS[0],
        edgecolor="white",
        linewidth=0.5,
        label=f"up {int((moved > 0).sum())}, down {int((moved < 0).sum())}",
    )
    ax.axvline(0, color="#444444", linewidth=0.8)
    ax.legend(fontsize=9)
    return _png(fig)


def rate_shift_chart(
    base: LoanResults, draft: LoanResults, *, base_label: str = "base", draft_label: str = "draft"
) -> bytes:
    """Before/after distributions of the quoted rates of priced loans, on common bins."""
    fig, ax = _figure()
    _titles(ax, "Quoted rate distribution, before and after", "Quoted rate (% p.a.)", "Loans")
    before = base.rate_units[base.priced]
    after = draft.rate_units[draft.priced]
    if len(before) == 0 and len(after) == 0:
        _empty(ax, "No priced loans")
        return _png(fig)
    edges = rate_bins(np.concatenate([before, after]))
    x = edges / _UNITS_PER_PERCENT
    for units, label, colour, fill in (
        (before, base_label, COLOURS[7], True),
        (after, draft_label, COLOURS[1], False),
    ):
        counts = _counts(units, edges)
        ax.stairs(
            counts,
            x,
            fill=fill,
            alpha=0.45 if fill else 1.0,
            color=colour,
            linewidth=2,
            label=f"{label} (n={len(units)})",
        )
    ax.legend(fontsize=9)
    return _png(fig)


def fan_chart(
    years: Sequence[Number] | npt.NDArray[Any],
    percentiles: Sequence[Number],
    bands: Sequence[Sequence[Number]] | npt.NDArray[Any],
    mean: Sequence[Number] | npt.NDArray[Any] | None = None,
    *,
    title: str,
    ylabel: str,
    xlabel: str = "Year",
    baseline: Sequence[Number] | npt.NDArray[Any] | None = None,
    baseline_label: str = "baseline",
) -> bytes:
    """Fan chart: nested percentile bands per year, the median, the mean and a baseline.

    `bands[i]` is the `percentiles[i]` percentile for each year (shape
    len(percentiles) x len(years), percentiles ascending). Bands pair from the
    outside in (p5-p95, p25-p75, ...); a middle percentile is drawn as a line.
    `baseline` (e.g. the no-migration path) is drawn dotted.
    """
    x = np.asarray(years, dtype=np.float64)
    # Monte Carlo output may arrive as Decimals; float is fine for drawing.
    y = np.asarray(np.asarray(bands, dtype=object).astype(np.float64))
    pct = [float(p) for p in percentiles]
    if y.ndim != 2 or y.shape != (len(pct), len(x)):
        raise ValueError(f"bands must have shape ({len(pct)}, {len(x)}), not {y.shape}")
    if pct != sorted(pct):
        raise ValueError("percentiles must be ascending")
    fig, ax = _figure()
    _titles(ax, title, xlabel, ylabel)
    pairs = len(pct) // 2
    for i in range(pairs):
        lo, hi = i, len(pct) - 1 - i
        ax.fill_between(
            x,
            y[lo],
            y[hi],
            color=COLOURS[0],
            alpha=0.15 + 0.2 * i,
            linewidth=0,
            label=f"p{_p(pct[lo])}-p{_p(pct[hi])}",
        )
    if len(pct) % 2 == 1:
        ax.plot(x, y[pairs], color=COLOURS[0], linewidth=2, label=f"p{_p(pct[pairs])}")
    for line, label, colour, style in (
        (mean, "mean", COLOURS[3], "--"),
        (baseline, baseline_label, COLOURS[7], ":"),
    ):
        if line is None:
            continue
        values = np.asarray(np.asarray(line, dtype=object).astype(np.float64))
        if values.shape != x.shape:
            raise ValueError(f"{label} must have {len(x)} values, not {values.shape}")
        ax.plot(x, values, color=colour, linewidth=1.8, linestyle=style, label=label)
    if np.nanmax(np.abs(y), initial=0.0) >= 1000:
        # Amounts in CNY: whole numbers with separators, not "1e7" and an offset.
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    if len(x) <= 30 and np.array_equal(x, np.round(x)):
        # Whole years: one tick each, not matplotlib's 2026.5.
        ax.set_xticks(x, [f"{v:.0f}" for v in x])
    ax.legend(fontsize=9, loc="upper left")
    return _png(fig)


def calibration_chart(
    param: str,
    evaluated: Sequence[tuple[Decimal, int]],
    *,
    target_fen: int,
    solved: Decimal,
    current: tuple[Decimal, int] | None = None,
) -> bytes:
    """First-year cost against the parameter at every value the solver priced, the budget
    as a line, the answer and the current value marked; the right panel zooms in on the
    steps around the answer, where the budget is crossed."""
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    wide, near = fig.subplots(1, 2, width_ratios=(3, 2))
    fig.suptitle(f"First-year cost against {param}", fontproperties=_FONT, fontsize=13)
    points = sorted(evaluated)
    at = [v for v, _ in points].index(solved) if any(v == solved for v, _ in points) else 0
    panels = (
        (wide, points, "over the bracket"),
        (near, points[max(at - 3, 0) : at + 4], "near the answer"),
    )
    for ax, shown, label in panels:
        ax.grid(axis="y", color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.set_title(label, fontdict=_FONT, fontsize=10)
        ax.set_xlabel(param.rsplit(".", 1)[-1], fontdict=_FONT)
        xs = [float(v) for v, _ in shown]
        # Markers only: between two priced values the step function is unknown, and a
        # line would draw costs nobody computed.
        ax.plot(
            xs,
            [c / 100 for _, c in shown],
            marker="o",
            markersize=5,
            color=COLOURS[0],
            linestyle="none",
            label="priced value",
        )
        ax.axhline(
            target_fen / 100, color=COLOURS[3], linestyle="--", linewidth=1.2, label="budget"
        )
        cost = dict(points).get(solved)
        if cost is not None:
            ax.plot(
                [float(solved)],
                [cost / 100],
                marker="D",
                markersize=9,
                color=COLOURS[2],
                linestyle="none",
                label=f"answer {solved}",
            )
        if current is not None and (ax is wide or any(v == current[0] for v, _ in shown)):
            ax.plot(
                [float(current[0])],
                [current[1] / 100],
                marker="s",
                markersize=8,
                color=COLOURS[7],
                linestyle="none",
                label=f"current {current[0]}",
            )
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    wide.set_ylabel("First-year concession (CNY)", fontdict=_FONT)
    wide.legend(fontsize=8, loc="best")
    return _png(fig)


def _p(value: float) -> str:
    return f"{value:g}"


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk; ValueError if not a PNG."""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
