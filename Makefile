# The project's commands. `make run` and `make test` install what they need first.
SHELL := /bin/bash
UV_VERSION := 0.13.8
PYTHON ?= python3.11
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
SYNCED := $(VENV)/.synced
PROJECT_FILES := uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
TEST_PATHS := libs services tests
SOURCE_PACKAGES := -p dsw_kit -p dsw_contracts -p dsw_xdm -p dsw_recipe -p dsw -p dsw_catalog -p dsw_recipes \
	-p dsw_training -p dsw_scoring -p dsw_serving -p dsw_console

.PHONY: install browser loadgen mlflow-tool s3-tool run test test-integration test-all lint format \
	typecheck check bench clean-data

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(SYNCED): $(UV) $(PROJECT_FILES)
	$(UV) sync --locked --all-packages --compile-bytecode --python $(PYTHON)
	@# PYTHONDONTWRITEBYTECODE may be set: compile the workspace's own sources too, or every
	@# command pays for compiling them (the dsw CLI twice as slow).
	$(BIN)/python -m compileall -q libs/*/src services/*/src
	@touch $@

## install: create .venv from the lock file (every package editable)
install: $(SYNCED)

## run: start the embedded platform (broker, five services, console, MLflow UI), run the demo, keep it up until Ctrl-C
run: install mlflow-tool
	$(BIN)/dsw up --demo

## browser: Debian's Chromium for the console's browser tests (installed once, needs root)
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
browser: $(CHROMIUM)

## loadgen: Debian's wrk, the HTTP load generator of the serving benchmark and load test (needs root)
WRK := /usr/bin/wrk
$(WRK):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
loadgen: $(WRK)

## mlflow-tool: the MLflow server (UI and tracking) in .tools/mlflow, the same locked set as compose's
## MLflow image (full MLflow pins an older pyarrow than the platform, so it has its own environment)
MLFLOW_TOOL := $(TOOLS)/mlflow/.installed
$(MLFLOW_TOOL): $(UV) deploy/compose/mlflow/requirements.txt
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(TOOLS)/mlflow
	$(UV) pip sync --quiet --python $(TOOLS)/mlflow/bin/python --require-hashes --only-binary=:all: \
		deploy/compose/mlflow/requirements.txt
	@touch $@
mlflow-tool: $(MLFLOW_TOOL)

## s3-tool: moto's S3-compatible server in .tools/s3, for the topology tests
S3_TOOL := $(TOOLS)/s3/.installed
$(S3_TOOL): $(UV) tests/deploy/tools/s3-requirements.txt
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(TOOLS)/s3
	$(UV) pip sync --quiet --python $(TOOLS)/s3/bin/python --require-hashes --only-binary=:all: \
		tests/deploy/tools/s3-requirements.txt
	@touch $@
s3-tool: $(S3_TOOL)

# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-x -k ingestion"` (CI adds a JUnit report).
PYTEST_ARGS ?=
# The fast tier's tests mostly wait (training processes, polling): three workers on two cores
# overlap the waits. `make test TEST_WORKERS=0` runs them in one process.
TEST_WORKERS ?= 3
# The integration tier's tests wait too (stacks starting, the broker, polls), but each starts many
# processes: two workers.
INTEGRATION_WORKERS ?= 2

## test: the fast tier: every package's unit tests and every service's in-process API tests
##       (no broker, browser, load generator or service process; see docs/testing.md)
test: install
	$(BIN)/pytest $(TEST_PATHS) -m "not integration" -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

## test-integration: the integration tier: real processes, the broker, faults, load, the demo,
##       the browser, fuzzing
test-integration: install browser loadgen mlflow-tool s3-tool
	$(BIN)/pytest $(TEST_PATHS) -m integration -n $(INTEGRATION_WORKERS) --dist loadscope $(PYTEST_ARGS)

## test-all: both tiers, one after the other (the integration tier runs alone: it measures load);
##       the second runs even when the first fails
test-all: install browser loadgen mlflow-tool s3-tool
	@status=0; $(MAKE) --no-print-directory test || status=1; \
	$(MAKE) --no-print-directory test-integration || status=1; exit $$status

## lint: ruff (lint and format check) and the architecture rules
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/check_architecture.py

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## typecheck: mypy strict on every package's source
typecheck: install
	$(BIN)/mypy $(SOURCE_PACKAGES)

check: lint typecheck test-all

## bench: every benchmark (see bench/)
bench: $(patsubst bench/bench_%.py,bench-%,$(wildcard bench/bench_*.py))

bench-%: install
	$(BIN)/python bench/bench_$*.py

## clean-data: forget the embedded platform's data (DSW_HOME, ~/.dsw by default)
clean-data:
	rm -rf "$${DSW_HOME:-$$HOME/.dsw}"
