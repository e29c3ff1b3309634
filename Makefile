# One place for commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
CLUSTER_DIR ?= .cluster
MODE ?= direct            # direct | pgbouncer: how `make run` reaches the nodes
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help bootstrap system-deps venv cluster-up cluster-down migrate run test test-unit \
        check bench clean docker-deps docker-up docker-down images compose-test test-containers

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

system-deps: ## install PostgreSQL 15, PgBouncer and wrk from Debian's packages when missing
	@missing=""; \
	[ -x /usr/lib/postgresql/15/bin/initdb ] || missing="$$missing postgresql-15"; \
	command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing="$$missing pgbouncer"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	  for s in postgresql pgbouncer; do $$SUDO systemctl disable --now $$s >/dev/null 2>&1 || true; done; \
	fi

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## create the virtualenv with runtime and dev dependencies

bootstrap: system-deps venv ## everything a fresh machine needs

cluster-up: bootstrap ## start the local primary + 2 replicas + PgBouncer (idempotent)
	$(BIN)/switchyard cluster --dir $(CLUSTER_DIR) up

cluster-down: ## stop the local topology (data kept; `switchyard cluster down --destroy` removes it)
	$(BIN)/switchyard cluster --dir $(CLUSTER_DIR) down

migrate: cluster-up ## apply migrations to the local primary (always the direct URL)
	set -a && source $(CLUSTER_DIR)/env && set +a && $(BIN)/switchyard migrate

run: migrate ## serve on $(HOST):$(PORT) against the local topology; MODE=pgbouncer goes through PgBouncer
	set -a && source $(CLUSTER_DIR)/env$(if $(filter pgbouncer,$(strip $(MODE))),.pgbouncer,) && set +a && \
	  $(BIN)/switchyard run --host $(HOST) --port $(PORT)

test: bootstrap ## the whole suite: unit, the wheel install, then integration in direct and in pgbouncer mode
	$(BIN)/pytest tests/unit tests/packaging -q
	SWITCHYARD_TEST_MODE=direct $(BIN)/pytest tests/integration -q
	SWITCHYARD_TEST_MODE=pgbouncer $(BIN)/pytest tests/integration -q

test-unit: venv ## unit tests only (no servers)
	$(BIN)/pytest tests/unit -q

# ---- the container path: a loopback-only engine of our own (images/engine.sh) ----------------
ENGINE := images/engine.sh

docker-deps: ## install dockerd (docker.io), debootstrap and Compose v2 from Debian's packages when missing
	images/bootstrap.sh

docker-up: docker-deps ## start the lab's Docker engine; then: eval "$$(images/engine.sh env)"
	$(ENGINE) start

docker-down: ## stop the lab's Docker engine and revert ip_forward, iptables and bridges
	$(ENGINE) stop

images: docker-deps ## build the local stand-in images and switchyard:local (cached)
	$(ENGINE) run images/build.sh

compose-test: docker-deps venv ## images, then compose.yaml up/smoke test/down -v on the lab's engine
	$(ENGINE) run bash -c 'images/build.sh && $(BIN)/pytest tests/compose -q'

test-containers: docker-deps bootstrap ## the integration suite on testcontainers (through PgBouncer)
	$(ENGINE) run bash -c 'images/build.sh && SWITCHYARD_TOPOLOGY=containers \
	  SWITCHYARD_TEST_MODE=pgbouncer $(BIN)/pytest tests/integration -q'

check: venv ## the gates CI runs before the tests: ruff, ruff format --check, mypy --strict
	$(BIN)/ruff check service tests bench migrations
	$(BIN)/ruff format --check service tests bench migrations
	$(BIN)/mypy

bench: bootstrap ## read-path benchmark: the service against a raw asyncpg reference
	$(PY) bench/read_path.py

clean: ## remove the virtualenv and the local topology's data
	-$(BIN)/switchyard cluster --dir $(CLUSTER_DIR) down --destroy
	rm -rf $(VENV)
