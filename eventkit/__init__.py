"""eventkit: a canonical event log of AI-agent sessions, analysed with DuckDB and pandas.

The write side (catalog, store, migrations, projections) loads eagerly and needs
neither DuckDB nor pandas; the read side, importers and reports load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from eventkit.catalog.events import (
    EVENT_CLASSES,
    EVENT_TYPES,
    SCHEMA_VERSION,
    ApprovalResolved,
    CheckpointCreated,
    CheckpointRestored,
    Event,
    MessageAdded,
    MessageDelta,
    ModelCallCompleted,
    OrchestrationEvent,
    ProjectCreated,
    ProjectDeleted,
    ProjectRenamed,
    SettingChanged,
    StoredEvent,
    ThreadArchived,
    ThreadCreated,
    ThreadDeleted,
    ThreadRenamed,
    TokenUsage,
    ToolCallCompleted,
    ToolCallStarted,
    TurnCompleted,
    TurnStarted,
    UnknownEvent,
    derived_id,
    new_id,
    parse_event,
)
from eventkit.errors import (
    ConcurrencyError,
    DuplicateEventError,
    EventkitError,
    EventValidationError,
    LogNotFoundError,
    MigrationError,
    NewerSchemaError,
    NotAnEventLogError,
    PayloadTooLargeError,
    ReadOnlyError,
    ReportError,
    SearchQueryError,
    SourceNotFoundError,
    StorageError,
    ThreadNotFoundError,
    UnknownEventTypeError,
    UnsupportedSchemaError,
)
from eventkit.log.migrations import open_or_create_db, run_migrations
from eventkit.log.projections import catch_up, rebuild_projections
from eventkit.log.store import EventStore, NewEvent

__version__ = "0.1.0"

# Public names that live in modules loaded on first use (they import DuckDB/pandas).
_LAZY = {
    "connect_duckdb": "read.readers",
    "sql": "read.readers",
    "list_views": "read.describe",
    "events_df": "read.frames",
    "projects_df": "read.frames",
    "threads_df": "read.frames",
    "turns_df": "read.frames",
    "messages_df": "read.frames",
    "tool_calls_df": "read.frames",
    "checkpoints_df": "read.frames",
    "settings_df": "read.frames",
    "model_calls_df": "read.frames",
    "turn_metrics": "read.metrics",
    "thread_summary": "read.metrics",
    "model_breakdown": "read.metrics",
    "failing_tools": "read.metrics",
    "summary": "read.metrics",
    "usage_totals": "read.metrics",
    "stats": "read.stats",
    "search": "read.search",
    "generate_log": "apps.synth",
    "generate": "apps.synth",
    "audit": "apps.audit",
    "import_claude_code": "importers",
    "import_codex": "importers",
    "import_gemini": "importers",
    "import_copilot": "importers",
    "import_t3code": "importers",
    "ImportReport": "importers",
    "export_parquet": "scale.export",
    "ExportReport": "scale.export",
    "merge": "log.merge",
    "backup": "log.backup",
    "report": "apps.report",
    "show": "apps.session_page",
    "SessionPage": "apps.session_page",
}

__all__ = [
    "EVENT_CLASSES",
    "EVENT_TYPES",
    "SCHEMA_VERSION",
    "ApprovalResolved",
    "CheckpointCreated",
    "CheckpointRestored",
    "ConcurrencyError",
    "DuplicateEventError",
    "Event",
    "EventStore",
    "EventValidationError",
    "EventkitError",
    "LogNotFoundError",
    "MessageAdded",
    "MessageDelta",
    "MigrationError",
    "ModelCallCompleted",
    "NewEvent",
    "NewerSchemaError",
    "NotAnEventLogError",
    "OrchestrationEvent",
    "PayloadTooLargeError",
    "ProjectCreated",
    "ProjectDeleted",
    "ProjectRenamed",
    "ReadOnlyError",
    "ReportError",
    "SearchQueryError",
    "SourceNotFoundError",
    "SettingChanged",
    "StorageError",
    "StoredEvent",
    "ThreadArchived",
    "ThreadCreated",
    "ThreadDeleted",
    "ThreadNotFoundError",
    "ThreadRenamed",
    "TokenUsage",
    "ToolCallCompleted",
    "ToolCallStarted",
    "TurnCompleted",
    "TurnStarted",
    "UnknownEvent",
    "UnknownEventTypeError",
    "UnsupportedSchemaError",
    "catch_up",
    "derived_id",
    "new_id",
    "open_or_create_db",
    "parse_event",
    "rebuild_projections",
    "run_migrations",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'eventkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from eventkit.read.frames import (  # noqa: F401
        checkpoints_df,
        events_df,
        messages_df,
        model_calls_df,
        projects_df,
        settings_df,
        threads_df,
        tool_calls_df,
        turns_df,
    )
    from eventkit.read.metrics import (  # noqa: F401
        model_breakdown,
        thread_summary,
        turn_metrics,
        usage_totals,
    )
    from eventkit.read.readers import connect_duckdb, sql  # noqa: F401
