"""The public names of the Python client and the notebook API are what the README says they are."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def documented_names(module: str) -> list[str]:
    """The names listed after "Public names of `module`" up to the paragraph's end."""
    found = re.search(
        rf"^Public names of `{re.escape(module)}`[^:]*:\s(.*?)\n\n", README, re.S | re.M
    )
    assert found is not None, f"README lists no public names of {module}"
    return re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", found.group(1))


def imported_in_readme(module: str) -> set[str]:
    """Every name the README's code imports from the module (single-line and parenthesised)."""
    names: set[str] = set()
    prefix = rf"^\s*from {re.escape(module)} import "
    for group in re.findall(prefix + r"\(([^)]*)\)", README, re.M):
        names |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", group))
    for line in re.findall(prefix + r"([^(\n]+)$", README, re.M):
        names |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line))
    return names


@pytest.mark.parametrize("module", ["ecoloan_client", "pricing_service.simulate"])
def test_all_is_what_the_readme_lists(module: str) -> None:
    public = importlib.import_module(module).__all__
    assert documented_names(module) == sorted(public)
    assert len(set(public)) == len(public)


@pytest.mark.parametrize("module", ["ecoloan_client", "pricing_service.simulate"])
def test_readme_imports_only_public_names(module: str) -> None:
    imported = imported_in_readme(module)
    assert imported  # the README shows the module in use
    assert imported - set(importlib.import_module(module).__all__) == set()


@pytest.mark.parametrize("module", ["ecoloan_client", "pricing_service.simulate"])
def test_every_public_name_exists(module: str) -> None:
    loaded = importlib.import_module(module)
    assert [n for n in loaded.__all__ if not hasattr(loaded, n)] == []
