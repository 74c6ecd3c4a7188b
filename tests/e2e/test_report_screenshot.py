"""The simulation report renders in a real browser, charts included.

A small mixed portfolio is priced, its HTML report written, and headless
Chromium screenshots it twice: as written, and with every chart swapped for a
blank image of the same size (so the layout is identical). The charts must
account for a large, colourful difference between the two; a report whose
images fail to decode would give two identical screenshots.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image, ImageChops

from pricing_service.policy.store import default_policy_bytes, load_policy_bytes
from pricing_service.simulate.portfolio import MICRO, Portfolio
from pricing_service.simulate.report import RunFacts, simulation_report
from pricing_service.simulate.summary import summarise
from pricing_service.simulate.vector import price_portfolio

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CHROMIUM = shutil.which("chromium")
ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    """scripts/report_screenshot.py, whose Chromium flags the README's screenshot uses."""
    spec = importlib.util.spec_from_file_location(
        "report_screenshot", ROOT / "scripts/report_screenshot.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()
WIDTH, HEIGHT = 1280, 2400
CHART_BLUE = (0x1F, 0x77, 0xB4)
AS_OF = datetime(2025, 6, 3, 2, 0, tzinfo=UTC)  # 10:00 Beijing: 1Y LPR 3.00%
DATA_URI = re.compile(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"')


def small_book(n: int = 48) -> Portfolio:
    """Four products, ratings, terms, grades 1-5, scores 55-99, transition KPIs; seeded."""
    rng = np.random.default_rng(20250603)
    p = Portfolio.empty(n)
    products = ("standard", "lvtanrong", "mine_score", "transition")
    ratings = ("AAA", "AA", "A", "BBB", "BB")
    industries = ("power", "chemicals", "coking", "")
    for i in range(n):
        product = products[i % 4]
        p.loan_id[i] = f"L{i:04d}"
        p.borrower_id[i] = f"B{i:04d}"
        p.product_id[i] = product
        p.credit_rating[i] = ratings[int(rng.integers(len(ratings)))]
        p.industry[i] = industries[int(rng.integers(len(industries)))]
        p.principal_fen[i] = int(rng.integers(10, 500)) * 1_000_000
        p.term_months[i] = int(rng.choice([12, 24, 36, 60]))
        p.repayment[i] = "equal_installment"
        p.upfront_fee_fen[i] = 0
        if product == "lvtanrong":
            p.carbon_grade[i] = int(rng.integers(1, 6))
            p.carbon_assessed_on[i] = np.datetime64("2025-04-01")
        elif product == "mine_score":
            p.mine_score_tenths[i] = int(rng.integers(550, 1000))
            p.construction_class[i] = 1
            p.mandatory_passed[i] = True
            p.mine_accepted_on[i] = np.datetime64("2025-04-01")
        elif product == "transition":
            p.annual_tco2_reduced[i] = int(rng.integers(5_000, 80_000)) * MICRO
            p.coal_g_per_kwh_before[i] = 300 * MICRO
            p.coal_g_per_kwh_after[i] = int(rng.integers(270, 299)) * MICRO
            p.kpis_verified_on[i] = np.datetime64("2025-04-01")
    return p


def screenshot(html_file: Path, out: Path, profile: Path) -> Image.Image:
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM,
            *SCRIPT.CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={out}",
            f"--window-size={WIDTH},{HEIGHT}",
            html_file.as_uri(),
        ],
        check=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(BytesIO(data)).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    return image


def blank_png() -> str:
    # The charts' own size: with CSS height:auto a loaded image lays out at its
    # natural aspect ratio, so a 1 x 1 stand-in would move everything below it.
    buffer = BytesIO()
    Image.new("RGB", (900, 450), "white").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_with_its_charts(tmp_path: Path) -> None:
    policy, _ = load_policy_bytes(default_policy_bytes())
    book = small_book()
    results = price_portfolio(book, policy, AS_OF)
    summary = summarise(
        book, results, policy_version=policy.version, policy_digest=policy.digest, as_of=AS_OF
    )
    run = RunFacts(
        command="pricing simulate book.csv --policy policy.toml --out report/",
        policy_version=policy.version,
        policy_digest=policy.digest,
        as_of=AS_OF,
        portfolio_name="book.csv",
        rows=len(book),
        skipped_rows=1,
    )
    html = simulation_report(
        summary, book, results, run, policy=policy, bad_rows=[(17, "term_months: not an integer")]
    ).html()
    assert len(DATA_URI.findall(html)) == 4

    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    blank = tmp_path / "blank.html"
    blank.write_text(
        DATA_URI.sub(f'src="data:image/png;base64,{blank_png()}"', html), encoding="utf-8"
    )
    shot = screenshot(page, tmp_path / "report.png", tmp_path / "profile-1")
    without = screenshot(blank, tmp_path / "blank.png", tmp_path / "profile-2")

    pixels = np.asarray(shot, dtype=np.int16)
    non_white = (pixels < 245).any(axis=2).mean()
    assert non_white > 0.05, f"only {non_white:.1%} of the page is not white"

    changed = ImageChops.difference(shot, without)
    n_changed = int(np.count_nonzero(np.asarray(changed).any(axis=2)))
    assert n_changed > 100_000, f"the charts change only {n_changed} pixels"
    bbox = changed.getbbox()
    assert bbox is not None
    left, top, right, bottom = bbox
    # At least one whole 900 x 450 chart is on the page.
    assert right - left >= 850
    assert bottom - top >= 430
    # Only the charts differ: the layout around them is the same.
    assert left >= 40
    assert right <= WIDTH - 40
    # Where the first chart sits, the blank variant is one flat colour and the
    # report is not: the image itself was decoded and painted.
    window = (slice(top, top + 300), slice(left, left + 600))
    assert len(np.unique(np.asarray(without)[window].reshape(-1, 3), axis=0)) == 1
    chart = pixels[window].reshape(-1, 3)
    assert len(np.unique(chart, axis=0)) > 50
    # Bars in the product colours: saturated pixels, where the page has only greys.
    saturation = chart.max(axis=1) - chart.min(axis=1)
    coloured = int(np.count_nonzero(saturation > 60))
    assert coloured > 5_000, f"only {coloured} coloured pixels where the first chart is"
    blue = int(np.count_nonzero((np.abs(chart - np.array(CHART_BLUE)) <= 8).all(axis=1)))
    assert blue > 100, f"{blue} pixels of the first product's blue"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_make_screenshot_photographs_the_readmes_report(tmp_path: Path) -> None:
    # `make screenshot` (scripts/report_screenshot.py): the README's command, then Chromium.
    out = tmp_path / "shot.png"
    script = ROOT / "scripts" / "report_screenshot.py"
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"wrote {out} from `pricing simulate examples/portfolio_10k.csv --as-of 2026-11-20 "
        "--out out/sim`\n"
    )
    image = Image.open(out).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    pixels = np.asarray(image, dtype=np.int16)
    chart = pixels.reshape(-1, 3)
    blue = int(np.count_nonzero((np.abs(chart - np.array(CHART_BLUE)) <= 8).all(axis=1)))
    assert blue > 10_000, f"{blue} pixels of the first product's blue: no chart drawn?"
