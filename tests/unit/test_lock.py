"""The committed locks are whole, agree with each other, and are what is installed.

`make install` installs requirements/dev.txt with --require-hashes and --no-deps, and the Docker
image requirements/runtime.txt; these tests hold the files to what those commands rely on.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCKS = REPO / "requirements"
LOCAL = {"ecoloan-pricing-service", "ecoloan-pricing-protos", "ecoloan-pricing-client"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+) \\$")
HASH = re.compile(r"^    --hash=sha256:([0-9a-f]{64})(?: \\)?$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of every pinned package; fails on any line it cannot place."""
    packages: dict[str, tuple[str, frozenset[str]]] = {}
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.lstrip().startswith("#"):
            continue
        if pin := PIN.match(line):
            current = canonical(pin.group(1))
            packages[current] = (pin.group(2), frozenset())
        elif (digest := HASH.match(line)) and current is not None:
            version, hashes = packages[current]
            packages[current] = (version, hashes | {digest.group(1)})
        else:
            pytest.fail(f"{path.name}: unexpected line {line!r}")
    return packages


@pytest.fixture(scope="module")
def runtime() -> dict[str, tuple[str, frozenset[str]]]:
    return read_lock(LOCKS / "runtime.txt")


@pytest.fixture(scope="module")
def dev() -> dict[str, tuple[str, frozenset[str]]]:
    return read_lock(LOCKS / "dev.txt")


def test_every_pin_has_hashes(
    runtime: dict[str, tuple[str, frozenset[str]]], dev: dict[str, tuple[str, frozenset[str]]]
) -> None:
    unhashed = [n for lock in (runtime, dev) for n, (_, h) in lock.items() if not h]
    assert unhashed == []


def test_locks_hold_no_local_distribution_and_no_address() -> None:
    for name in ("runtime.txt", "dev.txt"):
        text = (LOCKS / name).read_text(encoding="utf-8")
        assert "-e " not in text
        assert "://" not in text
        assert "\n#    make lock\n" in text  # the header says how to refresh it


def test_runtime_lock_is_part_of_the_dev_lock(
    runtime: dict[str, tuple[str, frozenset[str]]], dev: dict[str, tuple[str, frozenset[str]]]
) -> None:
    """One version per package whichever way it is installed (make install or the image)."""
    assert {n: dev.get(n) for n in runtime} == runtime


def test_codegen_and_protobuf_pinned_as_the_stubs_need(
    runtime: dict[str, tuple[str, frozenset[str]]], dev: dict[str, tuple[str, frozenset[str]]]
) -> None:
    assert runtime["protobuf"][0] == "7.35.1"
    assert dev["grpcio-tools"][0] == "1.85.1"
    assert dev["mypy-protobuf"][0] == "5.1.0"
    assert "setuptools" in runtime  # builds the local distributions with --no-build-isolation


def test_every_declared_dependency_is_locked(
    runtime: dict[str, tuple[str, frozenset[str]]], dev: dict[str, tuple[str, frozenset[str]]]
) -> None:
    def names(pyproject: Path, *extras: str) -> set[str]:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        deps = list(project["dependencies"])
        for extra in extras:
            deps += project["optional-dependencies"][extra]
        return {canonical(re.split(r"[\s\[<>=!~;(]", d, maxsplit=1)[0]) for d in deps} - LOCAL

    runtime_deps = names(REPO / "pyproject.toml")
    runtime_deps |= names(REPO / "protos" / "pyproject.toml")
    runtime_deps |= names(REPO / "clients" / "python" / "pyproject.toml")
    assert runtime_deps - set(runtime) == set()
    assert names(REPO / "pyproject.toml", "dev", "parquet") - set(dev) == set()


def test_installed_environment_is_exactly_the_dev_lock(
    dev: dict[str, tuple[str, frozenset[str]]],
) -> None:
    """What `make install` made: the locked versions, the three local distributions, no more."""
    installed = {
        canonical(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if d.metadata["Name"] is not None
    }
    local = {n: installed.pop(n, None) for n in LOCAL}
    assert local == dict.fromkeys(LOCAL, "0.1.0")
    assert installed == {n: version for n, (version, _) in dev.items()}
