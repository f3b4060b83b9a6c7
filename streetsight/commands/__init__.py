"""Extra CLI commands, one module each. A module here has ``register(subparsers)`` that adds its parser
and sets ``func`` (called with the parsed args, returns an exit code). Add a command by adding a module and
its name to COMMAND_MODULES; keep heavy imports inside the command function so `--help` stays fast."""
from __future__ import annotations

COMMAND_MODULES: list[str] = [
    "streetsight.commands.bench",
    "streetsight.commands.evidence",
    "streetsight.commands.eval",
    "streetsight.commands.users",
    "streetsight.commands.datasets",
    "streetsight.commands.train",
]
