# Verbs of the project; each wraps one tool. `make run` and `make test` install first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install protos run test test-fast lint bench docker docker-check clean java-client java-example

install: $(STAMP)

$(STAMP): pyproject.toml protos/pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./protos -e ./clients/python -e '.[dev]'
	touch $(STAMP)

protos: install
	PYTHON=$(PY) scripts/gen_protos.sh

run: install
	$(VENV)/bin/pricing-service serve

test: install
	$(PY) -m pytest tests

lint: install
	PYTHON=$(PY) scripts/check_protos_drift.sh
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy pricing_service clients/python/ecoloan_client

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

bench: install
	$(PY) -m bench.run

docker:
	docker build -t ecoloan-pricing:latest .

docker-check: install
	scripts/docker_check.sh

clean:
	rm -rf $(VENV) build *.egg-info
