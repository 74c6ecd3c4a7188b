"""Exact rate arithmetic: bp/percent conversion, display, rounding to a step, fen."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext

import pytest

from pricing_service.domain.rates import (
    CTX,
    bp_to_percent,
    fmt_decimal,
    fmt_percent,
    percent_to_bp,
    round_fen,
    round_to_step,
)


def test_context_is_34_digits_half_even() -> None:
    assert (CTX.prec, CTX.rounding) == (34, ROUND_HALF_EVEN)


@pytest.mark.parametrize(
    ("bp", "percent"), [("330", "3.3"), ("345.00", "3.4500"), ("-200", "-2"), ("0.5", "0.005")]
)
def test_bp_to_percent_is_exact(bp: str, percent: str) -> None:
    assert bp_to_percent(Decimal(bp)) == Decimal(percent)


def test_percent_to_bp_keeps_the_written_decimals() -> None:
    assert str(percent_to_bp(Decimal("3.45"))) == "345.00"
    assert str(percent_to_bp(Decimal("0.80"))) == "80.00"


@pytest.mark.parametrize(
    ("bp", "shown"),
    [("330", "3.30"), ("345.00", "3.45"), ("337.5", "3.375"), ("5", "0.05"), ("1000", "10.00")],
)
def test_fmt_percent_shows_at_least_two_decimals(bp: str, shown: str) -> None:
    assert fmt_percent(Decimal(bp)) == shown


def test_fmt_decimal_never_uses_an_exponent() -> None:
    assert fmt_decimal(Decimal("1E+2")) == "100"
    assert fmt_decimal(Decimal("-52.40")) == "-52.40"


@pytest.mark.parametrize(
    ("value", "step", "mode", "expected"),
    [
        ("385.5", "1", "half_even", "386"),  # tie -> even
        ("384.5", "1", "half_even", "384"),  # tie -> even
        ("384.5", "1", "half_up", "385"),
        ("384.49", "1", "half_even", "384"),
        ("384.51", "1", "half_even", "385"),
        ("382.5", "5", "half_even", "380"),  # 76.5 steps -> 76
        ("387.5", "5", "half_even", "390"),  # 77.5 steps -> 78
        ("387.5", "5", "half_up", "390"),
        ("382.5", "5", "half_up", "385"),
        ("382.4", "5", "half_even", "380"),
        ("-200.5", "1", "half_even", "-200"),
        ("333.25", "0.5", "half_even", "333.0"),  # 666.5 half-steps -> 666
    ],
)
def test_round_to_step(value: str, step: str, mode: str, expected: str) -> None:
    got = round_to_step(Decimal(value), Decimal(step), mode)
    assert str(got) == expected


@pytest.mark.parametrize(
    ("amount", "expected"), [("0.5", 0), ("1.5", 2), ("2.5", 2), ("2.5000001", 3), ("-0.5", 0)]
)
def test_round_fen_is_half_even(amount: str, expected: int) -> None:
    assert round_fen(Decimal(amount)) == expected


def test_rounding_helpers_ignore_the_callers_decimal_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 2
        ctx.rounding = ROUND_DOWN
        assert str(round_to_step(Decimal("384.5"), Decimal(1), "half_even")) == "384"
        assert round_fen(Decimal("123456789.5")) == 123_456_790
        assert fmt_percent(Decimal("330")) == "3.30"
