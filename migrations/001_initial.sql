-- eventkit log schema, version 1.
-- The events table is the log; every other table is derived from it and can be
-- rebuilt (eventkit project LOG --rebuild). Timestamps are text in one sortable
-- form, YYYY-MM-DDTHH:MM:SS.ffffffZ.

CREATE TABLE events (
    sequence        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL UNIQUE,
    event_type      TEXT    NOT NULL,
    stream_id       TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL,
    occurred_at     TEXT    NOT NULL,
    recorded_at     TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL DEFAULT 1,
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    metadata        TEXT    CHECK (metadata IS NULL OR json_valid(metadata)),
    UNIQUE (stream_id, stream_version)
);

CREATE INDEX idx_events_type_sequence ON events (event_type, sequence);

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events is append-only: UPDATE refused');
END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events is append-only: DELETE refused');
END;

CREATE TABLE projection_projects (
    project_id  TEXT PRIMARY KEY,
    name        TEXT,
    path        TEXT,
    created_at  TEXT,
    updated_at  TEXT,
    deleted_at  TEXT
);

CREATE TABLE projection_threads (
    thread_id         TEXT PRIMARY KEY,
    project_id        TEXT,
    parent_thread_id  TEXT,
    title             TEXT,
    provider          TEXT,
    model             TEXT,
    status            TEXT NOT NULL,
    created_at        TEXT,
    updated_at        TEXT,
    archived_at       TEXT,
    deleted_at        TEXT,
    turn_count        INTEGER NOT NULL DEFAULT 0,
    message_count     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE projection_turns (
    turn_id             TEXT PRIMARY KEY,
    thread_id           TEXT NOT NULL,
    model               TEXT,
    status              TEXT NOT NULL,
    started_at          TEXT,
    completed_at        TEXT,
    duration_ms         REAL,
    input_tokens        INTEGER,
    output_tokens       INTEGER,
    cache_read_tokens   INTEGER,
    cache_write_tokens  INTEGER,
    reasoning_tokens    INTEGER,
    cost_usd            REAL,
    cost_source         TEXT,
    tool_calls          INTEGER NOT NULL DEFAULT 0,
    tool_errors         INTEGER NOT NULL DEFAULT 0,
    error               TEXT
);
CREATE INDEX idx_turns_thread ON projection_turns (thread_id);

CREATE TABLE projection_messages (
    message_id   TEXT PRIMARY KEY,
    thread_id    TEXT NOT NULL,
    turn_id      TEXT,
    role         TEXT,
    text         TEXT,
    created_at   TEXT,
    updated_at   TEXT,
    delta_count  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_messages_turn ON projection_messages (turn_id);

CREATE TABLE projection_tool_calls (
    tool_call_id       TEXT PRIMARY KEY,
    thread_id          TEXT NOT NULL,
    turn_id            TEXT,
    tool               TEXT,
    tool_category      TEXT,
    input              TEXT,
    status             TEXT NOT NULL,
    output             TEXT,
    started_at         TEXT,
    completed_at       TEXT,
    duration_ms        REAL,
    approval_decision  TEXT,
    approval_wait_ms   REAL
);
CREATE INDEX idx_tool_calls_turn ON projection_tool_calls (turn_id);

CREATE TABLE checkpoints (
    checkpoint_id  TEXT PRIMARY KEY,
    thread_id      TEXT NOT NULL,
    turn_id        TEXT,
    git_ref        TEXT,
    message        TEXT,
    files_changed  INTEGER,
    additions      INTEGER,
    deletions      INTEGER,
    created_at     TEXT,
    restored_at    TEXT
);

CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT,
    updated_at  TEXT
);

CREATE TABLE projection_state (
    projector      TEXT PRIMARY KEY,
    last_sequence  INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT
);

CREATE TABLE log_info (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
