"""Importers of real agent logs into an eventkit log.

Shared: ``common`` (the import report, batched writes that skip known ids, costs),
``import_run`` (one import: its log, writer, files and damaged lines) and
``session_builder`` (the events of sessions, from what a format module reports).
Per format: Claude Code (``claude_code``, ``claude_code_records``,
``claude_code_fields``), Codex (``codex``), t3code (``t3code``, ``t3code_source``,
``t3code_mapping``). Every importer is ``import_x(paths=None, log=None, *, progress=None)``.
"""

from eventkit.importers.claude_code import import_claude_code
from eventkit.importers.codex import import_codex
from eventkit.importers.common import ImportReport
from eventkit.importers.copilot import import_copilot
from eventkit.importers.gemini import import_gemini
from eventkit.importers.t3code import import_t3code

__all__ = [
    "ImportReport",
    "import_claude_code",
    "import_codex",
    "import_copilot",
    "import_gemini",
    "import_t3code",
]
