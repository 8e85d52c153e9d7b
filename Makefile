# Laneway developer commands. Every target runs without a terminal (CI=true, no stdin).
# See docs/development.md.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV    ?= .venv
PY      := $(VENV)/bin/python
LANEWAY := $(VENV)/bin/laneway
# The interpreter that creates the virtualenv: python3.11 if there is one (pyproject pins 3.11).
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 || command -v python3)
# Written after a successful install; reinstall only when pyproject.toml changes.
STAMP   := $(VENV)/.laneway-installed

export PIP_NO_INPUT := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHONDONTWRITEBYTECODE := 1

# The local stack (Kafka, PostgreSQL, Redis as local processes) lives in scripts/stack/.
STACK := $(wildcard scripts/stack/__main__.py)

.PHONY: help setup console browser dovecot jaeger go-tools-background lint fmt test chart-scan monitoring-check fuzz up dev-key down status logs bench-core bench-console bench-triggers bench-connectors bench-agencies connector-template chaos clean distclean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv (if missing) and install Laneway with its dev and bench extras

$(STAMP): pyproject.toml
	@test -x $(PY) || { \
	  test -n "$(BOOTSTRAP_PYTHON)" || { echo "setup: no python3.11 or python3 on PATH" >&2; exit 1; }; \
	  echo "setup: creating $(VENV) with $(BOOTSTRAP_PYTHON)"; \
	  "$(BOOTSTRAP_PYTHON)" -m venv $(VENV); }
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $@

console: setup ## Build the browser console into console/dist (npm ci from its lock file, esbuild); only what changed
	$(PY) -m scripts.console build

browser: setup ## Install Debian's Chromium for the console's tests when /usr/bin/chromium is missing
	$(PY) -m scripts.console browser

dovecot: setup ## Install Debian's Dovecot (dovecot-imapd) for the imap-mailbox trigger's tests when it is missing
	$(PY) -m scripts.stack.imap install

jaeger: ## Build Jaeger v2 once from the Go module proxy (pinned, cached in ~/.cache/laneway/tools; make up does it too)
	$(BOOTSTRAP_PYTHON) -m scripts.gotools ensure jaeger

# Building Jaeger takes minutes on a fresh two-core machine: `test` starts it first, in the
# background, so it overlaps the setup, the lint and the console's build; the stack waits for
# it (scripts.gotools builds under a lock, with a deadline: LANEWAY_JAEGER_BUILD_TIMEOUT).
# Only the standard library is needed, so it starts before the virtualenv exists.
go-tools-background:
	@if ! $(BOOTSTRAP_PYTHON) -m scripts.gotools path jaeger helm kube-score >/dev/null 2>&1; then \
	  mkdir -p var; echo "test: building the Go tools in the background (log: var/go-tools-build.log)"; \
	  nohup $(BOOTSTRAP_PYTHON) -m scripts.gotools ensure jaeger helm kube-score >var/go-tools-build.log 2>&1 </dev/null & \
	fi

lint: setup ## ruff and mypy --strict (config in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

fmt: setup ## Format the code with ruff (not run by lint or test)
	$(VENV)/bin/ruff format .

test: go-tools-background setup ## The test command: the Go tools' build started in the background (Jaeger, helm, kube-score), lint, the console's build, every test under tests/ (the console's in Chromium) and the connector template's, then the chart's policy scan
	@$(MAKE) lint
	@$(MAKE) console browser dovecot connector-template
	$(PY) -m pytest -q tests
	$(PY) -m pytest -q examples/connector-template/tests
	@$(MAKE) chart-scan

chart-scan: setup ## The Helm chart (default and production values) through kube-score and checkov, pinned (built or installed once under ~/.cache and var/tools); fails on a finding not in scripts/chart_scan_skips.toml
	$(PY) -m scripts.chart_scan

# Not part of `test`: building promtool (Prometheus' Go module) takes about ten minutes on a
# fresh two-core machine; every test run parses the same rules and queries with promql-parser.
monitoring-check: setup ## promtool (built once from the Go module proxy, pinned) checks the chart's rendered alert rules and every dashboard query; deeper than the tests' PromQL parse
	$(PY) -m scripts.monitoring_check

# The connector SDK's template package (docs/connector-sdk.md), installed into the venv as a
# connector team installs theirs: its entry point is what the test of discovery finds.
CONNECTOR_TEMPLATE_STAMP := $(VENV)/.connector-template-installed

connector-template: $(CONNECTOR_TEMPLATE_STAMP) ## Install examples/connector-template into .venv (editable, no dependencies: Laneway's are there)

$(CONNECTOR_TEMPLATE_STAMP): $(STAMP) examples/connector-template/pyproject.toml
	$(PY) -m pip install --quiet --no-deps -e examples/connector-template
	@touch $@

# Inputs each fuzz test runs in all (the API's over its operations, the BPMN reader's).
FUZZ_EXAMPLES ?= 100000

fuzz: setup ## The long fuzz run: every test marked `fuzz` (the API, the BPMN reader) with FUZZ_EXAMPLES inputs each (default 100,000); hours
	LANEWAY_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -m fuzz --timeout=0 tests

up: setup ## Start the stack, run the examples in process, start every service and the edge (one public URL, nginx), deploy the examples
ifneq ($(STACK),)
	$(PY) -m scripts.stack up
else
	@echo "up: scripts/stack/ is not there; not starting Kafka, PostgreSQL or Redis"
