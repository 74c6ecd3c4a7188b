"""[products]: each product's names and kind, and the rules of its kind."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pricing_service.domain.curve import ScoreCurve
from pricing_service.domain.evidence import ProductKind, Reference
from pricing_service.domain.policy import Product, TransitionBand
from pricing_service.domain.rates import CTX
from pricing_service.policy.checker import MAX_PRODUCTS, MAX_TCO2, Checker, show


def build_products(c: Checker, document: Mapping[str, Any]) -> dict[str, Product]:
    """The good products by id, in document order; at least one, at most MAX_PRODUCTS."""
    products: dict[str, Product] = {}
    products_t = c.table(document, "products", "")
    if len(products_t) > MAX_PRODUCTS:
        # Each mine-score curve costs milliseconds to build: a 4 MB draft of them, minutes.
        c.problem("products", f"at most {MAX_PRODUCTS} products, got {len(products_t)}")
        return products
    for pid, item in products_t.items():
        product = _product(c, pid, item)
        if product is not None:
            products[pid] = product
    if not products:
        c.problem("products", "needs at least one product")
    return products


def _product(c: Checker, pid: str, item: Any) -> Product | None:
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
            f"unknown kind {show(kind_s)}; one of {', '.join(k.value for k in ProductKind)}",
        )
        return None
    if kind is None:
        return None
    # The fields every kind has; a kind's builder adds its rules to them.
    reference, with_spreads = _reference(c, item, path)
    named = Product(pid, kind, name_zh, name_en, reference=reference, with_spreads=with_spreads)
    if kind is ProductKind.STANDARD:
        return named
    if kind is ProductKind.CARBON_ACCOUNT:
        return _carbon_account(c, named, item, path)
    if kind is ProductKind.MINE_SCORE:
        return _mine_score(c, named, item, path)
    return _transition(c, named, item, path)


def _reference(c: Checker, item: Mapping[str, Any], path: str) -> tuple[Reference, bool]:
    """`reference` (optional, "ordinary" by default) and, under "base", `with_spreads`.

    Both keys are optional and absent from every policy written before them: a
    document without them keeps its canonical form and its digest.
    """
    reference = Reference.ORDINARY
    if "reference" in item:
        text = item["reference"]
        known = {r.value: r for r in Reference}
        if isinstance(text, str) and text in known:
            reference = known[text]
        else:
            c.problem(
                f"{path}.reference", f"unknown reference {show(text)}; one of {', '.join(known)}"
            )
    with_spreads = False
    if "with_spreads" in item:
        value = item["with_spreads"]
        if not isinstance(value, bool):
            c.problem(f"{path}.with_spreads", f"must be true or false, got {show(value)}")
        elif reference is not Reference.BASE:
            c.problem(
                f"{path}.with_spreads",
                'only with reference = "base" (the ordinary rate has its spreads already)',
            )
        else:
            with_spreads = value
    return reference, with_spreads


def _carbon_account(c: Checker, named: Product, item: Mapping[str, Any], path: str) -> Product:
    """绿碳融: an adjustment by carbon grade; a grade without one is not eligible."""
    grades = _int_keys(
        c, c.get(item, "grade_adjust_bp", path), f"{path}.grade_adjust_bp", range(1, 6)
    )
    if not grades and "grade_adjust_bp" in item:
        c.problem(f"{path}.grade_adjust_bp", "needs at least one eligible grade")
    return dataclasses.replace(named, grade_adjust_bp=grades)


def _mine_score(c: Checker, named: Product, item: Mapping[str, Any], path: str) -> Product | None:
    """A minimum score, a curve of [score, bp] anchors, adjustments by construction class."""
    min_score = c.decimal(c.get(item, "min_score", path), f"{path}.min_score")
    anchors = _anchors(c, c.get(item, "anchors", path), f"{path}.anchors")
    classes = _int_keys(
        c, c.get(item, "class_adjust_bp", path), f"{path}.class_adjust_bp", range(1, 4)
    )
    if min_score is not None and not Decimal(0) <= min_score <= Decimal(100):
        c.problem(f"{path}.min_score", "must be 0-100")
    if min_score is None or len(anchors) < 2 or any(p.startswith(path) for p in c.problems):
        return None
    return dataclasses.replace(
        named, min_score=min_score, curve=ScoreCurve(anchors), class_adjust_bp=classes
    )


def _anchors(c: Checker, anchors_raw: Any, path: str) -> list[tuple[Decimal, Decimal]]:
    """The good anchors, if the curve they make never prices a higher score higher."""
    anchors: list[tuple[Decimal, Decimal]] = []
    if anchors_raw is None:
        return anchors
    if not isinstance(anchors_raw, list) or len(anchors_raw) < 2:
        c.problem(path, "needs at least two [score, bp] anchor points")
        return anchors
    for i, pair in enumerate(anchors_raw):
        anchor = _anchor(c, pair, f"{path}[{i}]")
        if anchor is not None:
            anchors.append(anchor)
    xs = [a[0] for a in anchors]
    ys = [a[1] for a in anchors]
    if xs != sorted(set(xs)):
        c.problem(path, "scores must be strictly increasing")
    elif any(b > a for a, b in itertools.pairwise(ys)):
        c.problem(path, "a higher score must never price higher (bp non-increasing)")
    return anchors


def _anchor(c: Checker, pair: Any, ap: str) -> tuple[Decimal, Decimal] | None:
    if not isinstance(pair, list) or len(pair) != 2:
        c.problem(ap, "must be [score, bp]")
        return None
    s, v = c.decimal(pair[0], ap + "[0]"), c.bp(pair[1], ap + "[1]")
    if s is None or v is None:
        return None
    if not Decimal(0) <= s <= Decimal(100) or s != s.quantize(Decimal("0.1"), context=CTX):
        c.problem(ap, "score must be 0-100 with at most one decimal")
        return None
    if v != v.quantize(Decimal("0.01"), context=CTX):
        c.problem(ap, "bp must have at most two decimals")
        return None
    return s, v


def _transition(c: Checker, named: Product, item: Mapping[str, Any], path: str) -> Product | None:
    """A minimum of tCO2 reduced a year, and adjustments by band of coal consumption cut."""
    minimum = c.within(
        c.decimal(c.get(item, "min_annual_tco2_reduced", path), f"{path}.min_annual_tco2_reduced"),
        f"{path}.min_annual_tco2_reduced",
        Decimal(0),
        MAX_TCO2,
        " tCO2",
    )
    bands = c.each(c.get(item, "bands", path), f"{path}.bands", lambda b, bp: _band(c, b, bp))
    mins = [b.min_reduction_pct for b in bands]
    if mins != sorted(set(mins), reverse=True):
        c.problem(f"{path}.bands", "min_reduction_pct must be strictly decreasing")
    if minimum is None:
        return None
    return dataclasses.replace(named, min_annual_tco2_reduced=minimum, bands=tuple(bands))


def _band(c: Checker, b: Any, bp_path: str) -> TransitionBand | None:
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


def _int_keys(c: Checker, table: Any, path: str, allowed: range) -> dict[int, Decimal]:
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
