# Verbs of the project; each wraps one tool. `make run` and `make test` install first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install lock protos run test test-fast lint bench docker docker-check clean java-client java-example screenshot soak cluster cluster-down

install: $(STAMP)

# Exactly the committed lock (hashes required, nothing resolved), then the three local
# distributions from source on top of it; `pip check` proves the lock satisfies them. (The
# warning silenced is setuptools' generic note on every editable install.)
$(STAMP): requirements/dev.txt pyproject.toml protos/pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements/dev.txt
	PYTHONWARNINGS='ignore:Editable installation' \
		$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
		-e ./protos -e ./clients/python -e .
	$(PY) -m pip check
	touch $(STAMP)

# Refresh the locks on purpose; review the diff, commit. Pins still allowed by the pyproject
# ranges are kept; LOCK_ARGS=--upgrade moves everything, LOCK_ARGS='--upgrade-package numpy' one.
# Only the locked tools are needed (pip-tools), not a consistent install: a dependency just
# added to a pyproject is not in the lock yet, which is why one runs this.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements/dev.txt
	PYTHON=$(PY) scripts/lock.sh $(LOCK_ARGS)

# buf (the contract linter) from the npm lock; only `make lint` needs it, and Node.js with it.
NPM_STAMP := requirements/npm/node_modules/.installed
$(NPM_STAMP): requirements/npm/package.json requirements/npm/package-lock.json
	@command -v npm >/dev/null || { echo "make lint needs Node.js and npm for buf (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --prefix requirements/npm --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

# Generated code from the pinned generators only (check_codegen.py refuses any other).
protos: install
	$(PY) scripts/check_codegen.py
	PYTHON=$(PY) scripts/gen_protos.sh

# Ctrl-C reaches the server alone (its own foreground process group): it drains, exits 0, and so
# does make. See scripts/run_foreground.py.
run: install
	$(PY) scripts/run_foreground.py $(VENV)/bin/pricing-service serve

test: install
	$(PY) -m pytest tests

lint: install $(NPM_STAMP)
	$(PY) scripts/check_codegen.py
	PYTHON=$(PY) scripts/check_protos_drift.sh
	scripts/check_protos_buf.sh
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy pricing_service clients/python/ecoloan_client
	@# pytest puts each test directory on sys.path, so helpers (conftest, *_support) are imported
	@# by bare name; mypy sees each directory the same way, one at a time (--strict from pyproject).
	for d in tests/unit tests/integration tests/e2e; do MYPYPATH=$$d:$(CURDIR) $(VENV)/bin/mypy $$d || exit 1; done
	$(VENV)/bin/mypy bench deploy
	@# The layering contract: imports only downward, no module importing itself back.
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_layers.py

# The Java client (clients/java), from Debian's packages only; see clients/java/README.md.
JAVA_JAR     := clients/java/build/ecoloan-pricing-client.jar
JAVA_SOURCES := $(shell find clients/java/src -name '*.java' 2>/dev/null)
TARGET       ?= 127.0.0.1:50051
# The key `make run` generates; checks the checkpoint signature. PUBLIC_KEY= skips that.
PUBLIC_KEY   ?= $(wildcard var/audit/audit.vkey)

$(JAVA_JAR): $(STAMP) $(JAVA_SOURCES) protos/ecoloan/pricing/v1/pricing_service.proto \
		clients/java/build.sh clients/java/classpath.sh
	PYTHON=$(PY) clients/java/build.sh

java-client: install
	PYTHON=$(PY) clients/java/build.sh

java-example: $(JAVA_JAR)
	clients/java/run-example.sh --target $(TARGET) $(if $(PUBLIC_KEY),--public-key $(PUBLIC_KEY))

# The soak of tests/e2e/test_soak.py for longer (make test runs 60 s of it).
SOAK_SECONDS ?= 600
soak: install
	SOAK_SECONDS=$(SOAK_SECONDS) $(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_soak.py

screenshot: install
	$(PY) scripts/report_screenshot.py

# A real local cluster: PostgreSQL (the one audit log), two replicas, nginx in front
# (deploy/local/cluster.py); prints target=HOST:PORT. cluster-down stops all of it.
CLUSTER_DIR ?= var/cluster
cluster: install
	$(PY) -m deploy.local.cluster up --dir $(CLUSTER_DIR)

cluster-down: install
	$(PY) -m deploy.local.cluster down --dir $(CLUSTER_DIR)

bench: install
	$(PY) -m bench.run

docker:
	docker build -t ecoloan-pricing:latest .

docker-check: install
	scripts/docker_check.sh

clean:
	rm -rf $(VENV) build *.egg-info
