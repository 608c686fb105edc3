"""Exit statuses, and library errors rewritten for a person: one line, with the fix.

The library states facts ("no eventkit log at x.db"); here they gain the advice a
person needs. Every command ends the same way: 0 ok, 1 findings, 2 bad input or an
error (argparse's own usage errors exit 2 as well).
"""

from __future__ import annotations

from eventkit import errors

OK = 0
FINDINGS = 1
"""The command ran and found something: audit violations."""
ERROR = 2
"""Bad input or an error: any EventkitError, a missing file, a usage error."""

EXIT_HELP = "exit status: 0 ok, 1 findings (audit violations), 2 bad input or an error"


class UsageError(Exception):
    """Arguments that parse but do not go together (for example two t3code databases)."""


# Most specific first: the first class an error is an instance of gives the advice.
# SourceNotFoundError comes before anything about logs: a missing importer input is
# not a missing log, and `eventkit init` would not help.
ADVICE: tuple[tuple[type[BaseException], str], ...] = (
    (errors.SourceNotFoundError, "the importer's input is missing; check the path"),
    (errors.LogNotFoundError, "create one with `eventkit init PATH`, or check the path"),
    (errors.NewerSchemaError, "upgrade eventkit: pip install --upgrade eventkit"),
    (
        errors.UnsupportedSchemaError,
        "the log holds events this eventkit cannot read; upgrade eventkit",
    ),
    (
        errors.NotAnEventLogError,
        "point eventkit at an eventkit log (`eventkit init PATH` makes one)",
    ),
    (errors.DuplicateEventError, "give the changed event a new event_id"),
    (errors.ConcurrencyError, "re-read the stream and retry with its current version"),
    (errors.EventValidationError, "nothing was written"),
)

HANDLED: tuple[type[BaseException], ...] = (
    errors.EventkitError,
    OSError,
    ValueError,
    UsageError,
)
"""What a command may raise for a person to read; anything else is a bug (a traceback)."""


def error_line(exc: BaseException) -> str:
    """``eventkit: error: <what happened>; <the fix>`` on one line."""
    return f"eventkit: error: {_message(exc)}"


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, errors.EventkitError):
        what = exc.strerror or str(exc) or type(exc).__name__
        message = f"{what}: {exc.filename}" if exc.filename else what
    else:
        message = str(exc) or type(exc).__name__
    filename = getattr(exc, "filename", None)
    if filename and str(filename) not in message:
        message = f"{message}: {filename}"
    advice = next((text for kind, text in ADVICE if isinstance(exc, kind)), None)
    if advice and "upgrade eventkit" in message and "upgrade eventkit" in advice:
        advice = None  # the library already names the fix
    if advice and advice not in message:
        message = f"{message}; {advice}"
    return "; ".join(part.strip() for part in message.splitlines() if part.strip())
