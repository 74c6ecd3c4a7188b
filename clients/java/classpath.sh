#!/usr/bin/env bash
# Prints the runtime class path of the Java client, built only from Debian's jars.
# Each artifact is taken by its unversioned Debian symlink when present, else the
# highest versioned jar, so a point release of a package does not break the build.
# Exits 1 naming the missing jars (and the packages that ship them) if any is absent.
# netty-tcnative (OpenSSL, for TLS) is optional: appended when installed.
set -euo pipefail

JAVA_SHARE=${JAVA_SHARE:-/usr/share/java}

# artifact:package. netty-all.jar in Debian is an empty aggregate, so the separate
# netty jars are listed; geronimo-annotation gives javax.annotation.Generated, which
# the gRPC stubs carry and the JDK dropped after 8.
ARTIFACTS=(
  grpc-api:libgrpc-java
  grpc-core:libgrpc-java
  grpc-netty:libgrpc-java
  grpc-protobuf:libgrpc-java
  grpc-protobuf-lite:libgrpc-java
  grpc-stub:libgrpc-java
  grpc-context:libgrpc-java
  protobuf:libprotobuf-java
  guava:libguava-java
  perfmark-api:libperfmark-java
  jsr305:libjsr305-java
  error_prone_annotations:liberror-prone-java
  gson:libgoogle-gson-java
  opencensus-api:libopencensus-java
  opencensus-contrib-grpc-metrics:libopencensus-java
  geronimo-annotation-1.3-spec:libgeronimo-annotation-1.3-spec-java
  netty-buffer:libnetty-java
  netty-codec:libnetty-java
  netty-codec-http:libnetty-java
  netty-codec-http2:libnetty-java
  netty-common:libnetty-java
  netty-handler:libnetty-java
  netty-resolver:libnetty-java
  netty-transport:libnetty-java
)

jars=()
missing=()
for entry in "${ARTIFACTS[@]}"; do
  name=${entry%%:*}
  jar="$JAVA_SHARE/$name.jar"
  if [ ! -f "$jar" ]; then
    # Versioned names only: "grpc-protobuf-[0-9]*" must not match grpc-protobuf-lite.
    jar=$(find "$JAVA_SHARE" -maxdepth 1 -name "$name-[0-9]*.jar" 2>/dev/null | sort -V | tail -n 1 || true)
  fi
  if [ -n "$jar" ] && [ -f "$jar" ]; then
    jars+=("$jar")
  else
    missing+=("$entry")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "classpath.sh: missing jars in $JAVA_SHARE:" >&2
  for entry in "${missing[@]}"; do
    echo "  ${entry%%:*}.jar (Debian package ${entry#*:})" >&2
  done
  echo "see clients/java/README.md for the apt-get line" >&2
  exit 1
fi

# Debian builds Netty without its JDK ALPN support, and gRPC needs ALPN to speak HTTP/2 over
# TLS; OpenSSL through netty-tcnative provides it (see build.sh for its native library).
if [ -f "$JAVA_SHARE/netty-tcnative.jar" ]; then
  jars+=("$JAVA_SHARE/netty-tcnative.jar")
fi

(IFS=:; echo "${jars[*]}")
