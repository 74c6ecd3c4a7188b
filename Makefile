# Verbs of the project; each wraps one tool. `make run` and `make test` install first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install protos run test test-fast lint bench docker docker-check clean

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

bench: install
	$(PY) -m bench.run

docker:
	docker build -t ecoloan-pricing:latest .

docker-check: install
	scripts/docker_check.sh

clean:
	rm -rf $(VENV) build *.egg-info
