"""The README's report screenshot comes from the README's own command (make screenshot)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "report_screenshot", ROOT / "scripts" / "report_screenshot.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_runs_the_readmes_simulate_command() -> None:
    script = load_script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    portfolio = re.search(r"^P=(\S+);", readme, re.MULTILINE)
    assert portfolio is not None
    assert portfolio.group(1) == script.PORTFOLIO == "examples/portfolio_10k.csv"
    line = " ".join(script.COMMAND).replace(script.PORTFOLIO, "$P")
    assert line == "pricing simulate $P --as-of 2026-11-20 --out out/sim"
    assert re.search(rf"^{re.escape(line)}\s", readme, re.MULTILINE)


def test_the_committed_screenshot_has_the_scripts_size() -> None:
    script = load_script()
    png = (ROOT / "docs" / "images" / "report_screenshot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (script.WIDTH, script.HEIGHT) == (1280, 2400)
