#!/usr/bin/env bash
# Build a local stand-in for the official `python:3.11-slim` image, with no Docker engine and no
# container registry: debootstrap a Debian bookworm root file system (bookworm's python3 is 3.11),
# make its python/pip behave like the official image's, and commit it into buildah's vfs storage as
# `docker.io/library/python:3.11-slim` (and `localhost/python:3.11-slim`).
#
# Cached: if the image is already in the store, nothing is done (FORCE=1 rebuilds it).
# Used by scripts/docker_check.sh; runnable on its own. Needs root, debootstrap and buildah.
#
# Environment:
#   DOCKER_BUILD_DIR  scratch directory (default: <repo>/docker-build, git-ignored)
#   DEBIAN_MIRROR     mirror for debootstrap (default: the first deb.debian.org-style URI in apt's
#                     sources, else http://deb.debian.org/debian)
#   FORCE=1           rebuild the base image even if it exists
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER_BUILD_DIR="${DOCKER_BUILD_DIR:-$REPO_ROOT/docker-build}"
BASE_IMAGE="docker.io/library/python:3.11-slim"
BASE_ALIAS="localhost/python:3.11-slim"
SUITE="bookworm"
ROOTFS="$DOCKER_BUILD_DIR/rootfs-$SUITE"
BUILDAH=(buildah --root "$DOCKER_BUILD_DIR/storage" --runroot "$DOCKER_BUILD_DIR/runroot"
         --storage-driver vfs)
export STORAGE_DRIVER=vfs

log() { printf '[docker-base] %s\n' "$*" >&2; }
die() { printf '[docker-base] ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$(id -u)" == 0 ]] || die "must run as root (debootstrap and buildah's vfs storage need it)"
command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install -y debootstrap)"
command -v buildah >/dev/null || die "buildah not installed (apt-get install -y buildah)"

if [[ "${FORCE:-0}" != 1 ]] && "${BUILDAH[@]}" inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base image $BASE_IMAGE already in $DOCKER_BUILD_DIR/storage (FORCE=1 to rebuild)"
    exit 0
fi

mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    mirror="$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
        2>/dev/null | head -n1 | awk '{print $2}')" || true
    mirror="${mirror:-http://deb.debian.org/debian}"
fi

mkdir -p "$DOCKER_BUILD_DIR"
# debootstrap leaves a half-made tree behind when it fails; a finished one has this marker.
if [[ ! -f "$ROOTFS/.debootstrap-complete" || "${FORCE:-0}" == 1 ]]; then
    rm -rf "$ROOTFS"
    log "debootstrap $SUITE from $mirror into $ROOTFS (a few minutes)"
    # minbase + the interpreter, venv support (ensurepip's wheels) and the pip command, as the
    # official image has them. Recommends are not installed, so no compiler comes in.
    timeout 1200 debootstrap --variant=minbase --components=main \
        --include=python3,python3-venv,python3-pip,ca-certificates \
        "$SUITE" "$ROOTFS" "$mirror" >"$DOCKER_BUILD_DIR/debootstrap.log" 2>&1 \
        || { tail -n 30 "$DOCKER_BUILD_DIR/debootstrap.log" >&2; die "debootstrap failed (log: $DOCKER_BUILD_DIR/debootstrap.log)"; }

    log "making python/pip behave as in the official image"
    # The official image's `python` and `pip` are on PATH, and `pip install` into the system
    # interpreter works. Debian marks its interpreter EXTERNALLY-MANAGED (PEP 668), which would make
    # a plain `pip install` fail here but not on the real image; remove the marker so both agree.
    # (The project's Dockerfile installs into its own venv anyway, so it works with either.)
    rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED
    ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
    ln -sf /usr/bin/pip3 "$ROOTFS/usr/local/bin/pip"
    ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python3"
    # Slim: no package caches, lists, docs or man pages (as the official slim image).
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
        "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
        "$ROOTFS"/var/log/*.log "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/root/.cache
    find "$ROOTFS/usr/lib/python3" "$ROOTFS"/usr/lib/python3.* -name __pycache__ -prune \
        -exec rm -rf {} + 2>/dev/null || true
    "$ROOTFS/usr/bin/python3" --version >/dev/null 2>&1 || true
    touch "$ROOTFS/.debootstrap-complete"
fi
chroot "$ROOTFS" /usr/bin/python3 -c 'import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 11), sys.version' \
    || die "python 3.11 with venv/ensurepip not usable in $ROOTFS"

log "committing $ROOTFS as $BASE_IMAGE into buildah vfs storage"
"${BUILDAH[@]}" rmi -f "$BASE_IMAGE" "$BASE_ALIAS" >/dev/null 2>&1 || true
ctr="$("${BUILDAH[@]}" from --pull=never scratch)"
cleanup() { "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
mnt="$("${BUILDAH[@]}" mount "$ctr")"
# Device nodes, /proc and /sys contents and the marker stay out of the image; the runtime provides them.
tar -C "$ROOTFS" --numeric-owner --xattrs \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./run/*' \
    --exclude='./tmp/*' --exclude='./.debootstrap-complete' -cf - . \
    | tar -C "$mnt" --numeric-owner --xattrs -xpf -
"${BUILDAH[@]}" umount "$ctr" >/dev/null
"${BUILDAH[@]}" config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --env PYTHON_VERSION="$(chroot "$ROOTFS" /usr/bin/python3 -c 'import platform; print(platform.python_version())')" \
    --cmd python3 \
    --label org.opencontainers.image.description="local stand-in for python:3.11-slim (debootstrap $SUITE)" \
    "$ctr"
"${BUILDAH[@]}" commit --quiet --format docker "$ctr" "$BASE_IMAGE" >/dev/null
"${BUILDAH[@]}" tag "$BASE_IMAGE" "$BASE_ALIAS"
log "base image ready: $("${BUILDAH[@]}" images --noheading --format '{{.Name}}:{{.Tag}} {{.Size}}' "$BASE_IMAGE" | head -n1)"
