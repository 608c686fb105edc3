"""A command as data (name, help, arguments, handler, output shape) and the parser built from it."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventkit.cli.errors import EXIT_HELP
from eventkit.cli.output import OUTPUT_SHAPES, Result

OUTPUT_HELP = {
    "rows": "output (rows): a table; --json prints a JSON array of row objects ([] when "
    "there are none); --csv prints a header line, always, then one line per row.",
    "sections": "output (sections): one table per section; --json prints one JSON object "
    "(section name: array of rows); --csv prints every section as a CSV block whose first "
    "column is `section`, blocks separated by a blank line; --section NAME prints only "
    "that section (a table, a JSON array or plain CSV).",
    "record": "output (a report): a summary for people; --json prints it as one JSON "
    "object; --csv prints a header line and one line (lists and objects as JSON text).",
}


@dataclass(frozen=True)
class Arg:
    """One argparse argument: its flags (or name) and ``add_argument`` options."""

    flags: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass(frozen=True)
class OneOf:
    """Arguments of which at most one may be given."""

    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Command:
    """One ``eventkit`` command, declared once: the parser and the docs come from here."""

    name: str
    help: str
    handler: Callable[[argparse.Namespace], Result]
    arguments: tuple[Arg | OneOf, ...] = ()
    output: str = "record"
    """The shape it prints: ``rows``, ``sections`` or ``record`` (see eventkit.cli.output)."""
    sections: tuple[str, ...] = ()
    """For ``sections`` output: the section names, in order (the --section choices)."""
    people_columns: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Per table, the columns shown to people (JSON and CSV carry every column)."""

    def __post_init__(self) -> None:
        if self.output not in OUTPUT_SHAPES:
            raise ValueError(f"{self.name}: output must be one of {OUTPUT_SHAPES}")
        if (self.output == "sections") != bool(self.sections):
            raise ValueError(f"{self.name}: sections are declared exactly for sections output")


def build_parser(commands: Sequence[Command], version: str) -> argparse.ArgumentParser:
    """The ``eventkit`` parser: one subcommand per declared command, shared output options."""
    parser = argparse.ArgumentParser(
        prog="eventkit",
        description="Record, import and analyse AI-agent sessions as an event log.",
        epilog=f"Every command takes --json and --csv. {EXIT_HELP}.",
    )
    parser.add_argument("--version", action="version", version=version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        p = sub.add_parser(
            command.name,
            help=command.help,
            description=command.help,
            epilog=f"{OUTPUT_HELP[command.output]} {EXIT_HELP}.",
        )
        for argument in command.arguments:
            if isinstance(argument, OneOf):
                group = p.add_mutually_exclusive_group()
                for member in argument.args:
                    group.add_argument(*member.flags, **member.options)
            else:
                p.add_argument(*argument.flags, **argument.options)
        _add_output_options(p, command)
    return parser


def _add_output_options(parser: argparse.ArgumentParser, command: Command) -> None:
    formats = parser.add_mutually_exclusive_group()
    formats.add_argument(
        "--json", dest="output_format", action="store_const", const="json", help="print JSON"
    )
    formats.add_argument(
        "--csv", dest="output_format", action="store_const", const="csv", help="print CSV"
    )
    parser.set_defaults(output_format="table")
    if command.sections:
        parser.add_argument(
            "--section",
            choices=command.sections,
            help="print only this section",
        )
