# eduwh: `make run` installs and runs the main job; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/data/dagster

.PHONY: install run test test-tools dev bench clean

# Re-install only when the dependency declarations change. Twice quiet: pip and the build
# backend print only errors.
$(BIN)/eduwh: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet -c constraints.txt -e ".[test]"
	touch $(BIN)/eduwh

# The dbt manifest is parsed once here, never at code-location load.
eduwh_dbt/target/manifest.json: $(BIN)/eduwh $(shell find eduwh_dbt -name '*.sql' -o -name '*.yml' -o -name '*.csv' 2>/dev/null | grep -v /target/)
	EDUWH_WAREHOUSE=$${EDUWH_WAREHOUSE:-$(CURDIR)/data/warehouse.duckdb} $(BIN)/dbt parse --quiet --project-dir $(CURDIR)/eduwh_dbt --profiles-dir $(CURDIR)/eduwh_dbt
	touch $@

install: $(BIN)/eduwh eduwh_dbt/target/manifest.json

run: install
	$(BIN)/eduwh run

test-tools:
	bash scripts/install-test-tools.sh

test: install test-tools
	$(BIN)/python -m pytest

dev: install
	mkdir -p $(DAGSTER_HOME) && cp -n dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf data eduwh_dbt/target eduwh_dbt/logs test-artifacts
