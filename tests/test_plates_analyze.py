"""A rendered plate read end to end: `streetsight analyze` on a close camera on vtest's parked van (the plate
rendered onto its rear) gives three timed snapshots, a vehicle close-up and the plate, in the JSON, the manifest,
the incident record (searchable by plate), the review UI's data and the case message sent to dispatch."""
from __future__ import annotations

import hashlib
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from sqlalchemy import select

from api.db import OutboxRecord
from datasets.plates import VAN_BOX, VAN_REGION, NoCjkFont, PlateSpec, cjk_font_path, parked_van_video
from streetsight.cli import main
from tests.api_env import ApiEnv
from tests.real_parts import missing_real_part
from tests.scenarios.fixtures import vtest_mp4  # noqa: F401 - a fixture

pytestmark = pytest.mark.samples

PLATE = PlateSpec("鄂A5B2C8", "blue")
VAN_ZONE = [[0.35, 0.3], [0.8, 0.3], [0.8, 0.95], [0.35, 0.95]]  # the van's kerb; the car at the right edge is out
MIN_DWELL_S = 6
DISPATCH = {"dispatch": {"min_confidence": 0.0, "rules": [{"department": "交警大队 traffic police",
                                                          "event_types": ["illegal_parking"]}]}}


@pytest.fixture(scope="module")
def run(vtest_mp4: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    try:
        cjk_font_path()
    except NoCjkFont as exc:
        missing_real_part(str(exc))
    tmp = tmp_path_factory.mktemp("plates")
    video = parked_van_video(vtest_mp4, tmp / "van.mp4", PLATE, plate_h=40)
    data = tmp / "data"
    cfg = tmp / "config.yaml"
    cfg.write_text(
        "sources:\n  - id: van\n    url: placeholder.mp4\n    analysis_fps: 2\n    zones:\n"
        f"      - id: kerb\n        events: [illegal_parking]\n        polygon: {json.dumps(VAN_ZONE)}\n"
        f"rules:\n  illegal_parking: {{min_dwell_s: {MIN_DWELL_S}}}\n"
        "evidence: {pre_roll_s: 1, post_roll_s: 1, snapshots: {count: 3}}\n"
        f"storage: {{data_dir: {data}}}\n", encoding="utf-8")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["analyze", str(video), "--config", str(cfg), "--json"]) == 0
    return {"incidents": json.loads(out.getvalue()), "data": data, "tmp": tmp, "video": video, "config": cfg}


def test_analyze_reports_the_plate_the_close_up_and_three_timed_snapshots(run: dict) -> None:
    [inc] = run["incidents"]
    assert inc["type"] == "illegal_parking" and inc["class"] in ("car", "truck", "bus")
    vehicle = inc["vehicle"]
    assert vehicle["plate"] == PLATE.text and vehicle["plate_valid"] and not vehicle["plate_uncertain"]
    assert 0.8 <= vehicle["plate_confidence"] <= 1.0
    assert Path(vehicle["crop"]).is_file() and vehicle["crop"] == inc["evidence"]["vehicle_crop"]
    shots = inc["evidence"]["snapshots"]
    # first sighting, mid-dwell, confirmation
    assert [s["at"] for s in shots] == [inc["started_at"], inc["started_at"] + MIN_DWELL_S / 2, inc["confirmed_at"]]
    assert inc["confirmed_at"] - inc["started_at"] == pytest.approx(MIN_DWELL_S, abs=0.6)
    assert all(Path(s["snapshot"]).is_file() for s in shots) and len({s["snapshot"] for s in shots}) == 3


def test_the_manifest_seals_the_snapshots_and_the_close_up(run: dict) -> None:
    [inc] = run["incidents"]
    manifest_path = Path(inc["evidence"]["snapshot"]).parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    sealed = {Path(o["key"]).name: o["sha256"] for o in manifest["objects"]}
    for name in ("snapshot_1.jpg", "snapshot_2.jpg", "snapshot_3.jpg", "vehicle_crop.jpg"):
        path = manifest_path.parent / name
        assert sealed[name] == hashlib.sha256(path.read_bytes()).hexdigest()
    snaps = manifest["incident"]["evidence"]["snapshots"]
    assert [s["at"] for s in snaps] == [s["at"] for s in inc["evidence"]["snapshots"]]
    assert [Path(s["snapshot"]).name for s in snaps] == ["snapshot_1.jpg", "snapshot_2.jpg", "snapshot_3.jpg"]
    assert manifest["incident"]["vehicle"]["plate"] == PLATE.text
    assert "extra" not in manifest["incident"] or "vehicle" not in manifest["incident"]["extra"]


