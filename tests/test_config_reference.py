"""The configuration reference in docs/ is what the pydantic models generate (`streetsight config schema`,
`streetsight config defaults`); regenerate it with those two commands when a setting changes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from streetsight.config import parse_config
from streetsight.config_reference import defaults_yaml, json_schema, json_schema_text

DOCS = Path(__file__).resolve().parent.parent / "docs"
REGENERATE = ("streetsight config schema > docs/config.schema.json; "
              "streetsight config defaults > docs/config.defaults.yaml")


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "streetsight.cli", *args], capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout


def test_committed_reference_is_what_the_models_generate() -> None:
    assert (DOCS / "config.schema.json").read_text(encoding="utf-8") == cli("config", "schema"), REGENERATE
    assert (DOCS / "config.defaults.yaml").read_text(encoding="utf-8") == cli("config", "defaults"), REGENERATE


def test_defaults_file_loads_as_the_default_configuration() -> None:
    assert parse_config(yaml.safe_load(defaults_yaml())).model_dump() == parse_config({}).model_dump()


def test_defaults_file_describes_each_setting_and_hides_no_secret_behind_a_mask() -> None:
    text = defaults_yaml()
    assert "# seconds stationary inside the zone before an incident\n    min_dwell_s: 60.0" in text
    assert '  illegal_parking:\n    # national category code' in text  # taxonomy defaults spelled out
    assert "**" not in text  # a SecretStr default would dump as a mask, not as a usable value


def test_schema_names_every_section_and_refuses_unknown_keys() -> None:
    schema = json_schema()
    assert json.loads(json_schema_text()) == schema
    assert {"sources", "rules", "storage", "dispatch", "cluster", "taxonomy"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False  # like the loader: a misspelt key is an error
    zone = schema["$defs"]["ZoneConfig"]["properties"]
    assert "events" in zone and "polygon" in zone
