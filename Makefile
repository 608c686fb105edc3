# Every target creates .venv and installs what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := data/sample.db
export TQDM_DISABLE ?=
export PYTHONHASHSEED := 0

.PHONY: demo test lint sample lab bench clean notebooks

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

DEMO := data/demo.db

# The demo: a log from the generator and the real fixtures, projected, analysed,
# audited, and rendered as demo-report.html with the pages of the sessions it lists
# (demo-report-sessions/).
demo: $(STAMP) $(SAMPLE)
	rm -f $(DEMO) $(DEMO)-wal $(DEMO)-shm
	$(BIN)/eventkit generate $(DEMO) --threads 200 --seed 7
	$(BIN)/eventkit import claude-code data/fixtures/claude_code --log $(DEMO)
	$(BIN)/eventkit import codex data/fixtures/codex --log $(DEMO)
	$(BIN)/eventkit import gemini data/fixtures/gemini --log $(DEMO)
	$(BIN)/eventkit import copilot data/fixtures/copilot --log $(DEMO)
	$(BIN)/eventkit project $(DEMO)
	$(BIN)/eventkit stats $(DEMO)
	$(BIN)/eventkit summary $(DEMO)
	$(BIN)/eventkit search $(DEMO) "機器人" --limit 5
	$(BIN)/eventkit audit $(DEMO)
	$(BIN)/eventkit report $(DEMO) --out demo-report.html

test: $(STAMP) lint $(SAMPLE)
	TQDM_DISABLE=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check eventkit tests benchmarks data
	$(BIN)/ruff format --check eventkit tests benchmarks data

# The deterministic sample log the notebooks read, built from data/.
$(SAMPLE): $(STAMP) data/build_sample.py $(wildcard eventkit/*.py eventkit/*/*.py data/fixtures/*/*.jsonl)
	$(BIN)/python data/build_sample.py $(SAMPLE)

sample: $(STAMP)
	$(BIN)/python data/build_sample.py $(SAMPLE)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache data/demo.db* demo-report.html \
		demo-report-sessions

# Re-execute the notebooks against the sample log, storing their outputs (after an
# intended change in metrics; review the diff before committing).
notebooks: $(STAMP) $(SAMPLE)
	for nb in notebooks/*.ipynb notebooks/*/*.ipynb; do \
		TQDM_DISABLE=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; \
	done
