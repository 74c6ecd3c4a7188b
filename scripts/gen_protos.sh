#!/usr/bin/env bash
# Regenerates the Python code for every .proto under protos/, with typed stubs.
# The -I root is protos/ so the proto package path equals the Python import path.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PATH="$(dirname "$PY"):$PATH"
find protos/ecoloan \( -name '*_pb2*.py' -o -name '*_pb2*.pyi' \) -delete
mapfile -t files < <(find protos/ecoloan -name '*.proto' | sort)
"$PY" -m grpc_tools.protoc -I protos \
  --python_out=protos --mypy_out=protos \
  --grpc_python_out=protos --mypy_grpc_out=protos \
  "${files[@]}"
