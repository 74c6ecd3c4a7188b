"""The shipped client examples against the live server: they print the README's worked example."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from live_support import LiveServer

EXAMPLES = Path(__file__).resolve().parents[2] / "clients" / "python" / "examples"


def _load(name: str) -> ModuleType:
    # The examples are scripts, not a package: load one from its file as a user runs it.
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lvtanrong_example_prints_the_worked_examples_quote(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # README "Worked example": K 0.5761, grade 1, 1.30 % vs 3.30 %, 109,093.50 CNY saved.
    assert _load("lvtanrong_quote").main(live_server.target) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("quote q_")
    assert lines[0].endswith("  grade 1 (K 0.5761)")
    assert lines[1] == (
        "rate 1.30%  ordinary 3.30%  concession 200 bp = 109,093.50 CNY in the first year"
    )
    steps = [line.split()[:2] for line in lines[2:-2]]
    assert steps == [
        ["BASE_RATE", "3.00"],
        ["STANDARD_SPREAD", "30"],
        ["ORDINARY_RATE", "3.30"],
        ["CARBON_EFFICIENCY_K", "0.5761"],
        ["CARBON_GRADE", "1"],
        ["CARBON_ADJUSTMENT", "-200"],
        ["ROUNDING", "1.30"],
        ["CONCESSION", "200"],
    ]
    assert lines[-2] == "fetched back by id: same quote"
