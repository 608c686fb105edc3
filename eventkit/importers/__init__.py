"""Importers of real agent logs: one module per source format."""

from ._common import ImportReport
from .claude_code import import_claude_code
from .codex import import_codex
from .t3code import import_t3code

__all__ = ["ImportReport", "import_claude_code", "import_codex", "import_t3code"]
