# make run   — create .venv, install, run the whole pipeline on the embedded data
# make test  — the test suite (what CI runs)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROBLEM ?= all

.PHONY: install run test test-all bench dashboard clean

$(BIN)/hanflow: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(BIN)/hanflow

run: install
	$(BIN)/hanflow run --problem $(PROBLEM)

test: install
	$(BIN)/python -m pytest -q

test-all: install
	$(BIN)/python -m pytest -q -m ''

clean:
	rm -rf data/n21 data/n2n data/n2m data/n2path .pytest_cache

bench: install
	$(BIN)/hanflow bench --problem $(PROBLEM)

dashboard: install
	$(BIN)/prefect server start --host 127.0.0.1 --port 4200
