"""`streetsight config`: the configuration reference, generated from the pydantic models.

    streetsight config schema      > docs/config.schema.json     (JSON Schema of the YAML file)
    streetsight config defaults    > docs/config.defaults.yaml   (every setting at its default, commented)
"""
from __future__ import annotations

import argparse
import sys

from streetsight.commands import add_json_option


def register(subparsers: argparse._SubParsersAction) -> None:
    config = subparsers.add_parser("config", help="the configuration reference (JSON Schema, defaults)")
    sub = config.add_subparsers(dest="config_command", required=True)
    schema = sub.add_parser("schema", help="print the JSON Schema of the configuration file (JSON anyway)")
    add_json_option(schema)
    schema.set_defaults(func=cmd_schema)
    sub.add_parser("defaults", help="print every setting at its default as commented YAML").set_defaults(
        func=cmd_defaults)


def cmd_schema(args: argparse.Namespace) -> int:
    from streetsight.config_reference import json_schema_text

    sys.stdout.write(json_schema_text())
    return 0


def cmd_defaults(args: argparse.Namespace) -> int:
    from streetsight.config_reference import defaults_yaml

    sys.stdout.write(defaults_yaml())
    return 0