endif
	@examples=$$(find examples -name '*.bpmn' 2>/dev/null | LC_ALL=C sort); \
	if [ -z "$$examples" ]; then echo "up: no examples/**/*.bpmn yet"; exit 0; fi; \
	if ! $(PY) -c 'import laneway.cli' 2>/dev/null; then \
	  echo "up: the laneway command (laneway.cli) is not there yet; not running the examples"; \
	  exit 0; fi; \
	mapfile -t files <<< "$$examples"; \
	$(LANEWAY) validate "$${files[@]}"; echo "== laneway validate: $${#files[@]} examples valid"; \
	for f in "$${files[@]}"; do \
	  args=(); d=$$(dirname "$$f"); [ -f "$$d/run.args" ] && args=("@$$d/run.args"); \
	  echo "== laneway run $$f $${args[*]}"; \
	  $(LANEWAY) run "$$f" "$${args[@]}" > "$$d/.last-run.jsonl"; \
	  echo "   completed: $$(wc -l < "$$d/.last-run.jsonl") events (in $$d/.last-run.jsonl)"; \
	done
	@$(MAKE) console
	$(PY) -m scripts.services up

dev-key: setup ## Create the development signing key once (var/dev/jwt; make up does it too)
	$(PY) -c "from pathlib import Path; from laneway.auth.dev import ensure_dev_key; ensure_dev_key(Path('var/dev/jwt'))"
	@echo "var/dev/jwt/jwks.json: what the services verify with; laneway token signs with signing-key.json"

down: setup ## Stop the edge and the services, then the local stack
	$(PY) -m scripts.services down
ifneq ($(STACK),)
	$(PY) -m scripts.stack down
endif

status: setup ## Show what is running: the local stack, each service and the edge
	@rc=0; \
	$(if $(STACK),$(PY) -m scripts.stack status || rc=$$?;) \
	$(PY) -m scripts.services status || rc=$$?; \
	exit $$rc

logs: setup ## The last lines of each service's log (SERVICE=engine for one; FOLLOW=1 to follow)
	$(PY) -m scripts.services logs $(if $(FOLLOW),-f) $(SERVICE)

bench-console: console browser ## The console's figures: first load (bytes, ms to a usable modeler) and event -> open page during the paced load (benchmarks/console_bench.py)
	$(PY) -m benchmarks.console_bench

bench-triggers: setup ## The triggers' figures: webhook and feed starts/s, item -> instance lag (benchmarks/triggers_bench.py)
	$(PY) -m benchmarks.triggers_bench

bench-connectors: setup ## The connectors' figures: jobs/s of one worker per built-in type against its local server at 0 and 200 ms (benchmarks/connectors.py)
	$(PY) -m benchmarks.connectors $(BENCH_CONNECTORS_ARGS)

bench-agencies: setup ## The agency bridge's figures: messages/s and p99 from one agency's send to the other's correlation (benchmarks/agencies_bench.py)
	$(PY) -m benchmarks.agencies_bench

bench-core: setup ## The engine core benchmark (benchmarks/core)
	$(PY) -m benchmarks.core

.PHONY: bench-restore
bench-restore: setup ## Restore of 100,000 parked instances and RSS per parked instance, next to a raw read of the same state topic (benchmarks/restore_bench.py; BENCH_RESTORE_ARGS="--instances 10000" for a quick run, "--live" adds RSS per instance parked by a running engine)
	$(PY) -m benchmarks.restore_bench $(BENCH_RESTORE_ARGS)

.PHONY: stack-clean-topics
stack-clean-topics: setup ## Delete every Kafka topic that is not the stack's and was not written for 30 minutes (what tests and benchmarks left; CLEAN_TOPICS_ARGS="--dry-run" to list them, "--older-than 0" for every age)
	$(PY) -m scripts.stack clean-topics $(CLEAN_TOPICS_ARGS)

.PHONY: bench-perf
bench-perf: setup ## Issue 16's figures one after the other, each next to its ceiling or peer: the leftover topics deleted first (stack-clean-topics: those not written for 30 minutes), then bench-core, benchmarks.e2e (burst 10,000, 500 starts/s, audit on), restore_bench --live (100,000 parked), visibility_bench (rows visible at 500/s, task completion at 100/s)
	$(PY) -m scripts.stack clean-topics $(CLEAN_TOPICS_ARGS)
	$(PY) -m benchmarks.core
	$(PY) -m benchmarks.e2e $(BENCH_E2E_ARGS)
	$(PY) -m benchmarks.restore_bench --live $(BENCH_RESTORE_ARGS)
	$(PY) -m benchmarks.visibility_bench $(BENCH_VISIBILITY_ARGS)

.PHONY: bench-visibility
bench-visibility: setup ## Event -> audit/worklist row visible at 500 starts/s, and POST complete -> 200 at 100 tasks/s with the engine's share (benchmarks/visibility_bench.py)
	$(PY) -m benchmarks.visibility_bench $(BENCH_VISIBILITY_ARGS)

.PHONY: bench-hop
bench-hop: setup ## The engine's hop beside a raw transactional echo, per stage, at 100 commands/s (benchmarks/hop_bench.py; BENCH_HOP_ARGS)
	$(PY) -m benchmarks.hop_bench $(BENCH_HOP_ARGS)

# Not part of `test`: it takes its own stack and most of an hour at the default N.
chaos: setup ## The chaos run on a stack of its own (docs/chaos.md; CHAOS_INSTANCES, CHAOS_RATE, CHAOS_ARGS)
	$(PY) -m benchmarks.chaos $(CHAOS_ARGS)

clean: ## Remove caches and build output (keeps .venv and the stack's data in var/)
	rm -rf build dist .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -type d -name '*.egg-info' -prune -exec rm -rf {} +
	rm -f $(STAMP)

distclean: clean ## Also remove .venv
	rm -rf $(VENV)
