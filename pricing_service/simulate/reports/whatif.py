"""The report of `pricing simulate whatif`, and its per-request row as CSV and table text."""

from __future__ import annotations

from collections.abc import Sequence

from pricing_service.domain.policy import Policy
from pricing_service.simulate import charts
from pricing_service.simulate.report import Report
from pricing_service.simulate.reports.text import pct_text
from pricing_service.simulate.results import LoanResults, units_to_bp
from pricing_service.simulate.summary import cny
from pricing_service.simulate.whatif import WhatIf, WhatIfRow

WHATIF_HEADERS = (
    "seq",
    "quote_id",
    "borrower_id",
    "product_id",
    "pricing_time",
    "principal_fen",
    "actual_status",
    "actual_rate",
    "actual_first_year_concession_fen",
    "draft_status",
    "draft_rate",
    "draft_first_year_concession_fen",
    "rate_change_bp",
    "changed",
)
# The report's table leaves out the last column: every listed request changed.
_TABLE_COLUMNS = 13
_LISTED = 100
_COUNTS = (
    "records_read",
    "requests_selected",
    "unchanged",
    "changed",
    "rate_up",
    "rate_down",
    "now_refused",
    "now_priced",
)


def whatif_row(r: WhatIfRow) -> list[object]:
    """One CSV row in WHATIF_HEADERS order; rates as exact percent text, empty when refused."""
    both = r.actual.priced and r.draft.priced
    return [
        r.seq,
        r.quote_id,
        r.borrower_id,
        r.product_id,
        r.pricing_time,
        r.principal_fen,
        r.actual.status,
        pct_text(r.actual.rate_units) if r.actual.priced else "",
        r.actual.first_year_concession_fen,
        r.draft.status,
        pct_text(r.draft.rate_units) if r.draft.priced else "",
        r.draft.first_year_concession_fen,
        format(units_to_bp(r.draft.rate_units - r.actual.rate_units), "f") if both else "",
        "yes" if r.changed else "no",
    ]


def _side_results(rows: Sequence[WhatIfRow], side: str) -> LoanResults:
    """The rows' outcomes on one side as LoanResults, for the distribution chart."""
    out = LoanResults.empty(len(rows))
    for i, r in enumerate(rows):
        outcome = r.actual if side == "actual" else r.draft
        out.status[i] = outcome.status
        out.rate_units[i] = outcome.rate_units
    return out


def whatif_report(
    result: WhatIf, *, command: str, audit_log: str, draft: Policy, draft_source: str
) -> Report:
    """Counts, the first-year cost on both sides, the rate shift and the changed requests."""
    facts = [
        ("Command", command),
        ("Audit log", audit_log),
        ("Draft policy version", draft.version),
        ("Draft policy digest", draft.digest),
        ("Draft policy source", draft_source),
    ]
    summary = result.to_json()
    cost = summary["first_year_concession_fen"]
    report = Report("What-if: logged binding requests under a draft policy").facts(facts)
    counts = [[key.replace("_", " "), str(summary[key])] for key in _COUNTS]
    report.table("Requests", ("what", "count"), counts)
    report.table(
        "First-year concession",
        ("actual CNY", "draft CNY", "change CNY"),
        [[cny(cost["actual"]), cny(cost["draft"]), cny(cost["change"])]],
        caption="Sum over the selected requests of the first-year concession against the "
        "ordinary-loan rate; a refused request costs nothing.",
    )
    report.chart(
        "Quoted rates, actual and under the draft",
        charts.rate_shift_chart(
            _side_results(result.rows, "actual"),
            _side_results(result.rows, "draft"),
            base_label="actually quoted",
            draft_label=result.draft_version,
        ),
        "Rates of the requests priced on each side (filled: as quoted; outline: the draft).",
    )
    _changed_table(report, result.changed)
    return report


def _changed_table(report: Report, changed: Sequence[WhatIfRow]) -> None:
    rows = [[str(x) for x in whatif_row(r)[:_TABLE_COLUMNS]] for r in changed[:_LISTED]]
    caption = f"The first {_LISTED} of {len(changed)}." if len(changed) > _LISTED else None
    headers = WHATIF_HEADERS[:_TABLE_COLUMNS]
    report.table(f"Changed requests ({len(changed)})", headers, rows, caption=caption)
