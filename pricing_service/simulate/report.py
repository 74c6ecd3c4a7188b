"""Self-contained HTML reports of simulations: one file, no network, no JavaScript.

Charts are embedded as base64 PNG data URIs and the CSS is inline, so the file
can be mailed or archived and opens the same anywhere. A Content-Security-Policy
meta tag forbids every external load, so a stray URL could not phone home
either. All text passes through html.escape: loan ids and file names come from
users' files.

    Report("Simulation").facts(run.items()).table("By product", headers, rows)
        .chart("Rates", png, "caption").write(path)

The ready-made builders (`simulation_report`, `diff_report`,
`montecarlo_report`) return a Report, so the CLI can add sections before
writing it. The what-if, Monte Carlo run and calibration reports are built
in simulate/reports/, one module each, on these.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape
from pathlib import Path

from pricing_service.domain.policy import Policy
from pricing_service.domain.rates import fmt_decimal
from pricing_service.simulate import charts
from pricing_service.simulate.charts import Number
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.results import LoanResults
from pricing_service.simulate.summary import (
    CHANGE_HEADERS,
    DIFF_HEADERS,
    FLIP_HEADERS,
    REFUSAL_HEADERS,
    STATS_HEADERS,
    DiffSummary,
    Summary,
    change_row,
    diff_row,
    refusal_rows,
    score_band_labels,
    stats_rows,
)

NOTICE_EN = "Indicative only, not a binding quote."
NOTICE_ZH = "仅供参考，非约束性报价"
BAD_ROW_LIMIT = 100
CHANGE_LIMIT = 100
_NUMERIC = re.compile(r"^([-+]?[\d,]*\.?\d+%?|-)$")  # "-" stands for "no value" in a number column

_CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #f4f5f7; color: #1d2330;
  font: 14px/1.45 "DejaVu Sans", "Liberation Sans", "Noto Sans", Arial, sans-serif; }
:lang(zh) { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC",
  "Microsoft YaHei", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #d8dde6; }
.notice { background: #fff4d6; border-left: 4px solid #e0a800; padding: 8px 12px; margin: 12px 0; }
table { border-collapse: collapse; margin: 6px 0 4px; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e6ec; text-align: left;
  vertical-align: top; }
th { background: #eef1f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.facts th { background: none; width: 14em; }
table.facts td { font-family: "DejaVu Sans Mono", monospace; word-break: break-all; }
figure { margin: 12px 0 20px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e3e6ec; }
figcaption, p.caption { color: #555c6b; font-size: 13px; margin-top: 4px; }
footer { margin-top: 32px; color: #7a8190; font-size: 12px; }
"""


def _cells(row: Sequence[object]) -> str:
    out = []
    for i, value in enumerate(row):
        text = str(value)
        # The first column names the row (a grade "1" is a label, not a quantity).
        css = ' class="num"' if i > 0 and _NUMERIC.match(text) else ""
        out.append(f"<td{css}>{escape(text)}</td>")
    return "".join(out)


class Report:
    """An HTML report assembled section by section; `html()` renders, `write()` saves."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._sections: list[str] = []
        self.charts: list[tuple[str, bytes]] = []  # (title, PNG), in order

    def heading(self, text: str) -> Report:
        """A section heading."""
        self._sections.append(f"<h2>{escape(text)}</h2>")
        return self

    def text(self, paragraph: str) -> Report:
        """A paragraph of plain text."""
        self._sections.append(f"<p>{escape(paragraph)}</p>")
        return self

    def facts(self, items: Iterable[tuple[str, object]], *, title: str = "Run") -> Report:
        """A two-column table of named facts (command, policy, portfolio, ...)."""
        rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in items)
        self._sections.append(
            f'<h2>{escape(title)}</h2>\n<table class="facts"><tbody>{rows}</tbody></table>'
        )
        return self

    def table(
        self,
        title: str,
        headers: Sequence[str],
        rows: Iterable[Sequence[object]],
        *,
        caption: str | None = None,
    ) -> Report:
        """A data table; cells that look like numbers are right-aligned."""
        head = "".join(f"<th>{escape(h)}</th>" for h in headers)
        body = "".join(f"<tr>{_cells(row)}</tr>\n" for row in rows)
        if not body:
            span = max(1, len(headers))
            body = f'<tr><td colspan="{span}">(none)</td></tr>'
        note = f'<p class="caption">{escape(caption)}</p>' if caption else ""
        self._sections.append(
            f"<h2>{escape(title)}</h2>\n<table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{note}"
        )
        return self

    def chart(self, title: str, png: bytes, caption: str, *, alt: str | None = None) -> Report:
        """A PNG chart, embedded as a data URI, with a caption."""
        width, height = charts.png_size(png)
        self.charts.append((title, png))
        data = base64.b64encode(png).decode("ascii")
        self._sections.append(
            f"<h2>{escape(title)}</h2>\n<figure>"
            f'<img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
            f'alt="{escape(alt or title)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>"
        )
        return self

    def bad_rows(
        self,
        rows: Sequence[Sequence[object]],
        *,
        headers: Sequence[str] = ("row", "problem"),
        total: int | None = None,
        limit: int = BAD_ROW_LIMIT,
    ) -> Report:
        """The rows of the input that could not be read, the first `limit` of them."""
        if not rows and not total:
            return self
        count = len(rows) if total is None else total
        # A row can have several problems: the cap counts listed lines, not rows.
        caption = None
        if len(rows) > limit:
            caption = f"The first {limit} of {len(rows)} problems are listed."
        return self.table(f"Skipped rows ({count})", headers, rows[:limit], caption=caption)

    def html(self) -> str:
        """The complete document."""
        body = "\n".join(self._sections)
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n<main>\n<h1>{escape(self.title)}</h1>\n"
            f'<p class="notice"><strong>{escape(NOTICE_EN)}</strong> '
            f'<span lang="zh-CN">{escape(NOTICE_ZH)}</span><br>'
            "Rates and amounts below come from a simulation over a portfolio file; "
            "no quote was issued or audit-logged.</p>\n"
            f"{body}\n"
            f"<footer>{escape(NOTICE_EN)} "
            f'<span lang="zh-CN">{escape(NOTICE_ZH)}</span></footer>\n'
            "</main>\n</body>\n</html>\n"
        )

    def write(self, path: Path | str) -> Path:
        """Write the document as UTF-8 to `path` (parents created) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.html(), encoding="utf-8")
        return target


