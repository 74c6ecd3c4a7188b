#!/usr/bin/env bash
# `make docker-check`: prove the Dockerfile builds and its image serves, without a Docker engine.
#
#   1. a local `python:3.11-slim` (Debian bookworm by debootstrap) in buildah's vfs storage, cached
#      (scripts/docker_base_image.sh);
#   2. a wheelhouse of the runtime lock (requirements/runtime.txt, every file checked against its
#      hash) downloaded on this host (CPython 3.11, same platform as the image) into
#      docker-build/wheelhouse, cached by the lock; the three local distributions are built
#      offline from it into docker-build/dist;
#   3. `buildah bud --build-arg OFFLINE=1`: the air-gapped install path (pip --no-index);
#   4. the image's own CMD run with `buildah run --isolation chroot` (host network, so loopback on a
#      free port), a gRPC health check from the host, the image's HEALTHCHECK run inside the
#      container (must pass while serving and fail once stopped), SIGTERM and a clean exit.
#
# Needs root. Installs debootstrap and buildah with apt-get if they are missing.
# Environment:
#   DOCKER_BUILD_DIR  base rootfs + buildah storage (default <repo>/docker-build; /var/tmp/... works)
#   PYTHON            host interpreter with grpcio-health-checking (default <repo>/.venv/bin/python)
#   IMAGE             tag to build (default ecoloan-pricing:check)
#   KEEP_IMAGE=0      remove the image afterwards (default: keep it, and its layer cache)
#   NO_CACHE=1        build without buildah's layer cache
#   PRUNE_ABOVE_GB=20 prune dangling images first when the vfs storage is larger (vfs keeps a full
#                     copy of the file system per layer; pruning also drops the dependency layer
#                     cache, so the next build is a cold one)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER_BUILD_DIR="${DOCKER_BUILD_DIR:-$REPO_ROOT/docker-build}"
# The wheelhouse must sit inside the build context; .dockerignore lets only it through.
WHEELHOUSE_REL="docker-build/wheelhouse"
WHEELHOUSE="$REPO_ROOT/$WHEELHOUSE_REL"
DIST="$REPO_ROOT/docker-build/dist"
PY="${PYTHON:-$REPO_ROOT/.venv/bin/python}"
IMAGE="${IMAGE:-ecoloan-pricing:check}"
BUILDAH=(buildah --root "$DOCKER_BUILD_DIR/storage" --runroot "$DOCKER_BUILD_DIR/runroot"
         --storage-driver vfs)
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot

START=$SECONDS
log() { printf '[docker-check %3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { printf '[docker-check %3ds] FAIL: %s\n' "$((SECONDS - START))" "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# 0. tools
[[ "$(id -u)" == 0 ]] || die "must run as root (debootstrap, chroot and buildah's vfs storage need it)"
if ! command -v debootstrap >/dev/null || ! command -v buildah >/dev/null; then
    log "installing debootstrap and buildah with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 apt-get update -qq >/dev/null || die "apt-get update failed"
    timeout 900 apt-get install -y -qq debootstrap buildah >/dev/null \
        || die "apt-get install debootstrap buildah failed"
fi
[[ -x "$PY" ]] || die "no host python at $PY (run \`make install\`, or set PYTHON)"
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11)' \
    || die "$PY is not CPython 3.11; the wheelhouse must match the image's python"
"$PY" -c 'import grpc, grpc_health.v1' 2>/dev/null \
    || die "$PY lacks grpcio/grpcio-health-checking (run \`make install\`)"
mkdir -p "$DOCKER_BUILD_DIR"
for f in Dockerfile .dockerignore pyproject.toml README.md requirements/runtime.txt protos/pyproject.toml \
         clients/python/pyproject.toml pricing_service/__init__.py; do
    [[ -e "$REPO_ROOT/$f" ]] || die "$f is missing: the Dockerfile needs it in the build context"
done

# ---------------------------------------------------------------------------------------------
# 1. base image
log "step 1/4: base image python:3.11-slim (debootstrap bookworm; reused once built)"
DOCKER_BUILD_DIR="$DOCKER_BUILD_DIR" "$REPO_ROOT/scripts/docker_base_image.sh" \
    || die "could not build the local python:3.11-slim base image"

