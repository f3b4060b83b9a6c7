"""The `streetsight` command: builds the parser from the modules in streetsight/commands/ and runs one."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn, Sequence

from streetsight.config import ConfigError

log = logging.getLogger("streetsight")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# -- parser ---------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """Usage mistakes as one line (the subcommand, the argument, the problem) and exit status 2; the
    full usage stays one `--help` away. Subparsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="streetsight", description="AI video analytics for city-management enforcement")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    from streetsight.commands import COMMAND_MODULES

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return p


def _expected_error(exc: BaseException) -> bool:
    """Errors that report a mistake in what the user gave (a name, a key, a value), not a bug: printed as
    one line, never a traceback. Imported here, on the error path, so that `--help` stays fast."""
    from models.manifest import ManifestError
    from models.registry import ModelNotFound
    from streetsight.commands import CliError

    return isinstance(exc, (CliError, ModelNotFound, ManifestError))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"streetsight: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not _expected_error(exc):
            raise
        print(f"streetsight {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
