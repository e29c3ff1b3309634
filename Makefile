# One place for commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
CLUSTER_DIR ?= .cluster
# Patroni for the HA lab: a venv of its own on Debian's python3, outside the checkout, so the
# `postgres` OS user it runs as can always read it. service/cluster/patroni.py looks here.
PATRONI_VERSION := 4.1.5
PATRONI_VENV := /opt/switchyard/patroni-$(PATRONI_VERSION)
MODE ?= direct            # direct | pgbouncer: how `make run` reaches the nodes
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help bootstrap system-deps patroni venv cluster-up cluster-down migrate run topology-check \
        test test-unit check fuzz bench mutants clean docker-deps docker-up docker-down images \
        compose-test test-containers

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# The lab starts its own servers on free ports. Debian's packages enable services (etcd's on
# 2379/2380) that must not run: disabled on every run, since a reboot would start them again.
system-deps: ## install PostgreSQL 15, PgBouncer, wrk, etcd (Debian) and Patroni (PyPI) when missing
	@missing=""; \
	[ -x /usr/lib/postgresql/15/bin/initdb ] || missing="$$missing postgresql-15"; \
	command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing="$$missing pgbouncer"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	[ -x /usr/bin/etcd ] || missing="$$missing etcd-server"; \
	[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ "$$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi; \
	for s in postgresql pgbouncer etcd; do $$SUDO systemctl disable --now $$s >/dev/null 2>&1 || true; done
	@$(MAKE) --no-print-directory patroni

patroni: ## Patroni (pinned, etcd3 + psycopg3) in its own venv under /opt/switchyard
	@if [ "$$($(PATRONI_VENV)/bin/patroni --version 2>/dev/null)" != "patroni $(PATRONI_VERSION)" ]; then \
	  echo "installing Patroni $(PATRONI_VERSION) into $(PATRONI_VENV)"; \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO rm -rf $(PATRONI_VENV) && \
	  $$SUDO /usr/bin/python3 -m venv $(PATRONI_VENV) && \
	  $$SUDO $(PATRONI_VENV)/bin/pip install -q 'patroni[etcd3,psycopg3]==$(PATRONI_VERSION)' 'psycopg[binary]'; \
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
	  { $(BIN)/switchyard check || true; } && \
	  $(BIN)/switchyard run --host $(HOST) --port $(PORT)

topology-check: cluster-up ## `switchyard check` on the local topology: what is wrong with it (MODE=pgbouncer too)
	set -a && source $(CLUSTER_DIR)/env$(if $(filter pgbouncer,$(strip $(MODE))),.pgbouncer,) && set +a && \
	  $(BIN)/switchyard check

test: bootstrap ## the whole suite: unit, the wheel install, then integration in direct and in pgbouncer mode
	$(BIN)/pytest tests/unit tests/packaging -q
	SWITCHYARD_TEST_MODE=direct $(BIN)/pytest tests/integration -q
	SWITCHYARD_TEST_MODE=pgbouncer $(BIN)/pytest tests/integration -q

fuzz: bootstrap ## schemathesis against the service, longer than CI runs it (both modes)
	SWITCHYARD_FUZZ_EXAMPLES=$${EXAMPLES:-50} SWITCHYARD_TEST_MODE=direct $(BIN)/pytest tests/integration/contract -q
	SWITCHYARD_FUZZ_EXAMPLES=$${EXAMPLES:-50} SWITCHYARD_TEST_MODE=pgbouncer $(BIN)/pytest tests/integration/contract -q

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

mutants: bootstrap ## break the core on purpose: the 7 named breaks must be caught; mutmut score of tests/unit
	$(PY) bench/mutants.py $(MUTANTS_ARGS)

clean: ## remove the virtualenv and the local topology's data
	-$(BIN)/switchyard cluster --dir $(CLUSTER_DIR) down --destroy
	rm -rf $(VENV)
