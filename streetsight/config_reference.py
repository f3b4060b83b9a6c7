"""The configuration reference, generated from the pydantic models so that it cannot drift from them:
the JSON Schema of the YAML file and the file with every default spelled out and each field's
description as a comment. ``streetsight config schema|defaults`` print them; docs/ holds the committed
copies (tests/test_config_reference.py fails when they differ from what the models generate)."""
from __future__ import annotations

import json
import textwrap
import types
import typing
from typing import Any

from pydantic import BaseModel

from streetsight.config import Config, parse_config

DEFAULTS_HEADER = """\
# StreetSight configuration: every setting at its default. Generated from the pydantic models in
# streetsight/config.py (and the settings they include) by `streetsight config defaults`; do not edit.
# A real file names only what it changes; the JSON Schema is `streetsight config schema`.
# Strings may reference environment variables as ${NAME} (secrets need not sit in the file).
"""
WIDTH = 110  # comment lines wrap here


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12, as pydantic writes it) of the configuration file."""
    schema = Config.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "StreetSight configuration",
            **{k: v for k, v in schema.items() if k != "title"}}


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def defaults_yaml() -> str:
    """The whole configuration at its defaults as YAML (values in JSON flow style, which YAML reads),
    each field preceded by its description."""
    lines = DEFAULTS_HEADER.splitlines()
    _emit(Config, parse_config({}).model_dump(mode="json"), "", lines)
    return "\n".join(lines) + "\n"


def _emit(model: type[BaseModel], values: dict[str, Any], pad: str, lines: list[str]) -> None:
    for name, field in model.model_fields.items():
        value, nested = values[name], _model_in(field.annotation)
        if not pad or (nested is not None and isinstance(value, dict) and value):
            lines.append("")  # a blank line before each section
        if field.description:
            lines += _comment(field.description, pad)
        if nested is not None and isinstance(value, dict) and value:
            if nested.__dict__.get("__doc__"):
                lines += _comment(" ".join(nested.__doc__.split()), pad)
            lines.append(f"{pad}{name}:")
            _emit(nested, value, pad + "  ", lines)
        elif nested is not None and value in ([], None):
            lines.append(f"{pad}{name}: {json.dumps(value)}  # {nested.__name__} in the JSON Schema")
        else:
            lines.append(f"{pad}{name}: {json.dumps(value, ensure_ascii=False)}")


def _comment(text: str, pad: str) -> list[str]:
    return textwrap.wrap(text, WIDTH - len(pad), initial_indent=f"{pad}# ", subsequent_indent=f"{pad}# ")


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds: ``M``, ``M | None`` or ``list[M]``; None for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        found = [m for m in map(_model_in, typing.get_args(annotation)) if m is not None]
        return found[0] if len(found) == 1 else None
    return None
