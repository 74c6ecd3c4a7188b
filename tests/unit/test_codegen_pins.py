"""scripts/check_codegen.py: the drift check compares like with like, or says why not."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def codegen() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_codegen", REPO / "scripts/check_codegen.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COMMITTED = {
    "grpcio-tools": "1.85.1",
    "protobuf": "7.35.1",
    "mypy-protobuf": "5.1.0",
    "grpcio-tools (pyproject pin)": "1.85.1",
}


def test_committed_stubs_name_their_generators(codegen: ModuleType) -> None:
    assert codegen.committed_versions() == COMMITTED


def test_installed_generators_are_the_committed_ones(codegen: ModuleType) -> None:
    installed = {
        n: codegen.installed_version(n) for n in ("grpcio-tools", "protobuf", "mypy-protobuf")
    }
    assert codegen.problems(codegen.committed_versions(), installed) == []


def test_a_newer_grpcio_tools_is_refused_with_the_fix(codegen: ModuleType) -> None:
    installed = {"grpcio-tools": "1.85.4", "protobuf": "7.35.1", "mypy-protobuf": "5.1.0"}
    assert codegen.problems(COMMITTED, installed) == [
        "installed grpcio-tools 1.85.4 differs from 1.85.1, the version the committed stubs were "
        "generated with: 'make install' installs the lock"
    ]


def test_a_pin_that_disagrees_with_the_stubs_is_refused(codegen: ModuleType) -> None:
    committed = COMMITTED | {"grpcio-tools (pyproject pin)": "1.86.0"}
    installed = {"grpcio-tools": "1.85.1", "protobuf": "7.35.1", "mypy-protobuf": "5.1.0"}
    assert codegen.problems(committed, installed) == [
        "pyproject.toml pins grpcio-tools==1.86.0 but the committed stubs were generated with "
        "1.85.1: regenerate ('make protos') or fix the pin"
    ]


def test_stubs_without_a_version_header_are_refused(codegen: ModuleType, tmp_path: Path) -> None:
    stubs = tmp_path / "protos/ecoloan/pricing/v1"
    shutil.copytree(REPO / "protos/ecoloan/pricing/v1", stubs)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    grpc_py = stubs / "pricing_service_pb2_grpc.py"
    grpc_py.write_text(grpc_py.read_text().replace("GRPC_GENERATED_VERSION", "X"))
    with pytest.raises(SystemExit, match="carry no version header"):
        codegen.committed_versions(tmp_path)
