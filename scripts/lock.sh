#!/usr/bin/env bash
# `make lock`: re-resolve requirements/*.in into the hashed locks requirements/*.txt on purpose.
# `make install` and the Docker image install exactly these files, so a fresh clone today and in
# a year gets the same versions; run this only to move them (then review the diff and commit).
#
# pip-compile (pip-tools) with --generate-hashes: every package pinned with the hashes of every
# file of its release; pip, setuptools included (--allow-unsafe). The local distributions are
# stripped from the output (they are installed from source, and pip cannot hash a directory).
# The runtime lock is resolved first; the dev lock is constrained by it, so the two agree.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export CUSTOM_COMPILE_COMMAND="make lock"

compile() {  # compile IN OUT [pip-compile flags...]
    local in=$1 out=$2; shift 2
    "$PY" -m piptools compile --quiet --generate-hashes --allow-unsafe --strip-extras \
        --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
        --output-file "$out" "$@" "$in" \
        2> >(grep -v 'may be rejected by pip install' >&2)  # about the editables, stripped below
    # Drop each local editable: its "pip will require a hash" warning, the -e line and its "# via".
    "$PY" - "$out" <<'PYEOF'
import re, sys
path = sys.argv[1]
kept, skipping = [], False
for line in open(path, encoding="utf-8").read().splitlines():
    if line.startswith(("# WARNING: pip install will require", "# Consider using a hashable URL")):
        continue
    if line.startswith("-e "):
        skipping = True
        continue
    if skipping and line.startswith("    #"):
        continue
    skipping = False
    kept.append(line)
open(path, "w", encoding="utf-8").write("\n".join(kept) + "\n")
PYEOF
}

compile requirements/runtime.in requirements/runtime.txt "$@"
compile requirements/dev.in requirements/dev.txt "$@"
echo "lock: requirements/runtime.txt ($(grep -c '==' requirements/runtime.txt) packages)," \
     "requirements/dev.txt ($(grep -c '==' requirements/dev.txt) packages)"
