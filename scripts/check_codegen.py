"""Fails when the installed codegen is not the one the committed stubs were generated with.

The drift check regenerates protos/ecoloan and diffs it with the committed files; that comparison
only means something when the generator is the same. The committed files name two of the three
versions themselves (grpcio-tools' GRPC_GENERATED_VERSION, protoc's "Protobuf Python Version");
mypy-protobuf writes none, so its pin in pyproject.toml's dev extras is the record.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def committed_versions(root: Path = ROOT) -> dict[str, str]:
    """The versions the committed generated code and the dev pins say it was made with."""
    stubs = root / "protos" / "ecoloan" / "pricing" / "v1"
    grpc_py = (stubs / "pricing_service_pb2_grpc.py").read_text(encoding="utf-8")
    pb2_py = (stubs / "pricing_service_pb2.py").read_text(encoding="utf-8")
    grpc_tools = re.search(r"^GRPC_GENERATED_VERSION = '([^']+)'", grpc_py, re.M)
    protobuf = re.search(r"^# Protobuf Python Version: (\S+)$", pb2_py, re.M)
    if grpc_tools is None or protobuf is None:
        raise SystemExit("codegen: the committed stubs carry no version header; run 'make protos'")
    dev = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    pins = dict(
        d.split("==", 1) for d in dev["project"]["optional-dependencies"]["dev"] if "==" in d
    )
    return {
        "grpcio-tools": grpc_tools.group(1),
        "protobuf": protobuf.group(1),
        "mypy-protobuf": pins.get("mypy-protobuf", "(not pinned in pyproject.toml)"),
        "grpcio-tools (pyproject pin)": pins.get("grpcio-tools", "(not pinned)"),
    }


def installed_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def problems(committed: dict[str, str], installed: dict[str, str]) -> list[str]:
    """One line per generator whose installed version is not the committed stubs' version."""
    found = []
    pin = committed["grpcio-tools (pyproject pin)"]
    if pin != committed["grpcio-tools"]:
        found.append(
            f"pyproject.toml pins grpcio-tools=={pin} but the committed stubs were generated "
            f"with {committed['grpcio-tools']}: regenerate ('make protos') or fix the pin"
        )
    for name in ("grpcio-tools", "protobuf", "mypy-protobuf"):
        if installed[name] != committed[name]:
            found.append(
                f"installed {name} {installed[name]} differs from {committed[name]}, the version "
                "the committed stubs were generated with: 'make install' installs the lock"
            )
    return found


def main() -> int:
    committed = committed_versions()
    installed = {n: installed_version(n) for n in ("grpcio-tools", "protobuf", "mypy-protobuf")}
    found = problems(committed, installed)
    for line in found:
        print(f"codegen: {line}", file=sys.stderr)
    if not found:
        print(
            "codegen: grpcio-tools {grpcio-tools}, protobuf {protobuf}, mypy-protobuf "
            "{mypy-protobuf} as the committed stubs".format_map(committed)
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
