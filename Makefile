# The two commands of the quickstart (`make run`, `make test`) and what CI adds (`make lint`,
# `make schemathesis`, `make clients`).
# Each creates the virtual environment and installs the project first when needed.
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml sdk/pyproject.toml | cksum | cut -d' ' -f1)
PYTHON ?= python3

.PHONY: run test lint schemathesis clients bench services

# The service with its dev extras, and the Python SDK (sdk/, `cloudwallet-client`) its tests use.
$(STAMP): pyproject.toml sdk/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]' -e ./sdk
	rm -f $(VENV)/.installed-* && touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/cloudwallet run

# PostgreSQL, RabbitMQ and Redis for `make run` and `make test`, on a machine with Docker
# (README.md, Quickstart, names the Debian packages for one without).
services:
	docker compose -f docker-compose.services.yml up -d

test: $(STAMP)
	$(VENV)/bin/pytest

# Schemathesis against a live gateway and worker it starts itself (tests/schemathesis/run.py).
schemathesis: $(STAMP)
	$(VENV)/bin/python -m tests.schemathesis.run

# Clients generated from the served document (openapi-python-client, and openapi-typescript
# with npm) against a live gateway and worker it starts itself (tests/clients/run.py).
clients: $(STAMP)
	$(VENV)/bin/python -m tests.clients.run

# The benchmark of docs/performance.md; BENCH_ARGS passes options (python -m bench --help).
bench: $(STAMP)
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy gateway worker shared bench sdk/cloudwallet_client sdk/tools
	$(VENV)/bin/lint-imports
