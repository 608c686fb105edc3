"""The ``eventkit`` command: one thin command per library function, declared as data.

Each command (:data:`COMMANDS`, declared in :mod:`eventkit.cli.commands`) opens what it
needs, calls one library function and returns rows; :mod:`eventkit.cli.output` prints
them the one shared way (a table for people, ``--json`` or ``--csv`` for programs) and
:mod:`eventkit.cli.errors` rewrites library errors for a person. Nothing in eventkit
imports this package.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from eventkit.cli.commands import DECLARED
from eventkit.cli.errors import ERROR, HANDLED, error_line
from eventkit.cli.output import Options, emit
from eventkit.cli.registry import Command
from eventkit.cli.registry import build_parser as _build

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

COMMANDS: dict[str, Command] = {command.name: command for command in DECLARED}
"""Every command by name, in the order ``eventkit --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    from eventkit import __version__

    return _build(DECLARED, f"eventkit {__version__}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (0 ok, 1 findings, 2 bad input or error)."""
    args = build_parser().parse_args(argv)
    command = COMMANDS[args.command]
    options = Options(
        format=args.output_format,
        section=getattr(args, "section", None),
        people_columns=command.people_columns,
    )
    try:
        result = command.handler(args)
        emit(result, options, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`eventkit sql … | head`): not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except HANDLED as exc:
        print(error_line(exc), file=sys.stderr)
        return ERROR
    except Exception:  # a bug: show it whole, but never as exit 1 ("findings")
        traceback.print_exc()
        print("eventkit: internal error (a bug: please report it)", file=sys.stderr)
        return ERROR
    return result.code
