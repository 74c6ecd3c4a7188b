"""The HTML report: exact figures in its tables, valid embedded PNGs, nothing external, escaping."""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pricing_builders import PRICING_TIME, variant
from test_simulate_summary import LOANS, build

from pricing_service.domain.policy import Policy
from pricing_service.simulate import charts
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.reference import price_portfolio_scalar
from pricing_service.simulate.report import (
    NOTICE_ZH,
    Report,
    RunFacts,
    diff_report,
    montecarlo_report,
    simulation_report,
)
from pricing_service.simulate.results import LoanResults
from pricing_service.simulate.summary import Summary, diff_summary, summarise

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" width="(\d+)" height="(\d+)"')
VOID = {"meta", "img", "br", "hr", "link", "input"}


class TagBalance(HTMLParser):
    """Records every tag, and fails on a close tag that does not match the open one."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs += [(tag, k, v) for k, v in attrs]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"</{tag}> with nothing open"
        assert self.stack.pop() == tag, f"</{tag}> closes another element"


def parsed(html: str) -> TagBalance:
    parser = TagBalance()
    parser.feed(html)
    parser.close()
    assert parser.stack == []
    return parser


def images(html: str) -> list[tuple[bytes, int, int]]:
    return [(base64.b64decode(m[1]), int(m[2]), int(m[3])) for m in IMG.finditer(html)]


def assert_self_contained(html: str) -> None:
    lowered = html.lower()
    assert "http://" not in lowered
    assert "https://" not in lowered
    assert 'src="http' not in lowered
    assert "<script" not in lowered
    assert "url(" not in lowered
    assert "@import" not in lowered
    for tag, name, value in parsed(html).attrs:
        if name in {"src", "href"}:
            assert value is not None
            assert value.startswith("data:image/png;base64,"), f"<{tag} {name}={value[:40]}>"


def assert_valid_pngs(html: str, expected: int) -> None:
    found = images(html)
    assert len(found) == expected
    for png, width, height in found:
        assert png.startswith(PNG_SIGNATURE)
        with Image.open(BytesIO(png)) as im:
            im.load()  # decodes every pixel: a truncated stream fails here
            assert im.size == (width, height) == (900, 450)


@pytest.fixture(scope="module")
def book() -> Portfolio:
    return build(LOANS)


@pytest.fixture(scope="module")
def results(book: Portfolio, policy: Policy) -> LoanResults:
    return price_portfolio_scalar(book, policy, PRICING_TIME)


@pytest.fixture(scope="module")
def summary(book: Portfolio, results: LoanResults, policy: Policy) -> Summary:
    return summarise(
        book,
        results,
        policy_version=policy.version,
        policy_digest=policy.digest,
        as_of=PRICING_TIME,
    )


def run_facts(policy: Policy, *, name: str = "book.csv", skipped: int = 0) -> RunFacts:
    return RunFacts(
        command=f"pricing simulate {name} --out out",
        policy_version=policy.version,
        policy_digest=policy.digest,
        as_of=PRICING_TIME,
        portfolio_name=name,
        rows=7,
        skipped_rows=skipped,
    )


def test_simulation_report_has_facts_tables_charts_and_notice(
    book: Portfolio, results: LoanResults, summary: Summary, policy: Policy
) -> None:
    html = simulation_report(summary, book, results, run_facts(policy), policy=policy).html()
    assert html.startswith("<!DOCTYPE html>")
    assert NOTICE_ZH == "仅供参考，非约束性报价"
    assert NOTICE_ZH in html
    assert "Indicative only, not a binding quote." in html
    assert policy.digest in html
    assert "2025-06-03T02:00:00+00:00" in html
    # overall row: loans, priced, refused, volume, averages, first-year cost
    overall = (
        '<tr><td>all loans</td><td class="num">7</td><td class="num">5</td>'
        '<td class="num">2</td><td class="num">8,700,000.00</td>'
        '<td class="num">2.1200</td><td class="num">1.6667</td>'
        '<td class="num">136.00</td><td class="num">170.67</td>'
        '<td class="num">128,000.00</td></tr>'
    )
    assert overall in html
    for heading in (
        "By product",
        "Refused loans by product and reason",
        "By carbon grade",
        "By mine score band",
        "By industry",
        "By credit rating",
        "Score curve of mine_score",
    ):
        assert f"<h2>{heading}</h2>" in html
    assert '<td>lvtanrong</td><td>CARBON_GRADE_INELIGIBLE</td><td class="num">1</td>' in html
    assert "Skipped rows" not in html  # none were skipped
    assert_self_contained(html)
    # rate histogram, concession by grade, by score band, the mine product's curve
    assert_valid_pngs(html, 4)


def test_text_is_escaped_everywhere(
    book: Portfolio, results: LoanResults, summary: Summary, policy: Policy
) -> None:
    hostile = '<script>alert("x")</script>&.csv'
    bad = [(3, "<img src=http://evil.example/x.png>"), (9, 'term_months: "abc" & more')]
    report = simulation_report(
        summary,
        book,
        results,
        run_facts(policy, name=hostile, skipped=2),
        bad_rows=bad,
        title="Book <b>A</b>",
    )
    report.table('<i>"t"</i>', ["<h>"], [["<c>"]]).chart(
        "<t>", charts.rate_histogram(book, results), "<cap>"
    )
    html = report.html()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;.csv" in html
    assert "<title>Book &lt;b&gt;A&lt;/b&gt;</title>" in html
    assert "&lt;img src=http://evil.example/x.png&gt;" in html
    assert "term_months: &quot;abc&quot; &amp; more" in html
    assert "<h2>&lt;i&gt;&quot;t&quot;&lt;/i&gt;</h2>" in html
    assert "<th>&lt;h&gt;</th>" in html
    assert "<figcaption>&lt;cap&gt;</figcaption>" in html
    assert "<h2>Skipped rows (2)</h2>" in html
    assert parsed(html).stack == []
    # the only http in the document is inside escaped text, never an attribute
    for _, name, value in parsed(html).attrs:
        assert name not in {"src", "href"} or (value or "").startswith("data:image/png")


def test_bad_rows_are_capped(policy: Policy) -> None:
    rows = [(i, f"row {i}: bad") for i in range(1, 251)]
    html = Report("r").bad_rows(rows, total=250).html()
    assert "<h2>Skipped rows (250)</h2>" in html
    assert "The first 100 of 250 problems are listed." in html
    assert "row 100: bad" in html
    assert "row 101: bad" not in html
    assert html.count("<tr>") == 101  # header + 100


def test_report_api_chains_and_writes(tmp_path: Path) -> None:
    png = charts.fan_chart(
        [2026, 2027],
        [5, 50, 95],
        [[1, 2], [2, 3], [3, 4]],
        [2, 3],
        title="t",
        ylabel="y",
    )
    report = (
        Report("Calibration")
        .facts([("Command", "pricing calibrate"), ("Rows", 3)])
        .text("a paragraph")
        .table("Fit", ["parameter", "value"], [["k", "1.25"], ["-", "-"]])
        .table("Empty", ["a", "b"], [])
        .chart("Fan", png, "caption")
    )
    target = report.write(tmp_path / "sub" / "r.html")
    html = target.read_text(encoding="utf-8")
    assert html == report.html()
    assert '<tr><td>k</td><td class="num">1.25</td></tr>' in html
    assert '<tr><td colspan="2">(none)</td></tr>' in html
    assert "<tr><th>Rows</th><td>3</td></tr>" in html
    assert_self_contained(html)
    assert_valid_pngs(html, 1)


def test_diff_report_lists_the_changed_loan(
    book: Portfolio, results: LoanResults, policy: Policy
) -> None:
    draft = price_portfolio_scalar(book, variant(('3 = "-200"', '3 = "-150"')), PRICING_TIME)
    diff = diff_summary(
        book,
        results,
        draft,
        base_version=policy.version,
        base_digest=policy.digest,
        draft_version="2026.2-draft",
        draft_digest="d" * 64,
        as_of=PRICING_TIME,
    )
    html = diff_report(diff, run_facts(policy)).html()
    assert "<tr><th>Base policy version</th><td>2026.1-default</td></tr>" in html
    assert "<tr><th>Draft policy version</th><td>2026.2-draft</td></tr>" in html
    change = (
        "<tr><td>C3</td><td>lvtanrong</td><td>PRICED</td><td>PRICED</td>"
        '<td class="num">1.10</td><td class="num">1.60</td><td class="num">50</td>'
        '<td class="num">-50</td><td class="num">-15,000.00</td></tr>'
    )
    assert change in html
    assert "<h2>Changed loans (1)</h2>" in html
    assert_self_contained(html)
    assert_valid_pngs(html, 2)
    same = diff_summary(
        book,
        results,
        results,
        base_version="a",
        base_digest="a",
        draft_version="a",
        draft_digest="a",
        as_of=PRICING_TIME,
    )
    empty = diff_report(same, run_facts(policy)).html()
    assert "No loan&#x27;s result changes" in empty
    assert_valid_pngs(empty, 2)


def test_montecarlo_report_shows_bands_exactly(policy: Policy) -> None:
    bands = [
        [Decimal("1.1000"), Decimal("1.2500")],
        [Decimal("2.0000"), Decimal("2.1250")],
        [Decimal("3.0000"), Decimal("3.5000")],
    ]
    html = montecarlo_report(
        run_facts(policy),
        years=[2026, 2027],
        percentiles=[5, 50, 95],
        bands=bands,
        mean=[Decimal("2.0500"), Decimal("2.2000")],
        baseline=[Decimal("2.0000"), Decimal("2.0000")],
    ).html()
    assert "<th>mean</th><th>no migration</th>" in html
    row = (
        '<tr><td>2027</td><td class="num">1.2500</td><td class="num">2.1250</td>'
        '<td class="num">3.5000</td><td class="num">2.2000</td><td class="num">2.0000</td></tr>'
    )
    assert row in html
    assert_self_contained(html)
    assert_valid_pngs(html, 1)


def test_charts_are_deterministic_and_carry_no_metadata(
    book: Portfolio, results: LoanResults, summary: Summary, policy: Policy
) -> None:
    curve = policy.products["mine_score"].curve
    assert curve is not None
    pngs = [
        charts.rate_histogram(book, results),
        charts.concession_by_grade(summary),
        charts.concession_by_score_band(summary),
        charts.score_curve_chart(curve, product_id="mine_score", min_score=Decimal(60)),
        charts.rate_shift_chart(results, results),
        charts.calibration_chart(
            "products.lvtanrong.grade_adjust_bp",
            [(Decimal("-800.00"), 2_600_000), (Decimal("-123.49"), 1_230_000), (Decimal(0), 0)],
            target_fen=1_234_567,
            solved=Decimal("-123.49"),
            current=(Decimal(-200), 2_000_000),
        ),
    ]
    assert pngs[0] == charts.rate_histogram(book, results)
    for png in pngs:
        chunks = []
        i = 8
        while i < len(png):
            length = int.from_bytes(png[i : i + 4], "big")
            chunks.append(png[i + 4 : i + 8])
            i += 12 + length
        assert set(chunks) <= {b"IHDR", b"pHYs", b"IDAT", b"IEND"}, chunks
        assert charts.png_size(png) == (900, 450)


def test_charts_of_nothing_still_render(book: Portfolio) -> None:
    nothing = LoanResults.empty(len(book))
    nothing.status[:] = "PRODUCT_NOT_FOUND"
    assert charts.png_size(charts.rate_histogram(book, nothing)) == (900, 450)
    assert charts.png_size(charts.rate_shift_chart(nothing, nothing)) == (900, 450)


def test_rate_bins_put_whole_bp_rates_inside_bins() -> None:
    units = np.array([1_300_000, 1_310_000, 4_000_000], dtype=np.int64)
    edges = charts.rate_bins(units)
    assert edges[0] == 1_295_000
    assert edges[-1] >= 4_005_000
    assert not np.isin(units, edges).any()
    assert len(edges) - 1 <= charts.MAX_BINS


def test_fan_chart_checks_its_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        charts.fan_chart([2026, 2027], [5, 95], [[1, 2]], title="t", ylabel="y")
    with pytest.raises(ValueError, match="ascending"):
        charts.fan_chart([2026], [95, 5], [[1], [2]], title="t", ylabel="y")
    with pytest.raises(ValueError, match="not a PNG"):
        charts.png_size(b"GIF89a" + b"\0" * 30)
