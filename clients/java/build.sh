#!/usr/bin/env bash
# Builds the Java client from Debian's packages only (no Maven Central):
#   1. Java stubs of protos/ and of google.rpc (status, error_details) with Debian's protoc
#      and grpc-java plugin; the google.rpc .proto files come from the googleapis-common-protos
#      wheel in the Python venv, so both clients decode the very same detail messages;
#   2. javac --release 17 against the jars in /usr/share/java (see classpath.sh);
#   3. one jar, $BUILD_DIR/ecoloan-pricing-client.jar (stubs + client + example);
#   4. for TLS, when libnetty-tcnative-jni is installed, $BUILD_DIR/native/libnetty_tcnative.so
#      (run with -Djava.library.path=$BUILD_DIR/native; run-example.sh does).
# Generated code lives under $BUILD_DIR only and is never committed.
#
# Env: BUILD_DIR (default clients/java/build), PYTHON (default .venv/bin/python),
#      JAVA_SHARE (default /usr/share/java), GRPC_JAVA_PLUGIN (default /usr/bin/grpc_java_plugin).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$HERE/build}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
GRPC_JAVA_PLUGIN=${GRPC_JAVA_PLUGIN:-/usr/bin/grpc_java_plugin}
APT_HINT="apt-get install -y default-jdk-headless protobuf-compiler libprotobuf-dev \
libprotobuf-java protobuf-compiler-grpc-java-plugin libgrpc-java libnetty-java \
libguava-java libperfmark-java libgoogle-gson-java libgeronimo-annotation-1.3-spec-java \
libnetty-tcnative-java libnetty-tcnative-jni"

die() {
  echo "build.sh: $*" >&2
  exit 1
}

for tool in javac jar protoc; do
  command -v "$tool" >/dev/null 2>&1 || die "no $tool on PATH; install: $APT_HINT"
done
[ -x "$GRPC_JAVA_PLUGIN" ] || die "no $GRPC_JAVA_PLUGIN; install: $APT_HINT"
# protoc finds the well-known types (google/protobuf/*.proto) in /usr/include.
[ -f /usr/include/google/protobuf/timestamp.proto ] \
  || die "no /usr/include/google/protobuf/timestamp.proto; install libprotobuf-dev"
CLASSPATH_JARS=$("$HERE/classpath.sh") || die "install: $APT_HINT"

[ -x "$PYTHON" ] || die "no Python at $PYTHON; run 'make install' first"
RPC_ROOT=$("$PYTHON" -c 'import pathlib, google.rpc.status_pb2 as m; print(pathlib.Path(m.__file__).parents[2])') \
  || die "googleapis-common-protos is not installed in $PYTHON's environment; run 'make install'"
for proto in status error_details; do
  [ -f "$RPC_ROOT/google/rpc/$proto.proto" ] \
    || die "$RPC_ROOT/google/rpc/$proto.proto missing (googleapis-common-protos ships it)"
done

rm -rf "$BUILD_DIR/proto" "$BUILD_DIR/generated" "$BUILD_DIR/classes"
mkdir -p "$BUILD_DIR/proto/google/rpc" "$BUILD_DIR/generated" "$BUILD_DIR/classes/generated" \
  "$BUILD_DIR/classes/main"
# Only these two on the include path: site-packages/google also holds protobuf's own copies of
# the well-known types, which must come from the same protobuf release as protoc.
cp "$RPC_ROOT/google/rpc/status.proto" "$RPC_ROOT/google/rpc/error_details.proto" \
  "$BUILD_DIR/proto/google/rpc/"

protoc -I "$ROOT/protos" -I "$BUILD_DIR/proto" \
  --java_out="$BUILD_DIR/generated" \
  --plugin=protoc-gen-grpc-java="$GRPC_JAVA_PLUGIN" \
  --grpc-java_out="$BUILD_DIR/generated" \
  "$ROOT/protos/ecoloan/pricing/v1/pricing_service.proto" \
  google/rpc/status.proto google/rpc/error_details.proto

# javac is a short-lived JVM: the C2 compiler and a parallel GC only cost it warm-up time
# (C1 alone halves the build on 2 cores).
JAVAC=(javac -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC --release 17 -encoding UTF-8)

# Generated code is compiled without lint (its warnings are protoc's to fix); ours with every
# lint as an error, so the code a bank copies compiles cleanly.
mapfile -t generated < <(find "$BUILD_DIR/generated" -name '*.java' | sort)
"${JAVAC[@]}" -nowarn -d "$BUILD_DIR/classes/generated" \
  -cp "$CLASSPATH_JARS" "${generated[@]}"
mapfile -t sources < <(find "$HERE/src/main/java" -name '*.java' | sort)
"${JAVAC[@]}" -Xlint:all -Werror -d "$BUILD_DIR/classes/main" \
  -cp "$BUILD_DIR/classes/generated:$CLASSPATH_JARS" "${sources[@]}"

jar --create --file "$BUILD_DIR/ecoloan-pricing-client.jar" \
  -C "$BUILD_DIR/classes/generated" . -C "$BUILD_DIR/classes/main" .

# Debian's Netty has no JDK ALPN, so TLS goes through OpenSSL (netty-tcnative). Netty loads
# the library as "netty_tcnative" and the library itself refuses to run under any other
# file name, but Debian installs it as libnetty-tcnative.so: a copy under the expected name
# (not a symlink, which the library resolves and refuses) fixes that without touching /usr.
rm -rf "$BUILD_DIR/native"
TCNATIVE_SO=${TCNATIVE_SO:-$(find /usr/lib -maxdepth 3 -path '*/jni/libnetty-tcnative.so' 2>/dev/null | head -n 1 || true)}
if [ -n "$TCNATIVE_SO" ] && [ -f "$TCNATIVE_SO" ]; then
  mkdir -p "$BUILD_DIR/native"
  cp "$TCNATIVE_SO" "$BUILD_DIR/native/libnetty_tcnative.so"
  echo "TLS: OpenSSL via $TCNATIVE_SO"
else
  echo "TLS: unavailable (plaintext only); for TLS install libnetty-tcnative-java libnetty-tcnative-jni"
fi
echo "built $BUILD_DIR/ecoloan-pricing-client.jar"
