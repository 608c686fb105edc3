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

DEMO := demo/events.db
SUMMARY := select t.provider, t.model, count(*) as turns, round(median(u.duration_ms) / 1000, 1) as p50_s, round(quantile_cont(u.duration_ms, 0.95) / 1000, 1) as p95_s, sum(u.input_tokens + u.cache_read_tokens + u.cache_write_tokens + u.output_tokens) as tokens, round(sum(u.cost_usd), 2) as cost_usd, round(sum(u.tool_errors) / nullif(sum(u.tool_calls), 0), 3) as tool_error_rate from turns u join threads t using (thread_id) group by all order by turns desc, t.provider, t.model

demo: $(STAMP)
	rm -rf demo && mkdir -p demo
	$(BIN)/eventkit generate $(DEMO) --events 20000 --seed 7
	$(BIN)/eventkit import claude-code data/fixtures/claude_code --log $(DEMO)
	$(BIN)/eventkit import codex data/fixtures/codex --log $(DEMO)
	$(BIN)/eventkit stats $(DEMO)
	$(BIN)/eventkit sql $(DEMO) "$(SUMMARY)"
	$(BIN)/eventkit audit $(DEMO)
	$(BIN)/eventkit report $(DEMO) --out demo/report.html

test: $(STAMP) lint $(SAMPLE)
	TQDM_DISABLE=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check eventkit tests benchmarks
	$(BIN)/ruff format --check eventkit tests benchmarks

# The deterministic sample log the notebooks read, built from data/.
$(SAMPLE): $(STAMP) $(wildcard eventkit/*.py eventkit/importers/*.py data/fixtures/*/*.jsonl)
	$(BIN)/python -m eventkit.sample $(SAMPLE)

sample: $(STAMP)
	$(BIN)/python -m eventkit.sample $(SAMPLE)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache demo

# Re-execute the notebooks against the sample log, storing their outputs (after an
# intended change in metrics; review the diff before committing).
notebooks: $(STAMP) $(SAMPLE)
	for nb in notebooks/*.ipynb notebooks/*/*.ipynb; do \
		TQDM_DISABLE=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; \
	done
