#!/usr/bin/env bash
# Fails when the committed generated code differs from what `make protos` produces.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/protos" && cp -r protos/ecoloan "$tmp/protos/ecoloan"
cp scripts/gen_protos.sh "$tmp/"
mkdir -p "$tmp/scripts" && mv "$tmp/gen_protos.sh" "$tmp/scripts/"
(cd "$tmp" && PYTHON="$OLDPWD/$PY" scripts/gen_protos.sh >/dev/null)
if ! diff -r -x '__pycache__' protos/ecoloan "$tmp/protos/ecoloan"; then
  echo "generated protobuf code drifted: run 'make protos' and commit" >&2
  exit 1
fi
echo "protos: generated code matches"