def test_the_record_is_found_by_plate_and_its_case_carries_plate_and_snapshots(run: dict) -> None:
    # the API over analyze's records and evidence store (data/evidence)
    env = ApiEnv(run["data"], f"sqlite:///{run['data'] / 'streetsight.db'}", DISPATCH)
    try:
        reviewer = env.client()
        [inc] = run["incidents"]
        for query in ("鄂A5B2C8", "a5b2", "鄂A·5B2C8"):
            r = reviewer.get("/api/v1/incidents", params={"plate": query})
            assert r.status_code == 200 and [i["id"] for i in r.json()] == [inc["id"]], query
            assert r.headers["X-Total-Count"] == "1"
        assert reviewer.get("/api/v1/incidents", params={"plate": "京B"}).json() == []
        bad = reviewer.get("/api/v1/incidents", params={"plate": "<script>"})
        assert bad.status_code == 422 and "plate" in bad.text

        record = reviewer.get(f"/api/v1/incidents/{inc['id']}").json()
        assert record["vehicle"]["plate"] == PLATE.text and record["vehicle"]["plate_uncertain"] is False
        assert record["vehicle"]["crop"] == f"/api/v1/incidents/{inc['id']}/evidence/vehicle_crop"
        assert [s["at"] for s in record["snapshots"]] == [s["at"] for s in inc["evidence"]["snapshots"]]
        for shot, path in zip(record["snapshots"], inc["evidence"]["snapshots"]):
            served = reviewer.get(shot["snapshot"])
            assert served.status_code == 200 and served.content == Path(path["snapshot"]).read_bytes()
        assert reviewer.get(record["vehicle"]["crop"]).content == Path(inc["vehicle"]["crop"]).read_bytes()

        assert reviewer.post(f"/api/v1/incidents/{inc['id']}/review", json={"decision": "confirm"}).status_code == 200
        with env.sessions() as s:
            [message] = s.scalars(select(OutboxRecord)).all()
        assert message.payload["vehicle"]["plate"] == PLATE.text  # as stored in the outbox
        body = env.cases.render(message)  # as sent
        assert body["vehicle"]["plate"] == PLATE.text and body["vehicle"]["plate_confidence"] >= 0.8
        assert body["vehicle"]["crop"]["kind"] == "vehicle_crop"
        assert [s["snapshot"]["kind"] for s in body["snapshots"]] == ["snapshot_1", "snapshot_2", "snapshot_3"]
        assert [s["at"] for s in body["snapshots"]] == [s["at"] for s in inc["evidence"]["snapshots"]]
        assert f"车牌 {PLATE.text}" in body["description"]
    finally:
        env.close()


def test_eval_reports_plate_read_accuracy(run: dict) -> None:
    ann = run["tmp"] / "ann"
    ann.mkdir()
    scale = 6  # parked_van_video's default
    box = [(VAN_BOX[0] - VAN_REGION[0]) * scale, (VAN_BOX[1] - VAN_REGION[1]) * scale,
           (VAN_BOX[2] - VAN_REGION[0]) * scale, (VAN_BOX[3] - VAN_REGION[1]) * scale]
    event = {"id": "van", "type": "illegal_parking", "start_s": 0.0, "end_s": None, "box": box}
    (ann / "van.json").write_text(json.dumps({"video": "van.mp4", "source": "van", "events": [
        {**event, "plate": "鄂A·5B2C8"}]}, ensure_ascii=False), encoding="utf-8")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["eval", "--annotations", str(ann), "--videos", str(run["video"].parent),
                     "--config", str(run["config"]), "--out", str(run["tmp"] / "report"), "--json"]) == 0
    report = json.loads(out.getvalue())
    assert report["scores"]["illegal_parking"]["f1"] == 1.0
    assert report["plates"] == {"labelled": 1, "detected": 1, "read": 1, "exact": 1, "exact_rate": 1.0,
                                "uncertain": 0, "wrong": []}
    assert "1 of 1 labelled plates read exactly" in (run["tmp"] / "report" / "report.md").read_text("utf-8")

    # a wrong label is reported as a wrong read, with what was read
    (ann / "van.json").write_text(json.dumps({"video": "van.mp4", "source": "van", "events": [
        {**event, "plate": "鄂A5B2C9"}]}, ensure_ascii=False), encoding="utf-8")
    with redirect_stdout(io.StringIO()) as out:
        assert main(["eval", "--annotations", str(ann), "--videos", str(run["video"].parent),
                     "--config", str(run["config"]), "--out", str(run["tmp"] / "report2"), "--json"]) == 0
    plates = json.loads(out.getvalue())["plates"]
    assert plates["exact"] == 0 and plates["wrong"] == [{"event": "van", "truth": "鄂A5B2C9", "read": PLATE.text,
                                                          "uncertain": False}]
