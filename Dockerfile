# Emissions-linked loan pricing service: gRPC on :50051, audit log under /var/lib/pricing/audit.
#
#   docker build -t ecoloan-pricing:latest .                      # online: wheels from the index
#   docker build --build-arg OFFLINE=1 -t ecoloan-pricing:latest .  # air-gapped: wheels from ./wheelhouse
#
# OFFLINE=1 installs only from a wheelhouse in the build context (no index is contacted):
#   pip wheel --only-binary=:all: -w wheelhouse ./protos ./clients/python . 'setuptools>=68' wheel
# made on a linux/amd64 (or matching) host with CPython 3.11. WHEELHOUSE names that directory
# relative to the context (default: wheelhouse; `make docker-check` uses docker-build/wheelhouse).
#
# Stages: pyprojects, sources (files only) -> reqs (the dependency list, read from the pyproject
# files alone) -> wheels-0 | wheels-1 (online download | offline copy; only the one OFFLINE selects
# is built) -> build (a venv: dependencies first, then the project from source without deps) ->
# runtime (the venv and a non-root user, nothing else). A source edit rebuilds only the last
# layers; the dependency layer is reused while the pyproject files are unchanged.

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
FROM scratch AS pyprojects
COPY pyproject.toml /src/
COPY protos/pyproject.toml /src/protos/
COPY clients/python/pyproject.toml /src/clients/python/

FROM scratch AS sources
COPY pyproject.toml README.md /src/
COPY protos/ /src/protos/
COPY clients/python/ /src/clients/python/
COPY pricing_service/ /src/pricing_service/

# --- the third-party requirements, read from the three pyproject files and nothing else ---------
FROM base AS reqs
COPY --from=pyprojects /src/ /src/
WORKDIR /src
# Runtime dependencies of the three distributions, minus the two that are built here from source.
RUN python -c "import re, tomllib; \
local = {'ecoloan-pricing-protos', 'ecoloan-pricing-client', 'ecoloan-pricing-service'}; \
name = lambda d: re.split(r'[\s\[<>=!~;(]', d, maxsplit=1)[0].lower().replace('_', '-'); \
deps = {d for p in ('pyproject.toml', 'protos/pyproject.toml', 'clients/python/pyproject.toml') \
        for d in tomllib.load(open(p, 'rb'))['project']['dependencies'] if name(d) not in local}; \
print('\n'.join(sorted(deps)))" > /requirements.txt \
 && printf 'setuptools>=68\nwheel\n' > /build-requirements.txt \
 && cat /requirements.txt

# --- wheels, online: binary wheels only, so no compiler is needed anywhere ----------------------
FROM base AS wheels-0
COPY --from=reqs /requirements.txt /build-requirements.txt /
RUN python -m pip wheel --only-binary=:all: --wheel-dir /wheelhouse \
        -r /requirements.txt -r /build-requirements.txt

# --- wheels, offline: the wheelhouse shipped in the build context; no index is contacted --------
FROM base AS wheels-1
ARG WHEELHOUSE=wheelhouse
COPY ${WHEELHOUSE}/ /wheelhouse/

# --- build: a venv with the dependencies (cached layer), then the project without deps ----------
# Only the stage that OFFLINE selects is built.
FROM wheels-${OFFLINE} AS build
COPY --from=reqs /requirements.txt /
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /wheelhouse -r /requirements.txt
COPY --from=sources /src/ /src/
# --no-index also for the isolated build environments (setuptools comes from the wheelhouse).
# Then drop the installers from the venv: the runtime image has no pip/setuptools.
RUN /opt/venv/bin/pip install --no-index --find-links /wheelhouse --no-deps \
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
 && rm -rf /root/.cache /tmp/*
ENV PATH=/opt/venv/bin:$PATH \
    PRICING_LISTEN=0.0.0.0:50051 \
    PRICING_AUDIT_DIR=/var/lib/pricing/audit
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
