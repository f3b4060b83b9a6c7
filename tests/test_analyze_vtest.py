"""`streetsight analyze` over the real vtest street clip: the parked van is reported, pedestrians are not."""
from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from streetsight.cli import main
from tests.scenarios.fixtures import vtest_mp4  # noqa: F401 - a fixture

pytestmark = pytest.mark.samples

VAN_ZONE = [[0.82, 0.05], [0.97, 0.05], [0.97, 0.20], [0.82, 0.20]]
PLAZA_ZONE = [[0.30, 0.35], [0.75, 0.35], [0.75, 0.75], [0.30, 0.75]]  # people walk here, nothing parks
PRE, POST = 4.0, 4.0


def write_config(tmp_path: Path, zones: dict[str, list[list[float]]]) -> Path:
    zone_yaml = "".join(
        f"      - id: {zid}\n        events: [illegal_parking]\n        polygon: {json.dumps(poly)}\n"
        for zid, poly in zones.items()
    )
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "sources:\n  - id: vtest\n    url: placeholder.mp4\n    analysis_fps: 2\n    zones:\n" + zone_yaml
        + "rules:\n  illegal_parking:\n    min_dwell_s: 20\n"
        + f"evidence:\n  pre_roll_s: {PRE}\n  post_roll_s: {POST}\n"
        + f"storage:\n  data_dir: {tmp_path / 'data'}\n",
        encoding="utf-8",
    )
    return cfg


@pytest.fixture(scope="module")
def analysed(vtest_mp4: Path, tmp_path_factory) -> list[dict]:
    tmp_path = tmp_path_factory.mktemp("analyze")
    cfg = write_config(tmp_path, {"van": VAN_ZONE, "plaza": PLAZA_ZONE})
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["analyze", str(vtest_mp4), "--config", str(cfg), "--json"]) == 0
    return json.loads(out.getvalue())


def test_exactly_one_incident_for_the_van_and_none_for_pedestrians(analysed):
    assert [(i["type"], i["zone"]) for i in analysed] == [("illegal_parking", "van")]
    inc = analysed[0]
    assert inc["class"] in ("truck", "car", "bus")
    # The van stands in the zone from the first frame: dwell of 20 s reached at about 20 s of media time.
    assert inc["started_at"] < 2.0 and 19.5 <= inc["confirmed_at"] <= 25.0
    x1, y1, x2, y2 = inc["box"]
    cx, bottom = (x1 + x2) / 2 / 768, y2 / 576
    assert 0.82 <= cx <= 0.97 and 0.05 <= bottom <= 0.20
    # The van stays to the end of the footage, so the incident ends at the last frame that saw it.
    assert inc["ended_at"] is not None and inc["ended_at"] > 70


def test_evidence_files_exist_with_recorded_hashes(analysed):
    import hashlib

    inc = analysed[0]
    for kind in ("snapshot", "snapshot_raw", "clip"):
        path = Path(inc["evidence"][kind])
        assert path.is_file() and path.stat().st_size > 1000, kind
    manifest = json.loads((Path(inc["evidence"]["clip"]).parent / "manifest.json").read_text())
    by_key = {item["key"]: item["sha256"] for item in manifest["objects"]}
    for kind in ("snapshot", "snapshot_raw", "clip"):
        path = Path(inc["evidence"][kind])
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in by_key.values(), kind


def test_clip_is_a_decodable_mp4_from_a_keyframe_of_about_pre_plus_post_roll(analysed):
    clip = Path(analysed[0]["evidence"]["clip"])
    with av.open(str(clip)) as c:
        assert "mp4" in c.format.name
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = list(c.decode(stream))
    assert frames[0].key_frame
    duration = float(frames[-1].pts * frames[-1].time_base) - float(frames[0].pts * frames[0].time_base)
    # The clip starts at the last keyframe at or before confirmation - pre-roll (2 s GOP).
    assert PRE + POST - 0.5 <= duration <= PRE + POST + 2.5
    assert len(frames) == pytest.approx(duration * 10 + 1, abs=2)  # 10 fps, every frame present


def test_pedestrian_only_zone_alone_gives_nothing(vtest_mp4, tmp_path):
    cfg = write_config(tmp_path, {"plaza": PLAZA_ZONE})
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["analyze", str(vtest_mp4), "--config", str(cfg)]) == 0
    assert json.loads(out.getvalue()) == []


def test_the_van_incident_keeps_the_embedding_of_its_snapshot_crop(analysed):
    import cv2
    import numpy as np

    from api.db import create_engine_for, make_session_factory
    from api.repository import IncidentRepository
    from vision.embedding import context_ring, object_crop, shared_embedder

    inc = analysed[0]
    snapshot = Path(inc["evidence"]["snapshot_raw"])
    db = next(p / "streetsight.db" for p in snapshot.parents if (p / "streetsight.db").is_file())
    engine = create_engine_for(f"sqlite:///{db}")
    try:
        stored = IncidentRepository(make_session_factory(engine)).embedding(inc["id"])
    finally:
        engine.dispose()
    assert stored is not None and stored.model.startswith("mobilenetv2-embed@") and stored.ring is not None
    # the vectors are those of the frame the snapshot shows (its JPEG differs from the frame a little)
    image = cv2.imread(str(snapshot), cv2.IMREAD_COLOR)
    crop, ring = shared_embedder().embed([object_crop(image, inc["box"]), context_ring(image, inc["box"])])
    assert float(stored.crop @ crop) > 0.95 and float(stored.ring @ ring) > 0.95
    assert float(stored.crop @ stored.ring) < 0.95 and abs(float(np.linalg.norm(stored.crop)) - 1) < 1e-2
