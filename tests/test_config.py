"""Configuration: the issue's example loads; every mistake names its field."""
from __future__ import annotations

from pathlib import Path

import pytest

from streetsight.config import ConfigError, load_config, parse_config

EXAMPLE = """
sources:
  - id: cam-1
    url: rtsp://127.0.0.1:8554/cam1
    zones:
      - id: no-parking-1
        events: [illegal_parking]
        polygon: [[0.82, 0.05], [0.97, 0.05], [0.97, 0.20], [0.82, 0.20]]
rules:
  illegal_parking:
    min_dwell_s: 20
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_issue_example_loads_with_defaults(tmp_path):
    cfg = load_config(write(tmp_path, EXAMPLE))
    assert cfg.sources[0].zones[0].polygon[1] == (0.97, 0.05)
    assert cfg.rules.illegal_parking.min_dwell_s == 20
    assert cfg.rules.illegal_parking.classes == ["car", "truck", "bus"]
    assert cfg.storage.resolved_database_url().startswith("sqlite:///")


@pytest.mark.parametrize(
    "broken, field, problem",
    [
        (EXAMPLE.replace("0.97, 0.20", "1.7, 0.20"), "sources[0].zones[0].polygon", "outside 0..1"),
        (EXAMPLE.replace("[illegal_parking]", "[parking_lot]"), "sources[0].zones[0].events", "unknown event"),
        (EXAMPLE.replace("min_dwell_s: 20", "min_dwell_s: -3"), "rules.illegal_parking.min_dwell_s", "greater than"),
        (EXAMPLE.replace("min_dwell_s: 20", "min_dwel_s: 20"), "rules.illegal_parking.min_dwel_s", "not permitted"),
        (EXAMPLE.replace("    url: rtsp://127.0.0.1:8554/cam1\n", ""), "sources[0].url", "required"),
        (EXAMPLE.replace(", [0.82, 0.20]]", "]").replace("[0.97, 0.05], ", ""), "sources[0].zones[0].polygon",
         "at least 3"),
    ],
)
def test_errors_name_the_field(tmp_path, broken, field, problem):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, broken))
    msg = str(exc.value)
    assert f": {field}: " in msg and problem in msg, msg


DISPATCH = "dispatch:\n  url: https://dispatch.city.gov/cases\n"


@pytest.mark.parametrize(
    "extra, field, problem",
    [
        # a typo in a rule's event types: the rule silently never matched
        ("dispatch:\n  rules:\n    - {department: 城管, event_types: [illegal_parking]}\n"
         "    - {department: 环卫, event_types: [overflowing_bins]}\n",
         "dispatch.rules[1].event_types", "unknown event type(s) ['overflowing_bins']"),
        # a typo in an auto-case key: those incidents silently never became cases
        ("cases:\n  auto_case_min_confidence: {illegal_parking: 0.9, street_vendng: 0.8}\n",
         "cases.auto_case_min_confidence", "unknown event type(s) ['street_vendng']"),
        # dispatch with evidence on the local disk needs the address the dispatch system reaches
        (DISPATCH, "cases.public_base_url", "required when dispatch.url is set"),
        (DISPATCH + "cases:\n  public_base_url: streetsight.city.gov\n", "cases.public_base_url",
         "absolute http(s) URL"),
        # SQLAlchemy would take "ssw0rd@db" for the host and quote it in its connection error
        ("storage:\n  database_url: postgresql+psycopg://ss:p@ssw0rd@db:5432/streetsight\n",
         "storage.database_url", "write it as %40"),
    ],
)
def test_cross_section_mistakes_name_the_field(tmp_path, extra, field, problem):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, EXAMPLE + extra))
    msg = str(exc.value)
    assert f": {field}: " in msg and problem in msg, msg
    assert "ssw0rd" not in msg  # no secret in the message


@pytest.mark.parametrize("extra", [
    DISPATCH + "cases:\n  public_base_url: https://streetsight.city.gov/\n",
    DISPATCH + "storage:\n  public_url: https://streetsight.city.gov\n",  # the local links' own base
    DISPATCH + "storage:\n  backend: s3\n  s3: {endpoint: 's3:9000', bucket: evidence, access_key: a, secret_key: b}\n",
    "storage:\n  database_url: postgresql+psycopg://ss:p%40ssw0rd@db:5432/streetsight\n",
    "dispatch:\n  rules: [{department: 城管, event_types: [street_vending, illegal_parking]}]\n"
    "cases:\n  auto_case_min_confidence: {illegal_parking: 0.9}\n",
])
def test_dispatch_and_case_settings_that_hold_together_load(tmp_path, extra):
    cfg = load_config(write(tmp_path, EXAMPLE + extra))
    assert cfg.cases.public_base_url in (None, "https://streetsight.city.gov")


def test_duplicate_source_ids_rejected():
    src = {"id": "a", "url": "x.mp4"}
    with pytest.raises(ConfigError, match="repeated: \\['a'\\]"):
        parse_config({"sources": [src, dict(src)]})


def test_secrets_come_from_environment(tmp_path, monkeypatch):
    text = EXAMPLE.replace("rtsp://127.0.0.1", "rtsp://admin:${CAM_PASSWORD}@127.0.0.1")
    monkeypatch.setenv("CAM_PASSWORD", "s3cret")
    assert load_config(write(tmp_path, text)).sources[0].url.startswith("rtsp://admin:s3cret@")
    monkeypatch.delenv("CAM_PASSWORD")
    with pytest.raises(ConfigError, match="sources\\[0\\].url: environment variable CAM_PASSWORD is not set"):
        load_config(write(tmp_path, text))


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "sources: [\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_bundled_demo_config_is_valid():
    from streetsight.demo import DEMO_CONFIG

    cfg = load_config(DEMO_CONFIG)
    assert {z.id for z in cfg.sources[0].zones} == {"no-parking-kerb", "no-parking-plaza"}
