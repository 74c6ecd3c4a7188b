"""The document's head: schema, version, effective date, description."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pricing_service.policy.checker import Checker, show

SCHEMA = 1


@dataclass(frozen=True, slots=True)
class Header:
    """The head's fields; None where a field was bad (and a problem recorded)."""

    version: str | None
    effective_from: date | None
    description: str


def build_header(c: Checker, document: Mapping[str, Any]) -> Header:
    """The schema checked, the version, effective date and description read."""
    schema = c.typed(c.get(document, "schema", ""), "schema", int, "an integer")
    if schema is not None and schema != SCHEMA:
        c.problem(
            "schema", f"unsupported schema {show(schema)}; this service reads schema {SCHEMA}"
        )
    version = c.typed(c.get(document, "version", ""), "version", str, "a string")
    if version is not None and not version.strip():
        c.problem("version", "must not be empty")
    effective_from = c.date_(c.get(document, "effective_from", ""), "effective_from")
    description = document.get("description", "")
    if not isinstance(description, str):
        c.problem("description", "must be a string")
        description = ""
    return Header(version, effective_from, description)
