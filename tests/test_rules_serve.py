"""`serve` runs the same rules from configuration as `analyze`: a live pipeline over rendered files played
at camera speed finds a dumped bag (static objects) and a full bin (state classifier) with the real NanoDet
running for people and vehicles; every incident carries its taxonomy labels in the record."""
from __future__ import annotations

import threading

import pytest

from streetsight.config import parse_config
from tests.scenarios.catalog import BAG_AT, BIN_BOX, _norm, bin_sprite, write_bin_examples
from tests.scenarios.fixtures import vtest_mp4  # noqa: F401 - a fixture
from tests.scenarios.render import Actor, Scene, bag_sprite, plate, still, write_scenario

pytestmark = pytest.mark.samples


def test_serve_runs_pixel_rules_from_configuration(vtest_mp4, tmp_path):
    from streetsight.server import build

    x1, y1, _, _ = BIN_BOX
    scene = Scene(plate(str(vtest_mp4)), [Actor(bag_sprite(3), still(*BAG_AT), 2, 99),
                                          Actor(bin_sprite(True, 9), still(x1, y1), 0, 99)], seed=8)
    video = write_scenario(tmp_path, "street", scene, 16.0, [])
    write_bin_examples(tmp_path / "bins", str(vtest_mp4))
    cfg = parse_config({
        "sources": [{"id": "street", "url": str(video), "realtime": True, "zones": [
            {"id": "kerb", "events": ["debris_spill"], "polygon": [[0.72, 0.55], [0.97, 0.55], [0.97, 0.8], [0.72, 0.8]]},
            {"id": "bin-1", "events": ["overflowing_bin"], "polygon": _norm(BIN_BOX)}]}],
        "rules": {"debris_spill": {"min_dwell_s": 5}, "overflowing_bin": {"min_dwell_s": 5,
                                                                           "examples_dir": str(tmp_path / "bins")}},
        "evidence": {"pre_roll_s": 1, "post_roll_s": 1},
        "storage": {"data_dir": str(tmp_path / "data")},
    })
    rt, pipeline, app = build(cfg)
    worker = threading.Thread(target=pipeline.run, daemon=True)
    worker.start()
    worker.join(timeout=120)  # a bound for a slow machine, not a speed goal
    pipeline.stop()
    assert not worker.is_alive()
    opened = [e.incident for e in pipeline.analyses["street"].events if e.kind == "opened"]
    assert sorted((i.type, i.zone_id) for i in opened) == [("debris_spill", "kerb"), ("overflowing_bin", "bin-1")]
    from sqlalchemy import select

    from api.db import IncidentRecord

    with rt.repository.sessions() as s:
        rows = {r.type: r for r in s.scalars(select(IncidentRecord)).all()}
    assert rows["debris_spill"].labels["zh"] == "道路遗撒" and rows["overflowing_bin"].labels["category"] == "01"
