"""Policy documents: parse TOML, validate strictly (every problem listed), digest.

The canonical form of a policy is its parsed document rendered as sorted-key
compact JSON (dates and instants in ISO 8601, decimals as the strings written):
comments and layout do not change the digest, any number does.
"""

from __future__ import annotations

import hashlib
import itertools
import json
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


def parse_document(raw: bytes) -> dict[str, Any]:
    """Parse a policy file: TOML, or the canonical JSON form (it starts with '{')."""
    text = raw.decode("utf-8")
    if text.lstrip().startswith("{"):
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise PolicyError(["canonical policy is not a JSON object"])
        # Dates stay ISO strings: the validator reads both forms, and they
        # render back to the same canonical bytes.
        return doc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([f"not valid TOML: {exc}"]) from exc


class _Checker:
    """Reads fields of a document, recording a problem for each bad one."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

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
            self.problem(path, f"must be {what}, got {value!r}")
            return None
        return value

    def decimal(self, value: Any, path: str) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):
            self.problem(path, f'must be a decimal string like "{value}", not a float')
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        if not isinstance(value, str):
            self.problem(path, f"must be a decimal string, got {value!r}")
            return None
        try:
            d = Decimal(value)
        except InvalidOperation:
            self.problem(path, f"not a decimal: {value!r}")
            return None
        if not d.is_finite():
            self.problem(path, f"not a finite decimal: {value!r}")
            return None
        return d

    def date_(self, value: Any, path: str) -> date | None:
        if value is None:
            return None
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.problem(path, f"must be a date YYYY-MM-DD, got {value!r}")
        return None

    def instant(self, value: Any, path: str) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                self.problem(path, f"not an ISO 8601 instant: {value!r}")
                return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            self.problem(
                path, "must be an instant with a UTC offset, e.g. 2024-07-22T09:00:00+08:00"
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
        }
    ),
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
    for name in ("base_rate", "bounds", "rounding", "quote", "evidence", "carbon"):
        check(document.get(name), _KNOWN[name], name)
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
            if not isinstance(table, dict) or table.get("kind") not in _KIND_KEYS:
                continue  # the kind itself is reported by the product validator
            check(table, _PRODUCT_KEYS | _KIND_KEYS[table["kind"]], f"products.{pid}")
            each(table.get("bands"), _KNOWN["products.*.bands[]"], f"products.{pid}.bands")


def build_policy(document: Mapping[str, Any]) -> Policy:
    """Validate a parsed document and build the engine's Policy; PolicyError lists all problems."""
    c = _Checker()
    _unknown_keys(c, document)
    schema = c.typed(c.get(document, "schema", ""), "schema", int, "an integer")
    if schema is not None and schema != SCHEMA:
        c.problem("schema", f"unsupported schema {schema}; this service reads schema {SCHEMA}")
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

    fixings = c.each(c.get(base, "fixings", "base_rate"), "base_rate.fixings", fixing)
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
        d = c.decimal(value, f"spreads.{rating}")
        if d is not None:
            spreads[rating] = d
    if not spreads and spreads_t:
        c.problem("spreads", "needs at least one credit rating")

    def tenor_band(item: Any, path: str) -> TenorSpread | None:
        if not isinstance(item, dict):
            c.problem(path, "must be a table")
            return None
        months = c.typed(c.get(item, "max_months", path), f"{path}.max_months", int, "an integer")
        add = c.decimal(c.get(item, "add_bp", path), f"{path}.add_bp")
        if months is None or add is None:
            return None
        return TenorSpread(months, add)

    tenor_bands = c.each(spreads_t.get("tenor", []), "spreads.tenor", tenor_band)
    if [b.max_months for b in tenor_bands] != sorted({b.max_months for b in tenor_bands}):
        c.problem("spreads.tenor", "bands must have strictly increasing max_months")

    bounds = c.table(document, "bounds", "")
    floor = c.decimal(c.get(bounds, "floor", "bounds"), "bounds.floor")
    cap = c.decimal(c.get(bounds, "cap", "bounds"), "bounds.cap")
    if floor is not None and cap is not None and not Decimal(0) <= floor < cap:
        c.problem("bounds", f"need 0 <= floor < cap, got floor {floor} and cap {cap}")

    rounding = c.table(document, "rounding", "")
    step = c.decimal(c.get(rounding, "step_bp", "rounding"), "rounding.step_bp")
    if step is not None and step <= 0:
        c.problem("rounding.step_bp", "must be > 0")
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
        c.problem("rounding.mode", f"must be one of {', '.join(ROUNDING_MODES)}, got {mode!r}")
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
    for key in ("validity_hours", "min_term_months", "max_term_months", "max_principal_fen"):
        v = c.typed(c.get(quote, key, "quote"), f"quote.{key}", int, "an integer")
        if v is not None:
            if v <= 0:
                c.problem(f"quote.{key}", "must be > 0")
            ints[key] = v
    if ints.get("min_term_months", 1) > ints.get("max_term_months", 360):
        c.problem("quote", "min_term_months must not exceed max_term_months")

    evidence = c.table(document, "evidence", "")
    max_age = c.typed(
        c.get(evidence, "max_age_days", "evidence"), "evidence.max_age_days", int, "an integer"
    )
    if max_age is not None and max_age < 0:
        c.problem("evidence.max_age_days", "must be >= 0")

    carbon = c.table(document, "carbon", "")
    k_upper = c.each(c.get(carbon, "grade_k_upper", "carbon"), "carbon.grade_k_upper", c.decimal)
    if k_upper and (len(k_upper) != 4 or k_upper != sorted(set(k_upper)) or k_upper[0] <= 0):
        c.problem("carbon.grade_k_upper", "needs four increasing positive K bounds (grades 1-4)")
    level_upper = c.each(c.get(carbon, "level_upper", "carbon"), "carbon.level_upper", c.decimal)
    if level_upper and (len(level_upper) != 2 or level_upper != sorted(set(level_upper))):
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
        bench = c.decimal(c.get(item, "benchmark", path), f"{path}.benchmark")
        if bench is not None and bench <= 0:
            c.problem(f"{path}.benchmark", "must be > 0")
        if basis and unit is not None and bench is not None:
            industries[industry] = Benchmark(basis, unit, bench)
    for industry in Industry:
        if ind_t and industry.value not in ind_t:
            c.problem(f"carbon.industries.{industry.value}", "missing benchmark")

    products: dict[str, Product] = {}
    for pid, item in c.table(document, "products", "").items():
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
    for key, value in table.items():
        if not (isinstance(key, str) and key.isdigit() and int(key) in allowed):
            c.problem(f"{path}.{key}", f"key must be one of {allowed.start}..{allowed.stop - 1}")
            continue
        d = c.decimal(value, f"{path}.{key}")
        if d is not None:
            out[int(key)] = d
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
            f"unknown kind {kind_s!r}; one of {', '.join(k.value for k in ProductKind)}",
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
                    s, v = c.decimal(pair[0], ap + "[0]"), c.decimal(pair[1], ap + "[1]")
                    if s is not None and v is not None:
                        if not Decimal(0) <= s <= Decimal(100) or s != s.quantize(Decimal("0.1")):
                            c.problem(ap, "score must be 0-100 with at most one decimal")
                        elif v != v.quantize(Decimal("0.01")):
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
    minimum = c.decimal(
        c.get(item, "min_annual_tco2_reduced", path), f"{path}.min_annual_tco2_reduced"
    )

    def band(b: Any, bp_path: str) -> TransitionBand | None:
        if not isinstance(b, dict):
            c.problem(bp_path, "must be a table")
            return None
        m = c.decimal(c.get(b, "min_reduction_pct", bp_path), f"{bp_path}.min_reduction_pct")
        a = c.decimal(c.get(b, "adjust_bp", bp_path), f"{bp_path}.adjust_bp")
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
