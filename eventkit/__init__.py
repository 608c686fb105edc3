"""eventkit: a canonical event log of AI-agent sessions, analysed with DuckDB and pandas.

The write side (catalog, store, migrations, projections) loads eagerly and needs
neither DuckDB nor pandas; the read side, importers and reports load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
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
    StorageError,
    UnknownEventTypeError,
    UnsupportedSchemaError,
)
from .events import (
    EVENT_CLASSES,
    EVENT_TYPES,
    SCHEMA_VERSION,
    ApprovalResolved,
    CheckpointCreated,
    CheckpointRestored,
    Event,
    MessageAdded,
    MessageDelta,
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
from .migrations import open_or_create_db, run_migrations
from .projections import catch_up, rebuild_projections
from .store import EventStore, NewEvent

__version__ = "0.1.0"

# Public names that live in modules loaded on first use (they import DuckDB/pandas).
_LAZY = {
    "connect_duckdb": "duck",
    "sql": "duck",
    "events_df": "frames",
    "projects_df": "frames",
    "threads_df": "frames",
    "turns_df": "frames",
    "messages_df": "frames",
    "tool_calls_df": "frames",
    "checkpoints_df": "frames",
    "settings_df": "frames",
    "turn_metrics": "metrics",
    "thread_summary": "metrics",
    "model_breakdown": "metrics",
    "generate_log": "synth",
    "generate": "synth",
    "audit": "audits",
    "import_claude_code": "importers",
    "import_codex": "importers",
    "import_t3code": "importers",
    "ImportReport": "importers",
    "export_parquet": "export",
    "ExportReport": "export",
    "merge": "merging",
    "backup": "backups",
    "report": "reports",
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
    "NewEvent",
    "NewerSchemaError",
    "NotAnEventLogError",
    "OrchestrationEvent",
    "PayloadTooLargeError",
    "ProjectCreated",
    "ProjectDeleted",
    "ProjectRenamed",
    "ReadOnlyError",
    "SettingChanged",
    "StorageError",
    "StoredEvent",
    "ThreadArchived",
    "ThreadCreated",
    "ThreadDeleted",
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
    from .duck import connect_duckdb, sql  # noqa: F401
    from .frames import (  # noqa: F401
        checkpoints_df,
        events_df,
        messages_df,
        projects_df,
        settings_df,
        threads_df,
        tool_calls_df,
        turns_df,
    )
    from .metrics import model_breakdown, thread_summary, turn_metrics  # noqa: F401
