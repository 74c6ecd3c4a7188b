#!/usr/bin/env bash
# Runs the example against a running service: run-example.sh [--target host:port] [...]
# (run-example.sh --help lists the options). Build first with build.sh / `make java-client`.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${BUILD_DIR:-$HERE/build}
JAR="$BUILD_DIR/ecoloan-pricing-client.jar"
[ -f "$JAR" ] || { echo "run-example.sh: no $JAR; run 'make java-client' first" >&2; exit 1; }
CLASSPATH_JARS=$("$HERE/classpath.sh")
# build/native holds OpenSSL for TLS (see build.sh); absent, the example runs plaintext only.
exec java -Djava.library.path="$BUILD_DIR/native" -cp "$JAR:$CLASSPATH_JARS" \
  cn.ecoloan.pricing.example.QuoteExample "$@"
