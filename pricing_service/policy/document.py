"""Policy documents: parse TOML, validate strictly (every problem listed), digest.

The canonical form of a policy is its parsed document rendered as sorted-key
compact JSON (dates and instants in ISO 8601, decimals as the strings written):
comments and layout do not change the digest, any number does.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from pricing_service.domain.curve import ScoreCurve
from pricing_service.domain.errors import PolicyError
from pricing_service.domain.evidence import Industry, ProductKind
from pricing_service.domain.grading import Benchmark
from pricing_service.domain.lpr import Fixing, FixingTable
from pricing_service.domain.policy import Policy, Product, TenorSpread, TransitionBand
from pricing_service.domain.rates import CTX, ROUNDING_MODES, percent_to_bp

SCHEMA = 1
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


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        # TOML local times are valid TOML; in a key the engine ignores they
        # must still canonicalise (json.dumps would raise TypeError).
        return value.isoformat()
    if isinstance(value, float):
        # Rejected by validation; kept visible in the canonical form.
        return repr(value)
    return value


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The canonical form: sorted-key compact UTF-8 JSON of the parsed document."""
    return json.dumps(
        _jsonable(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def digest_of(canonical: bytes) -> str:
    """Hex SHA-256 of a canonical form."""
    return hashlib.sha256(canonical).hexdigest()


class _LongInteger:
    """A JSON integer literal too long to be a 64-bit integer (never converted: see parse)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<integer out of range>"


def _json_int(literal: str) -> int | _LongInteger:
    # int() of a literal over 4,300 digits raises ValueError: anything over 20
    # characters is out of the 64-bit range anyway, and is reported by its path.
    return int(literal) if len(literal) <= 20 else _LongInteger()


class _JsonObject(dict[str, Any]):
    """A JSON object that repeated a key (json.loads would keep the last silently)."""

    duplicates: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    repeated: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    dup = _JsonObject(obj)
    dup.duplicates = tuple(repeated)
    return dup


def _clean(text: str) -> str:
    # Lone surrogates (legal in JSON escapes) cannot be encoded: not in a problem either.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _problem(path: str, message: str) -> str:
    """One problem: its path (shortened if a key is absurdly long), then what is wrong."""
    if len(path) > _MAX_PATH:
        path = path[: _MAX_PATH // 2] + "..." + path[-_MAX_PATH // 2 :]
    return _clean(f"{path}: {message}")


def _shape_problems(document: Any) -> list[str]:
    """Problems the field checks cannot safely meet: nesting, bad text, unrepresentable ints."""
    problems: list[str] = []
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        where = path or "document"
        if isinstance(value, str):
            if not value.isascii() and _clean(value) != value:
                problems.append(_problem(where, "not valid Unicode text (lone surrogate)"))
        elif isinstance(value, _LongInteger) or (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not -INT64_MAX - 1 <= value <= INT64_MAX
        ):
            problems.append(_problem(where, "integer out of the 64-bit range"))
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                problems.append(
                    _problem(where, f"nested too deeply (more than {MAX_DEPTH} levels)")
                )
                continue
            if isinstance(value, _JsonObject):
                problems.extend(
                    _problem(f"{path}.{key}".lstrip("."), "duplicate key")
                    for key in value.duplicates
                )
            items: list[tuple[Any, str]] = []
            if isinstance(value, dict):
                for key, item in value.items():
                    key_path = f"{path}.{key}".lstrip(".") if isinstance(key, str) else path
                    if isinstance(key, str) and not key.isascii() and _clean(key) != key:
                        problems.append(
                            _problem(key_path, "not valid Unicode text (lone surrogate)")
                        )
                    items.append((item, key_path))
            else:
                items = [(item, f"{path}[{i}]") for i, item in enumerate(value)]
            stack.extend((item, p, depth + 1) for item, p in reversed(items))
    return problems


def parse_document(raw: bytes) -> dict[str, Any]:
    """Parse a policy file: TOML, or the canonical JSON form (it starts with '{').

    Any bytes give a document or a PolicyError: never another exception.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([f"not UTF-8 text: {exc.reason} at byte {exc.start}"]) from None
    doc: dict[str, Any]
    try:
        if text.lstrip().startswith("{"):
            try:
                loaded = json.loads(text, parse_int=_json_int, object_pairs_hook=_json_object)
            except json.JSONDecodeError as exc:
                raise PolicyError([f"not valid JSON: {exc}"]) from None
            if not isinstance(loaded, dict):
                raise PolicyError(["canonical policy is not a JSON object"])
            doc = loaded
            # Dates stay ISO strings: the validator reads both forms, and they
            # render back to the same canonical bytes.
        else:
            try:
                doc = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise PolicyError([f"not valid TOML: {exc}"]) from None
            except ValueError as exc:  # int() of a literal over 4,300 digits
                raise PolicyError(
                    ["not valid TOML: an integer out of the 64-bit range"]
                    if "integer string conversion" in str(exc)
                    else [f"not valid TOML: {exc}"]
                ) from None
    except RecursionError:
        raise PolicyError(["nested too deeply to be a policy document"]) from None
    problems = _shape_problems(doc)
    if problems:
        raise PolicyError(problems)
    return doc


def _show(value: Any) -> str:
    """repr() of a value, cut short: a problem quotes what it got, not a megabyte of it."""
    text = repr(value)
    return text if len(text) <= _SHOW else text[: _SHOW - 3] + "..."


class _Checker:
    """Reads fields of a document, recording a problem for each bad one."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(_problem(path, message))

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
            self.problem(path, f"must be {what}, got {_show(value)}")
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
                self.problem(path, f"must have at most {MAX_INT_DIGITS} digits, got {_show(value)}")
                return None
            return Decimal(value)
        if not isinstance(value, str):
            self.problem(path, f"must be a decimal string, got {_show(value)}")
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
                self.problem(path, f"not a decimal: {_show(value)}")
            elif not d.is_finite():
                self.problem(path, f"not a finite decimal: {_show(value)}")
            else:
                self.problem(
                    path,
                    f'must be written plainly, like "12.34" (ASCII digits, no exponent), '
                    f"got {_show(value)}",
                )
            return None
        whole, fraction = plain.group(1), plain.group(2) or ""
        if len(whole) > MAX_INT_DIGITS or len(fraction) > MAX_FRACTION_DIGITS:
            self.problem(
                path,
                f"must have at most {MAX_INT_DIGITS} digits before the point and "
                f"{MAX_FRACTION_DIGITS} after, got {_show(value)}",
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
            self.problem(path, f"must be a date YYYY-MM-DD, got {_show(value)}")
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
                self.problem(path, f"not an ISO 8601 instant: {_show(value)}")
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


_KNOWN: dict[str, frozenset[str]] = {
    "": frozenset(
        {
            "schema",
            "version",
            "effective_from",
            "description",
            "base_rate",
            "spreads",
            "bounds",
            "rounding",
            "quote",
            "evidence",
            "carbon",
            "products",
            "simulation",  # optional: a migration model for Monte Carlo; pricing ignores it
        }
    ),
    "simulation": frozenset({"grade_transition", "score_drift"}),
    "base_rate": frozenset({"tenor_split_months", "confirmed_through", "fixings"}),
    "base_rate.fixings[]": frozenset({"published_at", "lpr_1y", "lpr_5y"}),
    "spreads.tenor[]": frozenset({"max_months", "add_bp"}),
    "bounds": frozenset({"floor", "cap"}),
    "rounding": frozenset({"step_bp", "mode", "annualised_decimals"}),
    "quote": frozenset(
        {"validity_hours", "min_term_months", "max_term_months", "max_principal_fen"}
    ),
    "evidence": frozenset({"max_age_days"}),
    "carbon": frozenset({"grade_k_upper", "level_upper", "industries"}),
    "carbon.industries.*": frozenset({"basis", "unit", "benchmark"}),
    "products.*.bands[]": frozenset({"min_reduction_pct", "adjust_bp"}),
}
_PRODUCT_KEYS = frozenset({"kind", "name_zh", "name_en"})
_KIND_KEYS = {
    "standard": frozenset(),
    "carbon_account": frozenset({"grade_adjust_bp"}),
    "mine_score": frozenset({"min_score", "anchors", "class_adjust_bp"}),
    "transition": frozenset({"min_annual_tco2_reduced", "bands"}),
}


def _unknown_keys(c: _Checker, document: Mapping[str, Any]) -> None:
    """A key the engine does not read is a mistake (a typo silently ignored is a wrong price)."""

    def check(table: Any, allowed: frozenset[str], path: str) -> None:
        if not isinstance(table, dict):
            return
        for key in table:
            if key not in allowed:
                where = f"{path}.{key}" if path else key
                c.problem(where, f"unknown key; expected one of {', '.join(sorted(allowed))}")

    def each(items: Any, allowed: frozenset[str], path: str) -> None:
        if isinstance(items, list):
            for i, item in enumerate(items):
                check(item, allowed, f"{path}[{i}]")

    check(document, _KNOWN[""], "")
    for name in ("base_rate", "bounds", "rounding", "quote", "evidence", "carbon", "simulation"):
        check(document.get(name), _KNOWN[name], name)
    if "simulation" in document and not isinstance(document["simulation"], dict):
        c.problem("simulation", "must be a table ([simulation.grade_transition], ...)")
    base = document.get("base_rate")
    if isinstance(base, dict):
        each(base.get("fixings"), _KNOWN["base_rate.fixings[]"], "base_rate.fixings")
    spreads = document.get("spreads")
    if isinstance(spreads, dict):
        each(spreads.get("tenor"), _KNOWN["spreads.tenor[]"], "spreads.tenor")
    carbon = document.get("carbon")
    industries = carbon.get("industries") if isinstance(carbon, dict) else None
    if isinstance(industries, dict):
        for name, table in industries.items():
            check(table, _KNOWN["carbon.industries.*"], f"carbon.industries.{name}")
    products = document.get("products")
    if isinstance(products, dict):
        for pid, table in products.items():
            kind = table.get("kind") if isinstance(table, dict) else None
            if not isinstance(kind, str) or kind not in _KIND_KEYS:  # a list is unhashable
                continue  # the kind itself is reported by the product validator
            check(table, _PRODUCT_KEYS | _KIND_KEYS[kind], f"products.{pid}")
            each(table.get("bands"), _KNOWN["products.*.bands[]"], f"products.{pid}.bands")


def build_policy(document: Mapping[str, Any]) -> Policy:
    """Validate a parsed document and build the engine's Policy; PolicyError lists all problems."""
    shape = _shape_problems(document)
    if shape:  # a document not from parse_document (calibrate.py builds its own)
        raise PolicyError(shape)
    c = _Checker()
    _unknown_keys(c, document)
    schema = c.typed(c.get(document, "schema", ""), "schema", int, "an integer")
    if schema is not None and schema != SCHEMA:
        c.problem(
            "schema", f"unsupported schema {_show(schema)}; this service reads schema {SCHEMA}"
        )
    version = c.typed(c.get(document, "version", ""), "version", str, "a string")
    if version is not None and not version.strip():
        c.problem("version", "must not be empty")
    effective_from = c.date_(c.get(document, "effective_from", ""), "effective_from")
    description = document.get("description", "")
    if not isinstance(description, str):
        c.problem("description", "must be a string")
        description = ""

    base = c.table(document, "base_rate", "")
    split = c.typed(
        c.get(base, "tenor_split_months", "base_rate"),
        "base_rate.tenor_split_months",
        int,
        "an integer",
    )
    if split is not None and not 0 <= split <= MAX_MONTHS:
        c.problem("base_rate.tenor_split_months", f"must be from 0 to {MAX_MONTHS}, got {split}")
        split = None
    confirmed = c.date_(
        c.get(base, "confirmed_through", "base_rate"), "base_rate.confirmed_through"
    )

    def fixing(item: Any, path: str) -> Fixing | None:
        if not isinstance(item, dict):
            c.problem(path, "must be a table")
            return None
        at = c.instant(c.get(item, "published_at", path), f"{path}.published_at")
        one = c.decimal(c.get(item, "lpr_1y", path), f"{path}.lpr_1y")
        five = c.decimal(c.get(item, "lpr_5y", path), f"{path}.lpr_5y")
        for name, v in (("lpr_1y", one), ("lpr_5y", five)):
            if v is not None and not Decimal(0) < v < Decimal(30):
                c.problem(f"{path}.{name}", f"{v} is not a plausible LPR in percent")
        if at is None or one is None or five is None:
            return None
        return Fixing(at, percent_to_bp(one), percent_to_bp(five))

    fixings_raw = c.get(base, "fixings", "base_rate")
    fixings: list[Fixing] = []
    if isinstance(fixings_raw, list) and len(fixings_raw) > MAX_FIXINGS:
        c.problem("base_rate.fixings", f"at most {MAX_FIXINGS} fixings, got {len(fixings_raw)}")
    else:
        fixings = c.each(fixings_raw, "base_rate.fixings", fixing)
        if not fixings and "fixings" in base:
            c.problem("base_rate.fixings", "needs at least one fixing")
    seen: set[datetime] = set()
    for f in fixings:
        if f.published_at in seen:
            c.problem("base_rate.fixings", f"two fixings published at {f.published_at.isoformat()}")
        seen.add(f.published_at)

    spreads_t = c.table(document, "spreads", "")
    spreads: dict[str, Decimal] = {}
    for rating, value in spreads_t.items():
        if rating == "tenor":
            continue
        if not 1 <= len(rating) <= 32 or not rating.isprintable():
            c.problem(f"spreads.{rating}", "a credit rating must be 1 to 32 printable characters")
            continue
        d = c.bp(value, f"spreads.{rating}")
        if d is not None:
            spreads[rating] = d
    if not spreads and isinstance(document.get("spreads"), dict):  # {} too: no rating prices
        c.problem("spreads", "needs at least one credit rating")

    def tenor_band(item: Any, path: str) -> TenorSpread | None:
        if not isinstance(item, dict):
            c.problem(path, "must be a table")
            return None
        months = c.typed(c.get(item, "max_months", path), f"{path}.max_months", int, "an integer")
        if months is not None and not 1 <= months <= MAX_MONTHS:
            c.problem(f"{path}.max_months", f"must be from 1 to {MAX_MONTHS}, got {months}")
            months = None
        add = c.bp(c.get(item, "add_bp", path), f"{path}.add_bp")
        if months is None or add is None:
            return None
        return TenorSpread(months, add)

    tenor_bands = c.each(spreads_t.get("tenor", []), "spreads.tenor", tenor_band)
    if [b.max_months for b in tenor_bands] != sorted({b.max_months for b in tenor_bands}):
        c.problem("spreads.tenor", "bands must have strictly increasing max_months")

    bounds = c.table(document, "bounds", "")
    floor, cap = (
        c.within(
            c.decimal(c.get(bounds, name, "bounds"), f"bounds.{name}"),
            f"bounds.{name}",
            Decimal(0),
            MAX_RATE_PERCENT,
            " (percent)",
        )
        for name in ("floor", "cap")
    )
    if floor is not None and cap is not None and not Decimal(0) <= floor < cap:
        c.problem("bounds", f"need 0 <= floor < cap, got floor {floor} and cap {cap}")

    rounding = c.table(document, "rounding", "")
    step = c.decimal(c.get(rounding, "step_bp", "rounding"), "rounding.step_bp")
    if step is not None and step <= 0:
        c.problem("rounding.step_bp", "must be > 0")
    elif step is not None and step > MAX_STEP_BP:
        c.problem("rounding.step_bp", f"must be at most {MAX_STEP_BP} bp, got {step}")
        step = None
    if step is not None and step > 0 and floor is not None and cap is not None:
        # Rounding comes after the bounds: a bound off the rounding grid would be
        # crossed by the rounded rate (floor 102 bp, step 5 -> 100 bp).
        for name, bound in (("floor", floor), ("cap", cap)):
            try:
                on_grid = CTX.remainder(percent_to_bp(bound), step) == 0
            except InvalidOperation:  # more than 34 digits of steps
                on_grid = False
            if not on_grid:
                c.problem(
                    f"bounds.{name}",
                    f"{bound}% must be a multiple of rounding.step_bp ({step} bp)",
                )
    mode = c.typed(c.get(rounding, "mode", "rounding"), "rounding.mode", str, "a string")
    if mode is not None and mode not in ROUNDING_MODES:
        c.problem("rounding.mode", f"must be one of {', '.join(ROUNDING_MODES)}, got {_show(mode)}")
    ann_dec = c.typed(
        c.get(rounding, "annualised_decimals", "rounding"),
        "rounding.annualised_decimals",
        int,
        "an integer",
    )
    if ann_dec is not None and not 0 <= ann_dec <= 6:
        c.problem("rounding.annualised_decimals", "must be 0 to 6")

    quote = c.table(document, "quote", "")
    ints: dict[str, int] = {}
    limits = {
        "validity_hours": (MAX_VALIDITY_HOURS, " hours"),
        "min_term_months": (MAX_MONTHS, " months"),
        "max_term_months": (MAX_MONTHS, " months"),
        "max_principal_fen": (INT64_MAX, " fen"),
    }
    for key, (high, units) in limits.items():
        v = c.typed(c.get(quote, key, "quote"), f"quote.{key}", int, "an integer")
        if v is not None and v <= 0:
            c.problem(f"quote.{key}", "must be > 0")
        elif c.int_at_most(v, f"quote.{key}", high, units) is not None:
            assert v is not None
            ints[key] = v
    if ints.get("min_term_months", 1) > ints.get("max_term_months", 360):
        c.problem("quote", "min_term_months must not exceed max_term_months")

    evidence = c.table(document, "evidence", "")
    max_age = c.typed(
        c.get(evidence, "max_age_days", "evidence"), "evidence.max_age_days", int, "an integer"
    )
    if max_age is not None and max_age < 0:
        c.problem("evidence.max_age_days", "must be >= 0")
    max_age = c.int_at_most(max_age, "evidence.max_age_days", MAX_AGE_DAYS, " days")

    carbon = c.table(document, "carbon", "")
    # An empty list is no bounds at all, as much a problem as too few.
    k_raw = c.get(carbon, "grade_k_upper", "carbon")
    k_upper = c.each(k_raw, "carbon.grade_k_upper", c.measure)
    if isinstance(k_raw, list) and (
        len(k_upper) != 4 or k_upper != sorted(set(k_upper)) or k_upper[0] <= 0
    ):
        c.problem("carbon.grade_k_upper", "needs four increasing positive K bounds (grades 1-4)")
    level_raw = c.get(carbon, "level_upper", "carbon")
    level_upper = c.each(level_raw, "carbon.level_upper", c.measure)
    if isinstance(level_raw, list) and (
        len(level_upper) != 2 or level_upper != sorted(set(level_upper))
    ):
        c.problem("carbon.level_upper", "needs two increasing bounds (低碳, 中碳)")
    industries: dict[Industry, Benchmark] = {}
    ind_t = c.table(carbon, "industries", "carbon")
    for name, item in ind_t.items():
        path = f"carbon.industries.{name}"
        try:
            industry = Industry(name)
        except ValueError:
            c.problem(path, f"unknown industry; one of {', '.join(i.value for i in Industry)}")
            continue
        if not isinstance(item, dict):
            c.problem(path, "must be a table")
            continue
        basis = c.typed(c.get(item, "basis", path), f"{path}.basis", str, "a string")
        if basis is not None and basis not in ("output", "value_added"):
            c.problem(f"{path}.basis", "must be 'output' or 'value_added'")
        unit = c.typed(c.get(item, "unit", path), f"{path}.unit", str, "a string")
        bench = c.measure(c.get(item, "benchmark", path), f"{path}.benchmark")
        if bench is not None and bench <= 0:
            c.problem(f"{path}.benchmark", "must be > 0")
        if basis and unit is not None and bench is not None:
            industries[industry] = Benchmark(basis, unit, bench)
    for industry in Industry:
        # An empty table too: the engine looks a borrower's industry up unchecked.
        if isinstance(carbon.get("industries"), dict) and industry.value not in ind_t:
            c.problem(f"carbon.industries.{industry.value}", "missing benchmark")

    products: dict[str, Product] = {}
    products_t = c.table(document, "products", "")
    if len(products_t) > MAX_PRODUCTS:
        # Each mine-score curve costs milliseconds to build: a 4 MB draft of them, minutes.
        c.problem("products", f"at most {MAX_PRODUCTS} products, got {len(products_t)}")
    else:
        for pid, item in products_t.items():
            product = _product(c, pid, item)
            if product is not None:
                products[pid] = product
        if not products:
            c.problem("products", "needs at least one product")

    if c.problems:
        raise PolicyError(c.problems)
    assert version is not None
    assert effective_from is not None
    assert split is not None
    assert confirmed is not None
    assert floor is not None
    assert cap is not None
    assert step is not None
    assert mode is not None
    assert ann_dec is not None
    assert max_age is not None
    canonical = canonical_bytes(document)
    return Policy(
        version=version,
        effective_from=effective_from,
        digest=digest_of(canonical),
        description=description,
        fixings=FixingTable(fixings),
        tenor_split_months=split,
        lpr_confirmed_through=confirmed,
        # The canonical JSON sorts keys, the TOML does not: order every mapping by a rule
        # of its own, so a policy read back from the archive behaves byte for byte the same.
        spreads_bp=dict(sorted(spreads.items(), key=lambda kv: (kv[1], kv[0]))),
        tenor_spreads=tuple(tenor_bands),
        floor_bp=percent_to_bp(floor),
        cap_bp=percent_to_bp(cap),
        rounding_step_bp=step,
        rounding_mode=mode,
        annualised_decimals=ann_dec,
        validity_hours=ints["validity_hours"],
        min_term_months=ints["min_term_months"],
        max_term_months=ints["max_term_months"],
        max_principal_fen=ints["max_principal_fen"],
        evidence_max_age_days=max_age,
        grade_k_upper=tuple(k_upper),
        level_upper=tuple(level_upper),
        industries=industries,
        products=products,
    )


def _int_keys(c: _Checker, table: Any, path: str, allowed: range) -> dict[int, Decimal]:
    out: dict[int, Decimal] = {}
    if not isinstance(table, dict):
        c.problem(path, "must be a table")
        return out
    # Compared as text: int() would read "²" (str.isdigit() accepts it), "٣" or "01".
    keys = {str(i): i for i in allowed}
    for key, value in table.items():
        if key not in keys:
            c.problem(f"{path}.{key}", f"key must be one of {allowed.start}..{allowed.stop - 1}")
            continue
        d = c.bp(value, f"{path}.{key}")
        if d is not None:
            out[keys[key]] = d
    return out


def _product(c: _Checker, pid: str, item: Any) -> Product | None:
    path = f"products.{pid}"
    if not isinstance(item, dict):
        c.problem(path, "must be a table")
        return None
    if not pid.replace("_", "").replace("-", "").isalnum() or len(pid) > 64:
        c.problem(path, "product id must be letters, digits, '-' or '_' (at most 64)")
    kind_s = c.typed(c.get(item, "kind", path), f"{path}.kind", str, "a string")
    name_zh = c.typed(c.get(item, "name_zh", path), f"{path}.name_zh", str, "a string") or ""
    name_en = c.typed(c.get(item, "name_en", path), f"{path}.name_en", str, "a string") or ""
    try:
        kind = ProductKind(kind_s) if kind_s is not None else None
    except ValueError:
        c.problem(
            f"{path}.kind",
            f"unknown kind {_show(kind_s)}; one of {', '.join(k.value for k in ProductKind)}",
        )
        return None
    if kind is None:
        return None
    if kind is ProductKind.STANDARD:
        return Product(pid, kind, name_zh, name_en)
    if kind is ProductKind.CARBON_ACCOUNT:
        grades = _int_keys(
            c, c.get(item, "grade_adjust_bp", path), f"{path}.grade_adjust_bp", range(1, 6)
        )
        if not grades and "grade_adjust_bp" in item:
            c.problem(f"{path}.grade_adjust_bp", "needs at least one eligible grade")
        return Product(pid, kind, name_zh, name_en, grade_adjust_bp=grades)
    if kind is ProductKind.MINE_SCORE:
        min_score = c.decimal(c.get(item, "min_score", path), f"{path}.min_score")
        anchors_raw = c.get(item, "anchors", path)
        anchors: list[tuple[Decimal, Decimal]] = []
        if anchors_raw is not None:
            if not isinstance(anchors_raw, list) or len(anchors_raw) < 2:
                c.problem(f"{path}.anchors", "needs at least two [score, bp] anchor points")
            else:
                for i, pair in enumerate(anchors_raw):
                    ap = f"{path}.anchors[{i}]"
                    if not isinstance(pair, list) or len(pair) != 2:
                        c.problem(ap, "must be [score, bp]")
                        continue
                    s, v = c.decimal(pair[0], ap + "[0]"), c.bp(pair[1], ap + "[1]")
                    if s is not None and v is not None:
                        if not Decimal(0) <= s <= Decimal(100) or s != s.quantize(
                            Decimal("0.1"), context=CTX
                        ):
                            c.problem(ap, "score must be 0-100 with at most one decimal")
                        elif v != v.quantize(Decimal("0.01"), context=CTX):
                            c.problem(ap, "bp must have at most two decimals")
                        else:
                            anchors.append((s, v))
                xs = [a[0] for a in anchors]
                ys = [a[1] for a in anchors]
                if xs != sorted(set(xs)):
                    c.problem(f"{path}.anchors", "scores must be strictly increasing")
                elif any(b > a for a, b in itertools.pairwise(ys)):
                    c.problem(
                        f"{path}.anchors",
                        "a higher score must never price higher (bp non-increasing)",
                    )
        classes = _int_keys(
            c, c.get(item, "class_adjust_bp", path), f"{path}.class_adjust_bp", range(1, 4)
        )
        if min_score is not None and not Decimal(0) <= min_score <= Decimal(100):
            c.problem(f"{path}.min_score", "must be 0-100")
        if min_score is None or len(anchors) < 2 or any(p.startswith(path) for p in c.problems):
            return None
        return Product(
            pid,
            kind,
            name_zh,
            name_en,
            min_score=min_score,
            curve=ScoreCurve(anchors),
            class_adjust_bp=classes,
        )
    minimum = c.within(
        c.decimal(c.get(item, "min_annual_tco2_reduced", path), f"{path}.min_annual_tco2_reduced"),
        f"{path}.min_annual_tco2_reduced",
        Decimal(0),
        MAX_TCO2,
        " tCO2",
    )

    def band(b: Any, bp_path: str) -> TransitionBand | None:
        if not isinstance(b, dict):
            c.problem(bp_path, "must be a table")
            return None
        m = c.within(
            c.decimal(c.get(b, "min_reduction_pct", bp_path), f"{bp_path}.min_reduction_pct"),
            f"{bp_path}.min_reduction_pct",
            Decimal(0),
            Decimal(100),
            " (percent)",
        )
        a = c.bp(c.get(b, "adjust_bp", bp_path), f"{bp_path}.adjust_bp")
        return TransitionBand(m, a) if m is not None and a is not None else None

    bands = c.each(c.get(item, "bands", path), f"{path}.bands", band)
    mins = [b.min_reduction_pct for b in bands]
    if mins != sorted(set(mins), reverse=True):
        c.problem(f"{path}.bands", "min_reduction_pct must be strictly decreasing")
    if minimum is None:
        return None
    return Product(pid, kind, name_zh, name_en, min_annual_tco2_reduced=minimum, bands=tuple(bands))


def load_policy_file(path: Path) -> tuple[Policy, bytes]:
    """Load and validate one policy file; returns the policy and its canonical bytes."""
    doc = parse_document(path.read_bytes())
    policy = build_policy(doc)
    return policy, canonical_bytes(doc)
