"""Extra CLI commands, one module each. A module here has ``register(subparsers)`` that adds its parser
and sets ``func`` (called with the parsed args, returns an exit code). Add a command by adding a module and
its name to COMMAND_MODULES; keep heavy imports inside the command function so `--help` stays fast."""
from __future__ import annotations

import argparse
from typing import Callable

COMMAND_MODULES: list[str] = [
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
