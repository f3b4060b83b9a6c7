"""Event types are declared once (streetsight/event_types.py): a type registered there is known to every
section of the configuration, to the validators of dispatch, auto-case and retention keys, to the
taxonomy and to the rule builders, with nothing else written for it."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap

# Runs in a fresh interpreter: types are registered before streetsight.config builds its sections, as a
# new entry in event_types.py is.
SCRIPT = textwrap.dedent('''
    import json
    from pydantic import Field
    from streetsight import event_types
    from streetsight.rule_settings import RuleConfig

    class LitterConfig(RuleConfig):
        classes: list[str] = Field(default_factory=lambda: ["bottle", "cup"], min_length=1)
        min_dwell_s: float = Field(45.0, ge=0)

    event_types.register(event_types.EventType("litter", LitterConfig, {"category": "01", "zh": "乱扔垃圾",
                                                                        "en": "littering"}))

    from streetsight.config import ConfigError, parse_config
    from streetsight.rules import build_rules

    def cfg(**extra):
        zone = {"id": "z", "events": ["litter"], "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}
        return parse_config({"sources": [{"id": "cam", "url": "x.mp4", "zones": [zone]}], **extra})

    good = cfg(rules={"litter": {"min_dwell_s": 20}}, taxonomy={"litter": {"local_code": "HZ-0101"}},
               dispatch={"rules": [{"department": "city", "event_types": ["litter"]}]},
               cases={"auto_case_min_confidence": {"litter": 0.9}}, storage={"retention_days": {"litter": 30}})
    rules = build_rules(good.sources[0], good)
    out = {"rules": [(r.event_type, type(r).__name__, r.params.min_dwell_s, list(r.params.classes)) for r in rules],
           "labels": rules[0].labels, "refused": {}}
    for section, value in (("rules", {"littering": {}}), ("taxonomy", {"littering": {"zh": "x"}}),
                           ("dispatch", {"rules": [{"department": "d", "event_types": ["littering"]}]}),
                           ("cases", {"auto_case_min_confidence": {"littering": 0.5}}),
                           ("storage", {"retention_days": {"littering": 3}})):
        try:
            cfg(**{section: value})
        except ConfigError as exc:
            out["refused"][section] = str(exc)
    from api.label_routes import event_labels_module
    from streetsight.case_wiring import event_type_labels
    out["browser"] = event_labels_module(event_type_labels(good))  # what the pages import
    print(json.dumps(out, ensure_ascii=False))
''')


def test_a_type_registered_once_is_configured_validated_labelled_and_built_everywhere() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["rules"] == [["litter", "DwellRule", 20.0, ["bottle", "cup"]]]  # its settings, its classes
    assert out["labels"]["local_code"] == "HZ-0101" and out["labels"]["en"] == "littering"
    # "littering" (not registered) is refused in every place that names event types, "litter" in none
    assert set(out["refused"]) == {"rules", "taxonomy", "dispatch", "cases", "storage"}
    assert "dispatch.rules[0].event_types: unknown event type(s) ['littering']" in out["refused"]["dispatch"]
    assert "'litter'" in out["refused"]["storage"]  # the message lists the registered type among the known
    assert '"litter": {' in out["browser"] and '"zh": "乱扔垃圾"' in out["browser"]  # the pages offer it


def test_config_and_storage_config_import_without_a_cycle() -> None:
    # each module imported first in its own interpreter: a cycle shows as a partially initialised module
    for module in ("streetsight.object_storage_config", "streetsight.config_checks", "streetsight.event_types",
                   "streetsight.config"):
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True, timeout=60)
    for path in ("streetsight/object_storage_config.py", "streetsight/config_checks.py"):  # no late import back
        tree = ast.parse(open(path, encoding="utf-8").read())
        late = [n.lineno for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)
                if isinstance(n, ast.ImportFrom) and n.module == "streetsight.config"]
        assert late == [], f"{path} imports streetsight.config inside functions at lines {late}"


def test_the_browser_offers_every_registered_type_with_the_configured_labels(tmp_path) -> None:
    """The zone editor's event-type boxes and the review filters come from ``/ui/event-types.js``, which the API
    makes from the registry and the taxonomy: no copy in api/static can miss a type (the eight scenes of issue 15
    once could not be chosen) or a city's own label."""
    from pathlib import Path

    from fastapi.testclient import TestClient

    from api import IncidentRepository, create_app, create_engine_for, init_db, make_session_factory
    from streetsight import event_types
    from streetsight.case_wiring import event_type_labels
    from streetsight.config import parse_config

    cfg = parse_config({"sources": [{"id": "cam", "url": "x.mp4"}],
                        "taxonomy": {"street_vending": {"zh": "店外占道", "local_code": "0512"}}})
    engine = create_engine_for(f"sqlite:///{tmp_path / 'x.db'}")
    init_db(engine)
    app = create_app(IncidentRepository(make_session_factory(engine)), tmp_path, run_workers=False,
                     event_types=event_type_labels(cfg))
    served = TestClient(app).get("/ui/event-types.js")  # public, as /static: no login
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/javascript")
    table = json.loads(served.text.split("Object.freeze(", 1)[1].rsplit(");", 1)[0])
    assert list(table) == list(event_types.names())  # every type, in the registry's order
    assert table["street_vending"]["zh"] == "店外占道" and table["street_vending"]["local_code"] == "0512"
    assert table["uncovered_muck_truck"]["zh"] == event_types.get("uncovered_muck_truck").labels["zh"]
    static = (Path(__file__).resolve().parents[1] / "api" / "static" / "labels.js").read_text(encoding="utf-8")
    assert "EVENT_LABELS = {" not in static and 'from "/ui/event-types.js"' in static  # no copy kept there
