"""A migration model as a TOML file holds it: a --transitions file, a policy's [simulation]
section, or the shipped default."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from pricing_service.simulate.montecarlo.migration import (
    GradeTransitions,
    MigrationModelError,
    ScoreDrift,
    parse_decimal,
)


def _drift_from_table(table: Mapping[str, Any], problems: list[str]) -> ScoreDrift | None:
    name = table.get("distribution")
    if not isinstance(name, str):
        problems.append('score_drift.distribution: missing (a scipy.stats name, e.g. "norm")')
        return None
    values: dict[str, Decimal] = {}
    for key, raw in table.items():
        if key == "distribution":
            continue
        d = parse_decimal(raw, f"score_drift.{key}", problems)
        if d is not None:
            values[key] = d
    for key in ("loc", "scale"):
        if key not in table:
            problems.append(f"score_drift.{key}: missing")
    if problems:
        return None
    loc, scale = values.pop("loc"), values.pop("scale")
    try:
        return ScoreDrift(name, loc, scale, tuple(sorted(values.items())))
    except MigrationModelError as exc:
        problems.extend(exc.problems)
        return None


def parse_migration(raw: bytes) -> tuple[GradeTransitions, ScoreDrift]:
    """A migration model from TOML: [grade_transition] matrix and [score_drift]."""
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MigrationModelError([f"not valid TOML: {exc}"]) from exc
    return migration_from_document(doc)


def migration_from_document(
    doc: Mapping[str, Any], prefix: str = ""
) -> tuple[GradeTransitions, ScoreDrift]:
    """A migration model from parsed tables: a migration file, or a policy's [simulation]
    section (then `prefix` is "simulation." so that problems name the policy's paths)."""
    problems = [
        f"{prefix}{key}: unknown section; expected grade_transition, score_drift"
        for key in doc
        if key not in ("grade_transition", "score_drift")
    ]
    transitions: GradeTransitions | None = None
    section = doc.get("grade_transition")
    if not isinstance(section, dict) or "matrix" not in section:
        problems.append(f"{prefix}grade_transition.matrix: missing (5 rows of 5 decimal strings)")
    else:
        problems.extend(
            f"{prefix}grade_transition.{key}: unknown key; expected matrix"
            for key in section
            if key != "matrix"
        )
        try:
            transitions = GradeTransitions.from_rows(
                section["matrix"], f"{prefix}grade_transition.matrix"
            )
        except MigrationModelError as exc:
            problems.extend(exc.problems)
    drift: ScoreDrift | None = None
    table = doc.get("score_drift")
    if not isinstance(table, dict):
        problems.append(f"{prefix}score_drift: missing (distribution, loc, scale)")
    else:
        drift = _drift_from_table(table, problems)
    if problems or transitions is None or drift is None:
        raise MigrationModelError([p if p.startswith(prefix) else prefix + p for p in problems])
    return transitions, drift


def load_migration(path: Path) -> tuple[GradeTransitions, ScoreDrift]:
    """A migration model from a TOML file (`--transitions FILE`)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MigrationModelError([f"{path}: {exc.strerror or exc}"]) from exc
    try:
        return parse_migration(raw)
    except MigrationModelError as exc:
        raise MigrationModelError([f"{path}: {p}" for p in exc.problems]) from exc


def default_migration_bytes() -> bytes:
    """The shipped default migration model (synthetic, [unconfirmed])."""
    return (resources.files("pricing_service.simulate") / "default_transitions.toml").read_bytes()


def default_migration() -> tuple[GradeTransitions, ScoreDrift]:
    """The shipped default migration model, parsed."""
    return parse_migration(default_migration_bytes())
