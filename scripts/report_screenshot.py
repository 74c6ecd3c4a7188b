"""Make docs/images/report_screenshot.png from the README's own commands (`make screenshot`).

It runs the README's `pricing simulate $P --as-of 2026-11-20 --out out/sim` on the shipped
examples/portfolio_10k.csv, exactly as a product team would, and photographs the report it
wrote in headless Chromium, so the picture in the README is what that command gives today.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORTFOLIO = "examples/portfolio_10k.csv"
# The README's line, with $P spelled out; tests/unit/test_readme_commands.py holds them equal.
COMMAND = ("pricing", "simulate", PORTFOLIO, "--as-of", "2026-11-20", "--out", "out/sim")
WIDTH, HEIGHT = 1280, 2400
# Debian's chromium reaches for the network and updates unless told not to.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


def simulate(workdir: Path) -> Path:
    """Run the README's command with `workdir` as the current directory; its report.html."""
    pricing = Path(sys.executable).with_name("pricing")
    (workdir / "examples").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / PORTFOLIO, workdir / PORTFOLIO)
    subprocess.run([str(pricing), *COMMAND[1:]], cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    return workdir / "out" / "sim" / "report.html"


def screenshot(html: Path, out: Path, chromium: str) -> None:
    """A WIDTH x HEIGHT PNG of `html` from a fresh browser profile."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={out}",
                f"--window-size={WIDTH},{HEIGHT}",
                html.as_uri(),
            ],
            check=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images/report_screenshot.png")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None:
        print(
            "chromium is not installed (apt-get install chromium fonts-noto-cjk)", file=sys.stderr
        )
        return 1
    with tempfile.TemporaryDirectory(prefix="screenshot-") as tmp:
        screenshot(simulate(Path(tmp)), args.out, chromium)
    print(f"wrote {args.out} from `{' '.join(COMMAND)}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
