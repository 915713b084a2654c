# make run   — create .venv, install, run the whole pipeline on the embedded data
# make test  — the test suite (what CI runs)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROBLEM ?= all

.PHONY: install run test lint test-all bench perf dashboard schedule clean

$(BIN)/hanflow: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test,dask]'
	touch $@

install: $(BIN)/hanflow

run: install
	$(BIN)/hanflow run --problem $(PROBLEM)

test: install
	$(BIN)/python -m pytest -q

lint: install  # what .ci/run checks before the tests
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-all: install
	$(BIN)/python -m pytest -q -m ''

clean:
	rm -rf data/n21 data/n2n data/n2m data/n2path .pytest_cache

# make bench [ENTRY="n21_nsmc n21_hate"] [PROBLEM=n21] [SEEDS=13,1,2] — reports/bench.json and bench.md (bench/)
ENTRY ?=
SEEDS ?= 13,1,2
bench: install
	$(BIN)/hanflow bench --problem $(PROBLEM) --seeds $(SEEDS) $(foreach e,$(ENTRY),--entry $(e))

perf: install  # reports/perf.json and perf.md (README, Performance; bench/perf.py)
	$(BIN)/hanflow bench --perf

dashboard: install
	$(BIN)/hanflow dashboard

# make schedule CRON="0 3 * * *" PROBLEM=n21 — serve scheduled retraining (blocks)
CRON ?= 0 3 * * *
schedule: install
	$(BIN)/hanflow schedule --cron "$(CRON)" $(if $(filter-out all,$(PROBLEM)),--problem $(PROBLEM))