# ---------------------------------------------------------------------------------------------
# 2. wheelhouse (the runtime lock's wheels), downloaded again when the lock changes
log "step 2/4: wheelhouse in $WHEELHOUSE_REL"
stamp_want="$(sha256sum <"$REPO_ROOT/requirements/runtime.txt" | cut -d' ' -f1) $(uname -m)"
if [[ "$(cat "$WHEELHOUSE/.stamp" 2>/dev/null)" != "$stamp_want" ]]; then
    tmp="$REPO_ROOT/docker-build/wheelhouse.tmp"
    rm -rf "$tmp" && mkdir -p "$tmp"
    # Binary wheels only: the image has no compiler. Exactly the lock, as the online build does.
    timeout 900 "$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
        --require-hashes --no-deps --dest "$tmp" -r "$REPO_ROOT/requirements/runtime.txt" \
        >"$DOCKER_BUILD_DIR/wheelhouse.log" 2>&1 \
        || { tail -n 20 "$DOCKER_BUILD_DIR/wheelhouse.log" >&2; die "pip download failed (log: $DOCKER_BUILD_DIR/wheelhouse.log)"; }
    echo "$stamp_want" >"$tmp/.stamp"
    rm -rf "$WHEELHOUSE" && mv "$tmp" "$WHEELHOUSE"
else
    log "wheelhouse up to date ($(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels)"
fi
# The local distributions, built offline from the wheelhouse alone (proves it is complete).
rm -rf "$DIST" && mkdir -p "$DIST"
timeout 600 "$PY" -m pip wheel --quiet --disable-pip-version-check --no-index \
    --find-links "$WHEELHOUSE" --no-deps --wheel-dir "$DIST" \
    "$REPO_ROOT/protos" "$REPO_ROOT/clients/python" "$REPO_ROOT" >"$DOCKER_BUILD_DIR/dist.log" 2>&1 \
    || { tail -n 20 "$DOCKER_BUILD_DIR/dist.log" >&2; die "building the local wheels offline failed"; }
log "wheelhouse: $(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels; local: $(cd "$DIST" && echo *.whl)"

# ---------------------------------------------------------------------------------------------
# 3. build, offline
log "step 3/4: buildah bud --build-arg OFFLINE=1 -t $IMAGE (log: $DOCKER_BUILD_DIR/build.log)"
if [[ -d "$DOCKER_BUILD_DIR/storage" ]]; then
    used_gb=$(( $(du -sk "$DOCKER_BUILD_DIR/storage" | cut -f1) / 1024 / 1024 ))
    if (( used_gb > ${PRUNE_ABOVE_GB:-20} )); then
        log "buildah storage is ${used_gb} GB (> PRUNE_ABOVE_GB=${PRUNE_ABOVE_GB:-20}): pruning dangling images"
        timeout 900 "${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || log "prune failed; continuing"
    fi
fi
# Containers left by an interrupted earlier check, and (below) any a build leaves behind.
for c in $("${BUILDAH[@]}" containers --noheading --format '{{.ContainerName}}' 2>/dev/null \
           | grep '^ecoloan-docker-check-' || true); do
    "${BUILDAH[@]}" rm "$c" >/dev/null 2>&1 || true
done
before="$("${BUILDAH[@]}" containers --noheading --quiet 2>/dev/null | sort)"
cache_args=(--layers)
if [[ "${NO_CACHE:-0}" == 1 ]]; then cache_args=(--no-cache); fi
if ! timeout 1800 "${BUILDAH[@]}" bud --isolation chroot --pull=never --format docker \
        "${cache_args[@]}" --build-arg OFFLINE=1 --build-arg WHEELHOUSE="$WHEELHOUSE_REL" \
        -f "$REPO_ROOT/Dockerfile" -t "$IMAGE" "$REPO_ROOT" >"$DOCKER_BUILD_DIR/build.log" 2>&1; then
    tail -n 40 "$DOCKER_BUILD_DIR/build.log" >&2
    die "buildah bud failed (full log: $DOCKER_BUILD_DIR/build.log)"
fi
for c in $(comm -13 <(echo "$before") <("${BUILDAH[@]}" containers --noheading --quiet | sort)); do
    "${BUILDAH[@]}" rm "$c" >/dev/null 2>&1 || true
done
grep -iE 'warn|error' "$DOCKER_BUILD_DIR/build.log" | grep -v 'WARNING: Running pip as' >&2 || true

# Static facts of the image config.
cfg="$("${BUILDAH[@]}" inspect --type image "$IMAGE")" || die "cannot inspect $IMAGE"
"$PY" - "$cfg" <<'PYEOF' || die "image configuration is not as required (see above)"
import json, sys
c = json.loads(sys.argv[1])["Docker"]["config"]
env = dict(e.split("=", 1) for e in c.get("Env") or [])
problems = []
def want(ok, what):
    if not ok:
        problems.append(what)
