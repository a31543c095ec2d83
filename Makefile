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

.PHONY: install browser loadgen mlflow-tool s3-tool run test test-fast lint format typecheck check bench clean-data

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(SYNCED): $(UV) $(PROJECT_FILES)
	$(UV) sync --locked --all-packages --python $(PYTHON)
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

## test: every package's unit tests and the cross-service integration tests
test: install browser loadgen
	$(BIN)/pytest $(TEST_PATHS)

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

check: lint typecheck test

## bench: every benchmark (see bench/)
bench: $(patsubst bench/bench_%.py,bench-%,$(wildcard bench/bench_*.py))

bench-%: install
	$(BIN)/python bench/bench_$*.py

## clean-data: forget the embedded platform's data (.dsw)
clean-data:
	rm -rf .dsw
