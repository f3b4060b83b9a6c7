"""The `streetsight` commands, one module each (streetsight/cli.py only builds the parser and runs one). A
module here has ``register(subparsers)`` that adds its parser and sets ``func`` (called with the parsed args,
returns an exit code). Add a command by adding a module and its name to COMMAND_MODULES; keep heavy imports
inside the command function so `--help` stays fast.

Conventions every command follows (tests/test_cli_conventions.py checks them over the whole parser):
- ``--json`` always means one thing: stdout holds exactly one JSON document and nothing else (progress and
  notes go to stderr). Commands whose result is JSON anyway accept it too, so scripts can always pass it.
  Add it with :func:`add_json_option`, print with :func:`print_json`.
- Where a command writes to a destination, DEST is positional.
- Forcing past a safety check is ``--force``.
- No command repeats its parent's name.
- An old spelling keeps working for one release, hidden from ``--help``, and prints one deprecation line
  on stderr (:func:`add_deprecated_option`, :func:`deprecated`).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Sequence

JSON_HELP = "machine-readable output: one JSON document on stdout, nothing else"

COMMAND_MODULES: list[str] = [
    "streetsight.commands.detect",
    "streetsight.commands.analyze",
    "streetsight.commands.serve",
    "streetsight.commands.sources",
    "streetsight.commands.bench",
    "streetsight.commands.evidence",
    "streetsight.commands.eval",
    "streetsight.commands.users",
    "streetsight.commands.datasets",
    "streetsight.commands.train",
    "streetsight.commands.models",
    "streetsight.commands.footage",
    "streetsight.commands.configuration",
]


DATABASE_ENV = "STREETSIGHT_DATABASE_URL"


def add_database_options(p: "argparse.ArgumentParser") -> "argparse.ArgumentParser":
    """``--config`` or ``--database-url``: where the records are, for commands that work on them."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--config", help="the deployment's YAML (its storage section names the database)")
    where.add_argument("--database-url", help=f"SQLAlchemy URL (default: ${DATABASE_ENV}, else the default "
                                              "sqlite:///var/streetsight.db)")
    return p


def database_url(args: "argparse.Namespace") -> str:
    """The records' URL from ``--database-url``, ``$STREETSIGHT_DATABASE_URL`` or the default (without
    ``--config``; with it, the config's storage section decides)."""
    import os

    from streetsight.config import StorageConfig

    return args.database_url or os.environ.get(DATABASE_ENV) or StorageConfig().resolved_database_url()


class CliError(Exception):
    """A mistake in what the command was given (an argument, a name, a key): `streetsight` prints it as one
    line and exits with 2, without a traceback."""


def bounded_number(limit: float, unit: str, kind: type = float) -> Callable[[str], float]:
    """An argparse ``type``: a finite number (``kind``: float or int) above 0 and at most ``limit`` (in
    ``unit``); anything else is a usage error."""
    import argparse

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole' if kind is int else 'a'} number") from None
        if not 0 < value <= limit:  # also refuses nan and inf
            raise argparse.ArgumentTypeError(f"{text} is out of range: more than 0 and at most {limit:g} {unit}")
        return value

    return parse


def add_json_option(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The one ``--json`` flag (see the module's conventions)."""
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    return p


def print_json(obj: Any) -> None:
    """A command's result as the JSON document on stdout (``--json``, or commands whose result is JSON)."""
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def warn_deprecated(old: str, new: str) -> None:
    """The one deprecation line, on stderr so that stdout stays machine-readable."""
    print(f"streetsight: {old} is deprecated and goes in the next release; use {new}", file=sys.stderr)


class _DeprecatedSpelling(argparse.Action):
    """An old option spelling: stores into the new option's ``dest`` after the deprecation line."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str = "", **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        warn_deprecated(f"{parser.prog} {option_string}", self.new)
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


def add_deprecated_option(p: argparse.ArgumentParser, old: str, new: str, dest: str, *, flag: bool = False,
                          **kwargs: Any) -> None:
    """``old`` keeps working for one release, hidden from ``--help``: it sets ``dest`` like ``new`` does."""
    p.add_argument(old, action=_DeprecatedSpelling, new=new, dest=dest, help=argparse.SUPPRESS,
                   **({"nargs": 0} if flag else {}), **kwargs)


def deprecated(func: Callable[[argparse.Namespace], int], old: str, new: str) -> Callable[[argparse.Namespace], int]:
    """A command under its old name: the deprecation line, then the command."""
    def run(args: argparse.Namespace) -> int:
        warn_deprecated(old, new)
        return func(args)
    run.__module__ = func.__module__
    run.__qualname__ = getattr(func, "__qualname__", "run")
    run.deprecated = (old, new)  # type: ignore[attr-defined]
    return run
