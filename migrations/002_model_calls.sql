-- eventkit log schema, version 2: model calls.
-- One row per model call (ModelCallCompleted, restated by revision); the thread that
-- a subagent's tool call started; each turn's last activity and model-call count.
-- The writer that applies this rebuilds the projection tables from the log in the
-- same transaction, so the new columns hold what docs/semantics.md says.

CREATE TABLE projection_model_calls (
    model_call_id       TEXT PRIMARY KEY,
    thread_id           TEXT NOT NULL,
    turn_id             TEXT,
    model               TEXT,
    requested_at        TEXT,
    completed_at        TEXT,
    duration_ms         REAL,
    input_tokens        INTEGER NOT NULL DEFAULT 0,
    output_tokens       INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens   INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens  INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens    INTEGER NOT NULL DEFAULT 0,
    cost_usd            REAL,
    cost_source         TEXT,
    stop_reason         TEXT,
    revision            INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX idx_model_calls_turn ON projection_model_calls (turn_id);

ALTER TABLE projection_threads ADD COLUMN parent_tool_call_id TEXT;

ALTER TABLE projection_turns ADD COLUMN last_activity_at TEXT;
ALTER TABLE projection_turns ADD COLUMN model_calls INTEGER NOT NULL DEFAULT 0;
