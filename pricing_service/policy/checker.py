"""Reading a policy document's fields: every bad one recorded as a problem, the limits they keep."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

T = TypeVar("T")

# Documents now come over the network (SimulateQuotes drafts): the validator must
# answer PolicyError for any bytes, never crash, and every number it lets through
# must keep the engine's 34-digit context exact and its floats finite.
#
# A decimal is written plainly: ASCII digits, an optional sign and point, no
# exponent, at most this many digits before and after the point.
MAX_INT_DIGITS = 15
MAX_FRACTION_DIGITS = 12
_PLAIN_DECIMAL = re.compile(r"[+-]?([0-9]+)(?:\.([0-9]+))?")
# Ranges of what each number means (inclusive).
BP_LIMIT = Decimal(10_000)  # spreads and adjustments: at most 100 percentage points either way
MAX_STEP_BP = Decimal(10_000)
MAX_RATE_PERCENT = Decimal(100)  # floor and cap
MAX_MEASURE = Decimal(1_000_000)  # benchmarks, K bounds, level bounds
MAX_TCO2 = Decimal(10**12)
MAX_MONTHS = 1200  # terms, tenor split and band ends: a hundred years
MAX_VALIDITY_HOURS = 8760  # a year
MAX_AGE_DAYS = 3660  # ten years
INT64_MAX = 2**63 - 1
FIRST_YEAR, LAST_YEAR = 1900, 2999  # dates and instants (no datetime overflow near them)
# Sizes: LPR history (monthly for 800 years), products (a curve each costs milliseconds).
MAX_FIXINGS = 10_000
MAX_PRODUCTS = 100
# Policy documents nest five deep (products.mine_score.anchors[0][0]).
MAX_DEPTH = 32
_SHOW = 60
_MAX_PATH = 200


def clean_text(text: str) -> str:
    # Lone surrogates (legal in JSON escapes) cannot be encoded: not in a problem either.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def problem_text(path: str, message: str) -> str:
    """One problem: its path (shortened if a key is absurdly long), then what is wrong."""
    if len(path) > _MAX_PATH:
        path = path[: _MAX_PATH // 2] + "..." + path[-_MAX_PATH // 2 :]
    return clean_text(f"{path}: {message}")


def show(value: Any) -> str:
    """repr() of a value, cut short: a problem quotes what it got, not a megabyte of it."""
    text = repr(value)
    return text if len(text) <= _SHOW else text[: _SHOW - 3] + "..."


class Checker:
    """Reads fields of a document, recording a problem for each bad one."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(problem_text(path, message))

    def get(self, table: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in table:
            self.problem(f"{path}.{key}".lstrip("."), "missing")
            return None
        return table[key]

    def table(self, parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
        value = self.get(parent, key, path)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(f"{path}.{key}".lstrip("."), "must be a table")
            return {}
        return value

    def typed(self, value: Any, path: str, kind: type[T], what: str) -> T | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, kind):
            self.problem(path, f"must be {what}, got {show(value)}")
            return None
        return value

    def decimal(self, value: Any, path: str) -> Decimal | None:
        """A plain decimal (string, or integer) of at most 15 + 12 digits; else a problem."""
        if value is None:
            return None
        if isinstance(value, float):
            if math.isfinite(value):
                self.problem(path, f'must be a decimal string like "{value}", not a float')
            else:
                self.problem(path, f"must be a decimal string, not the float {value!r}")
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) >= 10**MAX_INT_DIGITS:
                self.problem(path, f"must have at most {MAX_INT_DIGITS} digits, got {show(value)}")
                return None
            return Decimal(value)
        if not isinstance(value, str):
            self.problem(path, f"must be a decimal string, got {show(value)}")
            return None
        plain = _PLAIN_DECIMAL.fullmatch(value)
        if plain is None:
            # Decimal() reads more than a policy should: exponents (1e999999999 overflows
            # the engine's arithmetic), non-ASCII digits, '_', spaces, NaN, Infinity.
            try:
                d = Decimal(value) if len(value) <= 100 else None
            except InvalidOperation:
                d = None
            if d is None:
                self.problem(path, f"not a decimal: {show(value)}")
            elif not d.is_finite():
                self.problem(path, f"not a finite decimal: {show(value)}")
            else:
                self.problem(
                    path,
                    f'must be written plainly, like "12.34" (ASCII digits, no exponent), '
                    f"got {show(value)}",
                )
            return None
        whole, fraction = plain.group(1), plain.group(2) or ""
        if len(whole) > MAX_INT_DIGITS or len(fraction) > MAX_FRACTION_DIGITS:
            self.problem(
                path,
                f"must have at most {MAX_INT_DIGITS} digits before the point and "
                f"{MAX_FRACTION_DIGITS} after, got {show(value)}",
            )
            return None
        return Decimal(value)

    def within(
        self, d: Decimal | None, path: str, low: Decimal, high: Decimal, unit: str = ""
    ) -> Decimal | None:
        """`d` if low <= d <= high, else None and a problem."""
        if d is not None and not low <= d <= high:
            self.problem(path, f"must be from {low} to {high}{unit}, got {d}")
            return None
        return d

    def bp(self, value: Any, path: str) -> Decimal | None:
        """A spread or adjustment in bp: a decimal within ±BP_LIMIT."""
        return self.within(self.decimal(value, path), path, -BP_LIMIT, BP_LIMIT, " bp")

    def measure(self, value: Any, path: str) -> Decimal | None:
        """A benchmark-like quantity: a decimal from 0 to MAX_MEASURE."""
        return self.within(self.decimal(value, path), path, Decimal(0), MAX_MEASURE)

    def int_at_most(self, value: int | None, path: str, high: int, unit: str = "") -> int | None:
        """`value` unless it is over `high` (then a problem)."""
        if value is not None and value > high:
            self.problem(path, f"must be at most {high}{unit}, got {value}")
            return None
        return value

    def date_(self, value: Any, path: str) -> date | None:
        if value is None:
            return None
        day: date | None = None
        if isinstance(value, date) and not isinstance(value, datetime):
            day = value
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                day = date.fromisoformat(value)
        if day is None:
            self.problem(path, f"must be a date YYYY-MM-DD, got {show(value)}")
            return None
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            self.problem(path, f"must be in the years {FIRST_YEAR} to {LAST_YEAR}, got {day}")
            return None
        return day

    def instant(self, value: Any, path: str) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                self.problem(path, f"not an ISO 8601 instant: {show(value)}")
                return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            self.problem(
                path, "must be an instant with a UTC offset, e.g. 2024-07-22T09:00:00+08:00"
            )
            return None
        # Checked on the local fields: converting 0001-01-01T00:00+08:00 to UTC overflows.
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            self.problem(
                path, f"must be in the years {FIRST_YEAR} to {LAST_YEAR}, got {value.isoformat()}"
            )
            return None
        return value

    def each(self, value: Any, path: str, fn: Callable[[Any, str], T | None]) -> list[T]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, "must be an array")
            return []
        out = []
        for i, item in enumerate(value):
            got = fn(item, f"{path}[{i}]")
            if got is not None:
                out.append(got)
        return out