def chart_file_name(index: int, title: str) -> str:
    """`01-quoted-rates.png`: numbered in report order, the title in ASCII lower case."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "chart"
    return f"{index:02d}-{slug}.png"


_CHART_FILE = re.compile(r"[0-9]{2,}-[a-z0-9-]+\.png")


def write_charts(report: Report, directory: Path) -> list[Path]:
    """The report's charts as PNG files (for slides and documents); returns the paths.

    Chart files of an earlier run in `directory` (names as chart_file_name gives) are
    removed first: a reused output directory must not show another run's charts.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        if _CHART_FILE.fullmatch(old.name) and old.is_file():
            old.unlink()
    paths = []
    for i, (title, png) in enumerate(report.charts, start=1):
        path = directory / chart_file_name(i, title)
        path.write_bytes(png)
        paths.append(path)
    return paths


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What produced a report: the command, the policy, the instant and the input."""

    command: str
    policy_version: str
    policy_digest: str
    as_of: datetime
    portfolio_name: str
    rows: int  # loans read into the portfolio
    skipped_rows: int  # input rows that could not be read
    extra: tuple[tuple[str, str], ...] = ()

    def items(self, policy_role: str = "Policy") -> list[tuple[str, str]]:
        """(label, value) pairs in display order; `policy_role` names the policy ("Base policy")."""
        return [
            ("Command", self.command),
            (f"{policy_role} version", self.policy_version),
            (f"{policy_role} digest", self.policy_digest),
            ("Priced as of", self.as_of.isoformat()),
            ("Portfolio file", self.portfolio_name),
            ("Loans read", str(self.rows)),
            ("Rows skipped", str(self.skipped_rows)),
            *self.extra,
        ]


_AVERAGES_NOTE = (
    "Averages are over priced loans: simple, and weighted by principal. Each is the exact "
    "ratio of integer sums rounded once, half-even, to 0.0001 percentage points (rates) "
    "or 0.01 bp (concessions). Amounts are exact sums of whole fen."
)


def simulation_report(
    summary: Summary,
    portfolio: Portfolio,
    results: LoanResults,
    run: RunFacts,
    *,
    policy: Policy | None = None,
    bad_rows: Sequence[Sequence[object]] = (),
    bad_row_headers: Sequence[str] = ("row", "problem"),
    title: str = "Portfolio pricing simulation",
) -> Report:
    """The report of `pricing simulate`: run facts, summary tables and charts.

    With `policy`, the score curve of each mine-score product is drawn too.
    """
    report = Report(title).facts(run.items())
    report.table(
        "Overall", STATS_HEADERS, stats_rows({"all loans": summary.overall}), caption=_AVERAGES_NOTE
    )
    report.table("By product", STATS_HEADERS, stats_rows(summary.by_product))
    refusals = refusal_rows(summary.by_product)
    report.table("Refused loans by product and reason", REFUSAL_HEADERS, refusals)
    report.chart(
        "Quoted rates",
        charts.rate_histogram(portfolio, results),
        "Quoted rates of the priced loans, stacked by product (bins of whole bp).",
    )
    report.table(
        "By carbon grade",
        STATS_HEADERS,
        stats_rows(summary.by_grade),
        caption="Priced carbon-account loans, by the grade that priced them (given or computed).",
    )
    report.chart(
        "Concession by carbon grade",
        charts.concession_by_grade(summary),
        "Average concession against the ordinary-loan rate; n = priced loans of the grade.",
    )
    bands = ", ".join(score_band_labels(summary.score_bands))
    report.table(
        "By mine score band",
        STATS_HEADERS,
        stats_rows(summary.by_score_band),
        caption=f"Loans with a mine score, any product; bands {bands} "
        "(each includes its lower edge).",
    )
    report.chart(
        "Concession by mine score band",
        charts.concession_by_score_band(summary),
        "Average concession of the priced loans of each band; n = priced loans.",
    )
    if policy is not None:
        for product in policy.products.values():
            if product.curve is not None:
                report.chart(
                    f"Score curve of {product.product_id}",
                    charts.score_curve_chart(
                        product.curve, product_id=product.product_id, min_score=product.min_score
                    ),
                    f"{product.name_en} ({product.name_zh}): the adjustment for each score "
                    "0.0-100.0 from the policy's table, anchors marked.",
                )
    report.table("By industry", STATS_HEADERS, stats_rows(summary.by_industry))
    report.table("By credit rating", STATS_HEADERS, stats_rows(summary.by_credit_rating))
    report.bad_rows(bad_rows, headers=bad_row_headers, total=run.skipped_rows)
    return report


def diff_report(
    diff: DiffSummary,
    run: RunFacts,
    *,
    bad_rows: Sequence[Sequence[object]] = (),
    bad_row_headers: Sequence[str] = ("row", "problem"),
    change_limit: int = CHANGE_LIMIT,
    title: str = "Policy diff over a portfolio",
) -> Report:
    """The report of `pricing diff`: what changes when the draft policy replaces the base."""
    facts = [
        *run.items("Base policy"),
        ("Draft policy version", diff.draft_version),
        ("Draft policy digest", diff.draft_digest),
    ]
    report = Report(title).facts(facts)
    if diff.is_empty:
        report.text("No loan's result changes: the draft prices this portfolio like the base.")
    report.table(
        "Overall",
        DIFF_HEADERS,
        [diff_row("all loans", diff.overall)],
        caption="Rate and concession changes average over loans priced under both policies; "
        "the first-year cost change counts every loan (a refused loan costs nothing). "
        "Rounded half-even to 0.01 bp.",
    )
    report.chart(
        "Rate changes",
        charts.rate_change_histogram(diff),
        "Change of the quoted rate, draft minus base, of loans priced under both whose rate moved.",
    )
    report.chart(
        "Rate distribution shift",
        charts.rate_shift_chart(
            diff.base, diff.draft, base_label=diff.base_version, draft_label=diff.draft_version
        ),
        "Quoted rates of the priced loans under the base (filled) and the draft (outline).",
    )
    for _, heading, groups in diff.groupings():
        rows = [diff_row(label, s) for label, s in groups.items()]
        report.table(heading, DIFF_HEADERS, rows)
    report.table("Eligibility flips", FLIP_HEADERS, diff.flip_rows())
    changes = [change_row(c) for c in diff.changes(change_limit)]
    n = diff.overall.changed
    listed = f"The first {len(changes)} of {n}, in portfolio order." if n > len(changes) else None
    report.table(f"Changed loans ({n})", CHANGE_HEADERS, changes, caption=listed)
    report.bad_rows(bad_rows, headers=bad_row_headers, total=run.skipped_rows)
    return report


def montecarlo_report(
    run: RunFacts,
    *,
    years: Sequence[int],
    percentiles: Sequence[int],
    bands: Sequence[Sequence[Number]],
    mean: Sequence[Number] | None = None,
    baseline: Sequence[Number] | None = None,
    baseline_label: str = "no migration",
    quantity: str = "Average quoted rate (%)",
    notes: Sequence[str] = (),
    title: str = "Monte Carlo simulation",
) -> Report:
    """A fan chart of `bands` (one row per percentile, one value per year) and its table.

    Values are shown in the table as given (Decimals print exactly) and drawn as floats.
    """
    report = Report(title).facts(run.items())
    for note in notes:
        report.text(note)
    report.chart(
        quantity,
        charts.fan_chart(
            years,
            percentiles,
            bands,
            mean,
            title=quantity,
            ylabel=quantity,
            baseline=baseline,
            baseline_label=baseline_label,
        ),
        "Shaded bands between symmetric percentiles, the median as a line, the mean dashed"
        + (f", {baseline_label} dotted." if baseline is not None else "."),
    )
    headers = ["year", *(f"p{p}" for p in percentiles)]
    pairs = (("mean", mean), (baseline_label, baseline))
    lines = [(label, line) for label, line in pairs if line is not None]
    headers += [label for label, _ in lines]
    rows = []
    for j, year in enumerate(years):
        row = [str(year), *(_show(band[j]) for band in bands)]
        row += [_show(line[j]) for _, line in lines]
        rows.append(row)
    report.table(quantity + " by year", headers, rows)
    return report


def _show(value: object) -> str:
    # A Decimal prints without exponent ("0.0001", not "1E-4").
    return fmt_decimal(value) if isinstance(value, Decimal) else str(value)
