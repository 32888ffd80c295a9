# One command per habit. `make demo` runs the main job, `make test` runs every check.
VENV ?= .venv
PY := $(VENV)/bin/python
UPTAKE := $(VENV)/bin/uptake
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
SPARK_STAMP := $(VENV)/.installed-spark
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-spark lint typecheck pytest bench bench-parts chromium java spark install dev clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(STAMP)

$(SPARK_STAMP): pyproject.toml $(DEV_STAMP)
	$(PY) -m pip install -q -e '.[dev,spark]'
	touch $@

install: $(STAMP)          ## runtime dependencies into .venv
dev: $(DEV_STAMP)          ## runtime + test, lint and type-check tools
spark: $(SPARK_STAMP) java ## the Spark engine's extra (pyspark, sqlglot) and Java 17

chromium:                  ## Debian's Chromium, for static export (kaleido) and browser tests
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q chromium chromium-driver; }

java:                      ## Debian's Java 17 runtime, for the Spark engine (skipped when java is found)
	@command -v java >/dev/null 2>&1 || [ -x "$$JAVA_HOME/bin/java" ] || { \
		$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q openjdk-17-jre-headless; }

demo: install chromium     ## simulate both launches at full scale, run the ETL, serve the dashboard
	$(UPTAKE) demo

lint: dev                  ## ruff check, ruff format --check, and the import contracts (lint-imports)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: dev             ## mypy (strict on etl/ and dashboard/figures/)
	$(VENV)/bin/mypy

pytest: dev chromium       ## the default test run (PYTEST_ARGS="-m slow" for full scale)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck pytest ## lint, type checks and the default test run

test-spark: spark          ## the Spark engine's equality tests (pytest -m spark, local[2], a few minutes)
	UPTAKE_REQUIRE_SPARK=1 $(VENV)/bin/pytest -m spark $(PYTEST_ARGS)

bench: dev                 ## side by side at full scale (floor, Uptake, pandas, polars); writes benchmarks/RESULTS.md
	$(PY) benchmarks/run.py --results benchmarks/RESULTS.md

bench-parts: dev spark     ## every single-part benchmark (ingest, refresh, fits, simulate, export, spark, ...)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .grimp_cache
