# Emissions-linked loan pricing service: gRPC on :50051, audit log under /var/lib/pricing/audit.
#
#   docker build -t ecoloan-pricing:latest .                      # online: wheels from the index
#   docker build --build-arg OFFLINE=1 -t ecoloan-pricing:latest .  # air-gapped: wheels from ./wheelhouse
#
# Both install exactly the committed runtime lock, requirements/runtime.txt (hashes required, no
# resolution): the same versions as `make install`'s dev lock, which is constrained by it.
# OFFLINE=1 installs only from a wheelhouse in the build context (no index is contacted):
#   pip download --only-binary=:all: --require-hashes --no-deps -d wheelhouse -r requirements/runtime.txt
# made on a linux/amd64 (or matching) host with CPython 3.11. WHEELHOUSE names that directory
# relative to the context (default: wheelhouse; `make docker-check` uses docker-build/wheelhouse).
#
# Stages: lock, sources (files only) -> wheels-0 | wheels-1 (online download | offline copy; only
# the one OFFLINE selects is built) -> build (a venv: the locked dependencies first, then the
# project from source without deps) -> runtime (the venv and a non-root user, nothing else). A
# source edit rebuilds only the last layers; the dependency layer is reused while the lock is
# unchanged.

ARG PYTHON_IMAGE=python:3.11-slim
# 0: download wheels from the package index; 1: only the wheelhouse in the build context.
ARG OFFLINE=0

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# --- the build inputs, gathered in file-only stages (cheap layers, exact cache keys) -------------
FROM scratch AS lock
COPY requirements/runtime.txt /requirements.txt

FROM scratch AS sources
COPY pyproject.toml README.md /src/
COPY protos/ /src/protos/
COPY clients/python/ /src/clients/python/
COPY pricing_service/ /src/pricing_service/

# --- wheels, online: the lock's binary wheels, each checked against its hash --------------------
FROM base AS wheels-0
COPY --from=lock /requirements.txt /
RUN python -m pip download --only-binary=:all: --require-hashes --no-deps \
        --dest /wheelhouse -r /requirements.txt

# --- wheels, offline: the wheelhouse shipped in the build context; no index is contacted --------
FROM base AS wheels-1
ARG WHEELHOUSE=wheelhouse
COPY ${WHEELHOUSE}/ /wheelhouse/

# --- build: a venv with the dependencies (cached layer), then the project without deps ----------
# Only the stage that OFFLINE selects is built.
FROM wheels-${OFFLINE} AS build
COPY --from=lock /requirements.txt /
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /wheelhouse --require-hashes --no-deps \
        -r /requirements.txt
COPY --from=sources /src/ /src/
# Built with the venv's own (locked) setuptools, so nothing outside the lock is used. Then drop
# the installers from the venv: the runtime image has no pip/setuptools.
RUN /opt/venv/bin/pip install --no-index --no-deps --no-build-isolation \
        /src/protos /src/clients/python /src \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && /opt/venv/bin/python -c "import pricing_service, ecoloan, ecoloan_client, grpc, scipy" \
 && test -x /opt/venv/bin/pricing-service

# --- runtime: the venv and a non-root user; no compilers, no wheels, no pip, no caches ---------
# Metadata first and the venv last: one large layer, and the rest stays cached across code edits.
FROM base AS runtime
ARG UID=10001
RUN groupadd --gid ${UID} pricing \
 && useradd --uid ${UID} --gid pricing --home-dir /var/lib/pricing --no-create-home \
        --shell /usr/sbin/nologin pricing \
 && install -d -o pricing -g pricing -m 0750 /var/lib/pricing /var/lib/pricing/audit \
 && install -d -o pricing -g pricing -m 0700 /var/lib/pricing/keys \
 && rm -rf /root/.cache /tmp/*
ENV PATH=/opt/venv/bin:$PATH \
    PRICING_LISTEN=0.0.0.0:50051 \
    PRICING_AUDIT_DIR=/var/lib/pricing/audit \
    PRICING_AUDIT_SIGNER_KEY=/var/lib/pricing/keys/audit.skey
WORKDIR /var/lib/pricing
EXPOSE 50051
# Probes the gRPC health service on the port PRICING_LISTEN names (so overriding it keeps working).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD pricing-service healthcheck --target "127.0.0.1:${PRICING_LISTEN##*:}"
# The server drains in-flight calls and exits 0 on SIGTERM.
STOPSIGNAL SIGTERM
CMD ["pricing-service", "serve"]
USER ${UID}:${UID}
COPY --from=build /opt/venv /opt/venv
