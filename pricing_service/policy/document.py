"""Policy documents: parse TOML, validate strictly (every problem listed), digest.

The canonical form of a policy is its parsed document rendered as sorted-key
compact JSON (dates and instants in ISO 8601, decimals as the strings written):
comments and layout do not change the digest, any number does.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from pricing_service.domain.errors import PolicyError
from pricing_service.domain.lpr import FixingTable
from pricing_service.domain.policy import Policy, Product
from pricing_service.domain.rates import percent_to_bp
from pricing_service.policy.checker import INT64_MAX, MAX_DEPTH, Checker, clean_text, problem_text
from pricing_service.policy.sections.base_rate import BaseRate, build_base_rate
from pricing_service.policy.sections.bounds import Bounds, Rounding, build_bounds, build_rounding
from pricing_service.policy.sections.carbon import Carbon, build_carbon
from pricing_service.policy.sections.header import SCHEMA, Header, build_header
from pricing_service.policy.sections.known_keys import check_known_keys
from pricing_service.policy.sections.limits import build_evidence_max_age, build_quote_limits
from pricing_service.policy.sections.products import build_products
from pricing_service.policy.sections.spreads import Spreads, build_spreads

__all__ = [
    "SCHEMA",
    "build_policy",
    "canonical_bytes",
    "digest_of",
    "load_policy_file",
    "parse_document",
]


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


def _shape_problems(document: Any) -> list[str]:
    """Problems the field checks cannot safely meet: nesting, bad text, unrepresentable ints."""
    problems: list[str] = []
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        where = path or "document"
        if isinstance(value, str):
            if not value.isascii() and clean_text(value) != value:
                problems.append(problem_text(where, "not valid Unicode text (lone surrogate)"))
        elif isinstance(value, _LongInteger) or (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not -INT64_MAX - 1 <= value <= INT64_MAX
        ):
            problems.append(problem_text(where, "integer out of the 64-bit range"))
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                problems.append(
                    problem_text(where, f"nested too deeply (more than {MAX_DEPTH} levels)")
                )
                continue
            if isinstance(value, _JsonObject):
                problems.extend(
                    problem_text(f"{path}.{key}".lstrip("."), "duplicate key")
                    for key in value.duplicates
                )
            items: list[tuple[Any, str]] = []
            if isinstance(value, dict):
                for key, item in value.items():
                    key_path = f"{path}.{key}".lstrip(".") if isinstance(key, str) else path
                    if isinstance(key, str) and not key.isascii() and clean_text(key) != key:
                        problems.append(
                            problem_text(key_path, "not valid Unicode text (lone surrogate)")
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


@dataclass(frozen=True, slots=True)
class _Sections:
    """What each section's builder gave."""

    header: Header
    base_rate: BaseRate
    spreads: Spreads
    bounds: Bounds
    rounding: Rounding
    quote: dict[str, int]
    evidence_max_age_days: int | None
    carbon: Carbon
    products: dict[str, Product]


def build_policy(document: Mapping[str, Any]) -> Policy:
    """Validate a parsed document and build the engine's Policy; PolicyError lists all problems."""
    shape = _shape_problems(document)
    if shape:  # a document not from parse_document (calibrate.py builds its own)
        raise PolicyError(shape)
    c = Checker()
    # The problems are listed in the order the sections are read: keep it (tests pin it).
    check_known_keys(c, document)
    header = build_header(c, document)
    base_rate = build_base_rate(c, document)
    spreads = build_spreads(c, document)
    bounds = build_bounds(c, document)
    rounding = build_rounding(c, document, bounds)
    quote = build_quote_limits(c, document)
    max_age = build_evidence_max_age(c, document)
    carbon = build_carbon(c, document)
    products = build_products(c, document)
    if c.problems:
        raise PolicyError(c.problems)
    sections = _Sections(
        header, base_rate, spreads, bounds, rounding, quote, max_age, carbon, products
    )
    return _policy(document, sections)


def _policy(document: Mapping[str, Any], s: _Sections) -> Policy:
    """The Policy of a document whose sections gave no problem."""
    assert s.header.version is not None
    assert s.header.effective_from is not None
    assert s.base_rate.tenor_split_months is not None
    assert s.base_rate.confirmed_through is not None
    assert s.bounds.floor is not None
    assert s.bounds.cap is not None
    assert s.rounding.step_bp is not None
    assert s.rounding.mode is not None
    assert s.rounding.annualised_decimals is not None
    assert s.evidence_max_age_days is not None
    canonical = canonical_bytes(document)
    return Policy(
        version=s.header.version,
        effective_from=s.header.effective_from,
        digest=digest_of(canonical),
        description=s.header.description,
        fixings=FixingTable(s.base_rate.fixings),
        tenor_split_months=s.base_rate.tenor_split_months,
        lpr_confirmed_through=s.base_rate.confirmed_through,
        # The canonical JSON sorts keys, the TOML does not: order every mapping by a rule
        # of its own, so a policy read back from the archive behaves byte for byte the same.
        spreads_bp=dict(sorted(s.spreads.by_rating.items(), key=lambda kv: (kv[1], kv[0]))),
        tenor_spreads=tuple(s.spreads.tenor),
        floor_bp=percent_to_bp(s.bounds.floor),
        cap_bp=percent_to_bp(s.bounds.cap),
        rounding_step_bp=s.rounding.step_bp,
        rounding_mode=s.rounding.mode,
        annualised_decimals=s.rounding.annualised_decimals,
        validity_hours=s.quote["validity_hours"],
        min_term_months=s.quote["min_term_months"],
        max_term_months=s.quote["max_term_months"],
        max_principal_fen=s.quote["max_principal_fen"],
        evidence_max_age_days=s.evidence_max_age_days,
        grade_k_upper=tuple(s.carbon.grade_k_upper),
        level_upper=tuple(s.carbon.level_upper),
        industries=s.carbon.industries,
        products=s.products,
    )


def load_policy_file(path: Path) -> tuple[Policy, bytes]:
    """Load and validate one policy file; returns the policy and its canonical bytes."""
    doc = parse_document(path.read_bytes())
    policy = build_policy(doc)
    return policy, canonical_bytes(doc)
