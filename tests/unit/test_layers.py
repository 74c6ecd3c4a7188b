"""The layering contract: imports run only downward, and no module imports itself back.

entry points (cli, bootstrap) -> adapters (api) -> use cases (quoting, simulate) -> the audit log
(audit) -> policy documents (policy) -> the pricing domain (domain). A module may import
its own package and anything below it, never above: the audit log never learns of the
transport, the domain never of the log. `make lint` runs this file. Every import
counts, deferred (in a function) and TYPE_CHECKING ones too: they are dependencies all
the same.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pricing_service"

# Lower number, lower layer. Modules of one package may import each other.
RANK = {
    "domain": 0,
    "config": 0,
    "logging": 0,
    "policy": 1,
    "audit": 2,
    "quoting": 3,
    "simulate": 4,
    "api": 5,
    "bootstrap": 6,  # the composition root: wires the layers below into a server
    "cli": 7,
    "__main__": 8,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """The pricing_service modules `path` imports (relative imports resolved)."""
    here = _module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("pricing_service"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            if base.startswith("pricing_service"):
                yield base


def _package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        graph.setdefault(_module_name(path), set()).update(_imports(path))
    return graph


def test_every_package_has_a_layer() -> None:
    packages = {_package_of(m) for m in _graph()} - {""}
    assert packages <= set(RANK), f"give these a layer in RANK: {sorted(packages - set(RANK))}"


def test_imports_run_only_downward() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _package_of(module) and _package_of(target)
        if _package_of(module) != _package_of(target)
        and RANK[_package_of(target)] >= RANK[_package_of(module)]
    )
    assert upward == []


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start through the graph, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_module_imports_itself_back() -> None:
    graph = _graph()
    # A package's __init__ re-exporting its modules is not a cycle of concepts.
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    cycles = [c for m in sorted(edges) if (c := _cycle_from(edges, m)) is not None]
    assert cycles == []


def test_the_contract_sees_a_violation() -> None:
    # The checker itself: an audit module importing the transport would be reported.
    fake = {"pricing_service.audit.x": {"pricing_service.api.convert"}}
    assert RANK[_package_of("pricing_service.api.convert")] > RANK["audit"]
    assert _cycle_from({"a": {"b"}, "b": {"a"}}, "a") == ["a", "b", "a"]
    assert _cycle_from(fake, "pricing_service.audit.x") is None
