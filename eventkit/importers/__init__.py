"""Importers of real agent logs: one module per source format."""

from eventkit.importers.claude_code import import_claude_code
from eventkit.importers.codex import import_codex
from eventkit.importers.common import ImportReport
from eventkit.importers.gemini import import_gemini
from eventkit.importers.t3code import import_t3code

__all__ = [
    "ImportReport",
    "import_claude_code",
    "import_codex",
    "import_gemini",
    "import_t3code",
]
