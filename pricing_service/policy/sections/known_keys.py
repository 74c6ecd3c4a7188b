"""Keys the engine reads, by table: any other key is a problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pricing_service.policy.checker import Checker

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
_PRODUCT_KEYS = frozenset({"kind", "name_zh", "name_en", "reference", "with_spreads"})
_KIND_KEYS = {
    "standard": frozenset(),
    "carbon_account": frozenset({"grade_adjust_bp"}),
    "mine_score": frozenset({"min_score", "anchors", "class_adjust_bp"}),
    "transition": frozenset({"min_annual_tco2_reduced", "bands"}),
}


def check_known_keys(c: Checker, document: Mapping[str, Any]) -> None:
    """A key the engine does not read is a mistake (a typo silently ignored is a wrong price)."""
    _check(c, document, _KNOWN[""], "")
    for name in ("base_rate", "bounds", "rounding", "quote", "evidence", "carbon", "simulation"):
        _check(c, document.get(name), _KNOWN[name], name)
    if "simulation" in document and not isinstance(document["simulation"], dict):
        c.problem("simulation", "must be a table ([simulation.grade_transition], ...)")
    base = document.get("base_rate")
    if isinstance(base, dict):
        _check_each(c, base.get("fixings"), _KNOWN["base_rate.fixings[]"], "base_rate.fixings")
    spreads = document.get("spreads")
    if isinstance(spreads, dict):
        _check_each(c, spreads.get("tenor"), _KNOWN["spreads.tenor[]"], "spreads.tenor")
    carbon = document.get("carbon")
    industries = carbon.get("industries") if isinstance(carbon, dict) else None
    if isinstance(industries, dict):
        for name, table in industries.items():
            _check(c, table, _KNOWN["carbon.industries.*"], f"carbon.industries.{name}")
    products = document.get("products")
    if isinstance(products, dict):
        for pid, table in products.items():
            _check_product(c, pid, table)


def _check(c: Checker, table: Any, allowed: frozenset[str], path: str) -> None:
    if not isinstance(table, dict):
        return
    for key in table:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            c.problem(where, f"unknown key; expected one of {', '.join(sorted(allowed))}")


def _check_each(c: Checker, items: Any, allowed: frozenset[str], path: str) -> None:
    if isinstance(items, list):
        for i, item in enumerate(items):
            _check(c, item, allowed, f"{path}[{i}]")


def _check_product(c: Checker, pid: str, table: Any) -> None:
    kind = table.get("kind") if isinstance(table, dict) else None
    if not isinstance(kind, str) or kind not in _KIND_KEYS:  # a list is unhashable
        return  # the kind itself is reported by the product validator
    _check(c, table, _PRODUCT_KEYS | _KIND_KEYS[kind], f"products.{pid}")
    _check_each(c, table.get("bands"), _KNOWN["products.*.bands[]"], f"products.{pid}.bands")
