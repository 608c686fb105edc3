# Every target creates .venv and installs what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := data/sample.db
export TQDM_DISABLE ?=
export PYTHONHASHSEED := 0

.PHONY: demo test lint sample lab bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name eventkit --display-name "eventkit (.venv)" >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/eventkit demo --out demo

test: $(STAMP) lint
	TQDM_DISABLE=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check eventkit tests benchmarks
	$(BIN)/ruff format --check eventkit tests benchmarks

sample: $(STAMP)
	$(BIN)/eventkit generate $(SAMPLE) --force

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache demo
