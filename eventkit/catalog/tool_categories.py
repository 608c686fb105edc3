"""Tool names across agent providers, mapped to one coarse category.

The mapping is data: :data:`TOOL_CATEGORIES` is what the projections use and what
the read side registers as a table, so both classify a tool the same way. Names
not in it (MCP tools, custom tools) are ``other``.
"""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = ("shell", "edit", "read", "search", "web", "task", "other")
"""Every category, in the order reports list them."""

TOOL_CATEGORIES: dict[str, str] = {
    # Claude Code
    "Bash": "shell",
    "BashOutput": "shell",
    "KillShell": "shell",
    "KillBash": "shell",
    "Edit": "edit",
    "MultiEdit": "edit",
    "Write": "edit",
    "NotebookEdit": "edit",
    "Read": "read",
    "NotebookRead": "read",
    "Glob": "search",
    "Grep": "search",
    "LS": "search",
    "WebFetch": "web",
    "WebSearch": "web",
    "Task": "task",
    "TodoWrite": "task",
    "TodoRead": "task",
    "ExitPlanMode": "task",
    "AskUserQuestion": "other",
    "Skill": "other",
    "SlashCommand": "other",
    # Codex CLI
    "shell": "shell",
    "container.exec": "shell",
    "exec_command": "shell",
    "write_stdin": "shell",
    "local_shell": "shell",
    "apply_patch": "edit",
    "update_plan": "task",
    "web_search": "web",
    "view_image": "read",
    "read_file": "read",
    "list_dir": "search",
    "grep_files": "search",
    # Gemini CLI
    "run_shell_command": "shell",
    "write_file": "edit",
    "replace": "edit",
    "read_many_files": "read",
    "list_directory": "search",
    "glob": "search",
    "search_file_content": "search",
    "grep_search": "search",
    "google_web_search": "web",
    "web_fetch": "web",
    "write_todos": "task",
    "codebase_investigator": "task",
    "complete_task": "task",
    "save_memory": "other",
    "update_topic": "other",
    # Item kinds of app-server style providers, in both spellings they come in
    "command_execution": "shell",
    "commandExecution": "shell",
    "file_change": "edit",
    "fileChange": "edit",
    "file_read": "read",
    "web_search_call": "web",
    "mcp_tool_call": "other",
    "mcpToolCall": "other",
}
"""Known tool name → category. Look names up with :func:`tool_category`, which adds
the case-insensitive fallback; the read side registers these pairs as a table."""

# Providers and versions spell some tools in another case (``bash``, ``ls``); the
# fallback catches those without listing every spelling. Folded names that collide
# map to the same category (a test checks), so the order here does not matter.
_BY_LOWER_NAME: dict[str, str] = {name.lower(): cat for name, cat in TOOL_CATEGORIES.items()}


def tool_category(name: str | None) -> str:
    """The category of a tool: exact name first, then case-insensitively; ``other`` if unknown.

    >>> tool_category("Bash"), tool_category("exec_command"), tool_category("mcp__github__x")
    ('shell', 'shell', 'other')
    """
    if not name:
        return "other"
    category = TOOL_CATEGORIES.get(name)
    if category is None:
        category = _BY_LOWER_NAME.get(name.lower(), "other")
    return category


__all__ = ["CATEGORIES", "TOOL_CATEGORIES", "tool_category"]
