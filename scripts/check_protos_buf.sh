#!/usr/bin/env bash
# `make lint`, contract part: buf's STANDARD lint rules and its FILE-level breaking-change check
# on protos/ (config: protos/buf.yaml). buf comes from the npm lock in requirements/npm.
#
# Breaking changes are judged against the contract as of the newest release tag (v*), else as of
# main's previous commit; BUF_AGAINST overrides (any buf input, e.g. '.git#branch=main,subdir=protos').
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=requirements/npm/node_modules/.bin/buf
[[ -x "$BUF" ]] || { echo "buf is not installed: run 'make install' (needs Node.js and npm)" >&2; exit 1; }

"$BUF" lint protos
echo "buf lint: protos/ clean ($("$BUF" --version), STANDARD rules)"

against="${BUF_AGAINST:-}"
if [[ -z "$against" ]]; then
    if ! git rev-parse --git-dir >/dev/null 2>&1; then
        echo "buf breaking: skipped, not a git checkout (set BUF_AGAINST to compare)" >&2
        exit 0
    fi
    if tag="$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null)"; then
        against=".git#tag=$tag,subdir=protos"
    elif git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null; then
        against=".git#ref=HEAD~1,subdir=protos"
    else
        echo "buf breaking: skipped, HEAD has no parent commit (set BUF_AGAINST to compare)" >&2
        exit 0
    fi
fi
"$BUF" breaking protos --against "$against"
echo "buf breaking: no breaking change against $against"