user = (c.get("User") or "").split(":")[0]
want(user not in ("", "0", "root"), f"non-root USER (got {c.get('User')!r})")
want("50051/tcp" in (c.get("ExposedPorts") or {}), "EXPOSE 50051")
want(env.get("PRICING_LISTEN") == "0.0.0.0:50051", "ENV PRICING_LISTEN=0.0.0.0:50051")
want(env.get("PRICING_AUDIT_DIR") == "/var/lib/pricing/audit", "ENV PRICING_AUDIT_DIR")
want(c.get("Cmd") == ["pricing-service", "serve"], f'CMD ["pricing-service","serve"] (got {c.get("Cmd")})')
want(bool((c.get("Healthcheck") or {}).get("Test")), "a HEALTHCHECK")
for p in problems:
    print(f"  missing: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PYEOF
cfg_get() { "$PY" -c 'import json, sys; print(eval(sys.argv[2], {"c": json.loads(sys.argv[1])["Docker"]["config"]}))' "$cfg" "$1"; }
log "image config ok: USER $(cfg_get 'c["User"]'), EXPOSE 50051, HEALTHCHECK, CMD $(cfg_get 'c["Cmd"]')"

# ---------------------------------------------------------------------------------------------
# 4. run it
log "step 4/4: run the image's CMD, health-check it, SIGTERM it"
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
LISTEN="127.0.0.1:$PORT"
RUNLOG="$DOCKER_BUILD_DIR/run.log"
ctr=""
run_pid=""
descendants() {  # pid args... of every process below $1 (from ps: no pid namespace in chroot isolation)
    ps -e -o pid=,ppid=,args= | awk -v root="$1" '
        { pid = $1; parent[pid] = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); args[pid] = $0 }
        END { for (p in parent) { q = parent[p]; while (q > 1 && q != root) q = parent[q];
                                  if (q == root) print p, args[p] } }'
}
cmd_pids() {  # the image CMD's process(es): below `buildah run` and its buildah-chroot-* helpers
    descendants "$1" | awk '$2 !~ /^buildah/ { print $1 }' | while read -r p; do
        q="$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)" || continue
        a="$(tr '\0' ' ' <"/proc/$q/cmdline" 2>/dev/null)" || continue
        [[ "$a" == buildah* ]] && echo "$p"
    done
    return 0
}
cleanup() {
    local rc=$?
    if [[ -n "$run_pid" ]] && kill -0 "$run_pid" 2>/dev/null; then
        # buildah does not pass SIGKILL on, and its chroot helpers outlive it: kill all of them.
        for p in $(descendants "$run_pid" | awk '{print $1}'); do kill -KILL "$p" 2>/dev/null || true; done
        kill -KILL "$run_pid" 2>/dev/null || true
        wait "$run_pid" 2>/dev/null || true
    fi
    [[ -n "$ctr" ]] && { "${BUILDAH[@]}" umount "$ctr" >/dev/null 2>&1 || true;
                         "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true; }
    if [[ "${KEEP_IMAGE:-1}" == 0 ]]; then "${BUILDAH[@]}" rmi -f "$IMAGE" >/dev/null 2>&1 || true; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctr="$("${BUILDAH[@]}" from --pull=never --name "ecoloan-docker-check-$$" "$IMAGE")" \
    || die "buildah from $IMAGE failed"

# The runtime stage is slim: no compiler, no installer, no wheels, no caches.
mnt="$("${BUILDAH[@]}" mount "$ctr")" || die "buildah mount failed"
bad=()
for f in usr/bin/gcc usr/bin/cc usr/bin/x86_64-linux-gnu-gcc usr/bin/g++ usr/bin/make \
         opt/venv/bin/pip wheelhouse src root/.cache var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease; do
    if [[ -e "$mnt/$f" || -L "$mnt/$f" ]]; then bad+=("/$f"); fi
done
[[ -d "$mnt/opt/venv" && -x "$mnt/opt/venv/bin/pricing-service" ]] || bad+=("(missing /opt/venv/bin/pricing-service)")
owner="$(stat -c %u "$mnt/var/lib/pricing/audit" 2>/dev/null || true)"
[[ "$owner" == "$(cfg_get 'c["User"].split(":")[0]')" ]] || bad+=("(/var/lib/pricing/audit owned by uid ${owner:-?}, not the image user)")
"${BUILDAH[@]}" umount "$ctr" >/dev/null
(( ${#bad[@]} == 0 )) || die "runtime image is not slim/complete: ${bad[*]}"
log "runtime contents ok: no compiler, pip, wheelhouse, sources or caches; audit dir owned by uid $owner"
mapfile -t cmd < <(cfg_get '"\n".join(c["Cmd"])')
# HEALTHCHECK as Docker runs it: CMD-SHELL through /bin/sh -c, CMD as an argv.
hc="$(cfg_get '(lambda t: t[1] if t[0] == "CMD-SHELL" else " ".join(__import__("shlex").quote(a) for a in t[1:]))(c["Healthcheck"]["Test"])')"
hc_timeout="$(cfg_get 'max(5, int((c["Healthcheck"].get("Timeout") or 5e9) / 1e9))')"

# The image's user, workdir and env apply (buildah run takes them from the image config); only the
# listen address is moved to a free loopback port, since chroot isolation shares the host network.
log "starting: ${cmd[*]}  (PRICING_LISTEN=$LISTEN, log: $RUNLOG)"
"${BUILDAH[@]}" run --isolation chroot --env PRICING_LISTEN="$LISTEN" "$ctr" -- "${cmd[@]}" \
    >"$RUNLOG" 2>&1 &
run_pid=$!

health_from_host() {
    "$PY" - "$LISTEN" <<'PYEOF'
import sys, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
with grpc.insecure_channel(sys.argv[1]) as ch:
    try:
        r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
    except grpc.RpcError as e:
        print(f"health: {e.code().name}", file=sys.stderr); sys.exit(1)
print(f"health: {health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)}", file=sys.stderr)
sys.exit(0 if r.status == health_pb2.HealthCheckResponse.SERVING else 1)
PYEOF
}

deadline=$((SECONDS + ${START_TIMEOUT:-90}))
until health_from_host 2>/dev/null; do
    if ! kill -0 "$run_pid" 2>/dev/null; then
        wait "$run_pid" && rc=0 || rc=$?
        tail -n 40 "$RUNLOG" >&2
        run_pid=""
        die "the server exited (status $rc) before reporting SERVING"
    fi
    if (( SECONDS > deadline )); then
        tail -n 40 "$RUNLOG" >&2
        die "no SERVING health status on $LISTEN within ${START_TIMEOUT:-90}s"
    fi
    sleep 1
done
log "host gRPC health check on $LISTEN: SERVING"

pids="$(cmd_pids "$run_pid")"
[[ -n "$pids" ]] || die "cannot find the server's process inside the container"
for p in $pids; do
    uid="$(awk '/^Uid:/ {print $2}' "/proc/$p/status")"
    [[ "$uid" != 0 ]] || die "server process $p runs as root inside the container"
done
log "server pid(s) $pids run as uid $uid"

log "image HEALTHCHECK inside the container: $hc"
if ! timeout $((hc_timeout + 30)) "${BUILDAH[@]}" run --isolation chroot --env PRICING_LISTEN="$LISTEN" \
        "$ctr" -- /bin/sh -c "$hc" >"$DOCKER_BUILD_DIR/healthcheck.log" 2>&1; then
    cat "$DOCKER_BUILD_DIR/healthcheck.log" >&2
    die "the image's HEALTHCHECK failed against a serving server"
fi
log "HEALTHCHECK passed"

# The audit directory must be writable by the service user.
if ! timeout 60 "${BUILDAH[@]}" run --isolation chroot "$ctr" -- /bin/sh -c \
        'd="$PRICING_AUDIT_DIR"; test -d "$d" && t="$d/.docker-check.$$" && : >"$t" && rm -f "$t" && id -u' \
        >"$DOCKER_BUILD_DIR/auditdir.log" 2>&1; then
    cat "$DOCKER_BUILD_DIR/auditdir.log" >&2
    die "PRICING_AUDIT_DIR is not writable by the image's user"
fi
log "PRICING_AUDIT_DIR writable by uid $(tail -n1 "$DOCKER_BUILD_DIR/auditdir.log")"

# As `docker stop` does: SIGTERM to the container's main process (the CMD), not to buildah, which
# would answer a signal by killing the process outright.
log "SIGTERM to the server (pid $pids)"
for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
deadline=$((SECONDS + ${STOP_TIMEOUT:-30}))
while kill -0 "$run_pid" 2>/dev/null; do
    if (( SECONDS > deadline )); then
        tail -n 20 "$RUNLOG" >&2
        die "the server did not stop within ${STOP_TIMEOUT:-30}s of SIGTERM"
    fi
    sleep 0.5
done
wait "$run_pid" && rc=0 || rc=$?
run_pid=""
if [[ "$rc" != 0 ]]; then
    tail -n 20 "$RUNLOG" >&2
    die "the server exited with status $rc after SIGTERM (expected 0: a graceful shutdown)"
fi
log "server stopped cleanly (exit 0)"

if timeout $((hc_timeout + 30)) "${BUILDAH[@]}" run --isolation chroot --env PRICING_LISTEN="$LISTEN" \
        "$ctr" -- /bin/sh -c "$hc" >>"$DOCKER_BUILD_DIR/healthcheck.log" 2>&1; then
    die "the image's HEALTHCHECK still passes with the server stopped: it checks nothing"
fi
log "HEALTHCHECK fails once the server is stopped, as it should"

size="$("${BUILDAH[@]}" images --noheading --format '{{.Size}}' "$IMAGE" | head -n1)"
log "OK: $IMAGE ($size) builds offline, serves gRPC health on $LISTEN as a non-root user, passes its HEALTHCHECK, stops on SIGTERM"
