"""`streetsight eval`: annotation readers (ours, Tianchi), event matching, and the command on rendered
scenarios and on the real vtest footage, with exact expectations."""
from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from streetsight.cli import main
from streetsight.evaluation.annotations import AnnotationError, LabelledEvent, load_annotation
from streetsight.evaluation.matching import FoundIncident, match_video, score
from tests.scenarios.fixtures import vtest_mp4  # noqa: F401 - a fixture

DATA = Path(__file__).parent / "data"


# -- readers and matching ---------------------------------------------------------------------------

def test_our_format_and_its_errors(tmp_path):
    p = tmp_path / "a.json"
    p.write_text(json.dumps({"video": "a.mp4", "events": [
        {"id": "x", "type": "illegal_parking", "start_s": 1, "end_s": None, "box": [1, 2, 30, 40]}]}))
    ann = load_annotation(p)
    assert ann.video == "a.mp4" and ann.events[0].end_s is None and ann.events[0].box_near(5) == (1, 2, 30, 40)
    p.write_text(json.dumps({"events": [{"type": "illegal_parking", "start_s": 5, "end_s": 2}]}))
    with pytest.raises(AnnotationError, match=r"events\[0\].end_s"):
        load_annotation(p)
    p.write_text(json.dumps({"events": [{"type": "illegal_parking", "start_s": 0, "box": [5, 5, 1, 1]}]}))
    with pytest.raises(AnnotationError, match=r"events\[0\].box"):
        load_annotation(p)


def test_tianchi_layout_groups_frames_into_events(tmp_path):
    p = tmp_path / "v.json"
    entries = [{"frame_id": f, "event_id": 1, "category": "机动车违停", "bbox": [10, 10, 50, 40]} for f in range(50, 301, 25)]
    entries += [{"frame_id": 100, "event_id": 2, "category": "垃圾桶满溢", "bbox": [100, 100, 120, 140]},
                {"frame_id": 150, "event_id": 2, "category": "垃圾桶满溢", "bbox": [100, 101, 120, 141]},
                {"frame_id": 10, "event_id": 3, "category": "沿街晾晒", "bbox": [0, 0, 5, 5]}]
    p.write_text(json.dumps(entries, ensure_ascii=False))
    ann = load_annotation(p, fps_of_video=lambda stem: 25.0)
    events = {e.id: e for e in ann.events}
    assert set(events) == {"1", "2"} and ann.unknown_categories == {"沿街晾晒"}
    assert (events["1"].type, events["1"].start_s, events["1"].end_s) == ("illegal_parking", 2.0, 12.0)
    assert events["2"].type == "overflowing_bin" and events["2"].box_near(5.9) == (100, 101, 120, 141)
    p.write_text(json.dumps([{"frame_id": 1, "event_id": 1, "category": "机动车违停"}]))
    with pytest.raises(AnnotationError, match=r"\[0\].bbox: missing"):
        load_annotation(p, fps_of_video=lambda stem: 25.0)


def inc(t, start, confirmed, end, box):
    return FoundIncident("v", t, start, confirmed, end, box)


def test_matching_is_one_to_one_by_type_time_and_box():
    ev = [LabelledEvent("car", "illegal_parking", 10, 50, [(10, (100, 100, 200, 180))]),
          LabelledEvent("bin", "overflowing_bin", 0, 20, [(0, (300, 50, 340, 120))])]
    found = [inc("illegal_parking", 11, 26, 49, (105, 98, 198, 182)),   # TP, TTD 16
             inc("illegal_parking", 30, 45, 49, (105, 98, 198, 182)),   # the same car again: FP
             inc("illegal_parking", 11, 26, 49, (500, 98, 598, 182)),   # elsewhere: FP
             inc("debris_spill", 1, 11, 15, (300, 50, 340, 120)),       # wrong type: FP
             inc("overflowing_bin", 40, 50, 60, (300, 50, 340, 120))]   # after the bin was emptied: FP
    r = match_video("v", found, ev, 60)
    s = score([r], ["illegal_parking", "overflowing_bin", "debris_spill"])
    assert (s["illegal_parking"].tp, s["illegal_parking"].fp, s["illegal_parking"].fn) == (1, 2, 0)
    assert (s["overflowing_bin"].tp, s["overflowing_bin"].fp, s["overflowing_bin"].fn) == (0, 1, 1)
    assert s["illegal_parking"].ttd == [16] and s["all"].precision == 0.2 and s["all"].recall == 0.5
    alone = match_video("v", [inc("illegal_parking", 11, 26, 49, (500, 98, 598, 182))], ev[:1], 60)
    assert alone.matches == [] and len(alone.false_positives) == 1 and len(alone.missed) == 1


# -- the command on rendered scenarios and on vtest ----------------------------------------------------

@pytest.fixture(scope="session")
def model_scenarios(vtest_mp4, tmp_path_factory) -> Path:
    from tests.scenarios.catalog import MODEL_SCENARIOS, render_all

    return render_all(tmp_path_factory.mktemp("model-scenarios"), str(vtest_mp4), MODEL_SCENARIOS)


@pytest.fixture(scope="session")
def scripted_scenarios(vtest_mp4, tmp_path_factory) -> Path:
    from tests.scenarios.catalog import SCRIPTED_SCENARIOS, render_all

    return render_all(tmp_path_factory.mktemp("scripted-scenarios"), str(vtest_mp4), SCRIPTED_SCENARIOS)


def run_eval(annotations: Path, videos: Path, config: Path, out: Path, *extra: str) -> dict:
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["eval", "--annotations", str(annotations), "--videos", str(videos), "--config", str(config),
                     "--out", str(out), "--json", *extra]) == 0
    return json.loads(buf.getvalue())


def by_video(report: dict) -> dict:
    return {v["video"]: v for v in report["videos"]}


@pytest.mark.samples
def test_eval_rendered_scenarios_with_the_real_detector(model_scenarios, tmp_path):
    """NanoDet sees the van and the walkers; the bag and the bin come from the class-agnostic parts."""
    report = run_eval(model_scenarios, model_scenarios, model_scenarios / "config.yaml", tmp_path / "out")
    s = report["scores"]
    for t in ("illegal_parking", "debris_spill", "overflowing_bin"):
        assert (s[t]["tp"], s[t]["fp"], s[t]["fn"]) == (1, 0, 0), t
    v = by_video(report)
    assert v["brief_and_moving"]["false_positives"] == [] and v["brief_and_moving"]["matches"] == []
    van = v["parked_van"]["matches"][0]  # appears at 5 s, leaves at 45 s; dwell 15 s
    assert 5.0 <= van["started_at"] <= 6.0 and van["confirmed_at"] == van["started_at"] + 15
    assert 44.0 <= van["ended_at"] < 45.0
    bag = v["dumped_bag"]["matches"][0]  # dumped at 10 s, static after 4 s, dwell 10 s, taken at 45 s
    assert 13.5 <= bag["started_at"] <= 15.0 and bag["confirmed_at"] == bag["started_at"] + 10
    assert 44.0 <= bag["ended_at"] < 45.0
    bin_ = v["bin_overflow"]["matches"][0]  # full at 20 s, someone in front at 30-34 s, emptied at 50 s
    assert bin_["started_at"] == 20.0 and bin_["confirmed_at"] == 34.0 and 49.0 <= bin_["ended_at"] < 50.0
    out = tmp_path / "out"
    for name in ("report.md", "report.json", "scores.png", "time_to_detection.png", "timelines.png"):
        assert (out / name).stat().st_size > 500, name
    assert "| illegal_parking | 1 | 0 | 0 | 1.00 | 1.00 | 1.00 |" in (out / "report.md").read_text()


@pytest.mark.samples
def test_eval_scripted_vending_bikes_and_night_market(scripted_scenarios, tmp_path):
    """Scripted detections (no footage of stalls or bicycles): rule logic through the whole pipeline."""
    report = run_eval(scripted_scenarios, scripted_scenarios, scripted_scenarios / "config.yaml", tmp_path / "o",
                      "--detections", str(scripted_scenarios))
    s = report["scores"]
    assert (s["street_vending"]["tp"], s["street_vending"]["fp"], s["street_vending"]["fn"]) == (2, 0, 0)
    assert (s["non_motor_parking"]["tp"], s["non_motor_parking"]["fp"]) == (1, 0)
    v = by_video(report)
    night = v["night_market"]["matches"][0]
    assert night["started_at"] == 30.0 and night["confirmed_at"] == 50.0  # the market closes at 23:00
    vendor = next(m for m in v["vending_and_bikes"]["matches"] if m["type"] == "street_vending")
    # the tracker confirms a new track on its second frame: the clock starts at 5.0 or 5.5 s
    assert 5.0 <= vendor["started_at"] <= 5.5 and vendor["confirmed_at"] == vendor["started_at"] + 20
    assert vendor["ended_at"] == 49.5


@pytest.mark.samples
def test_eval_accepts_the_tianchi_layout(scripted_scenarios, tmp_path):
    ann = json.loads((scripted_scenarios / "vending_and_bikes.json").read_text())
    names = {"street_vending": "违法经营", "non_motor_parking": "非机动车违停"}
    entries = [{"frame_id": f, "event_id": k, "category": names[e["type"]], "bbox": e["box"]}
               for k, e in enumerate(ann["events"]) for f in range(int(e["start_s"] * 10), int(e["end_s"] * 10), 10)]
    folder = tmp_path / "tianchi"
    folder.mkdir()
    (folder / "vending_and_bikes.json").write_text(json.dumps(entries, ensure_ascii=False))
    report = run_eval(folder, scripted_scenarios, scripted_scenarios / "config.yaml", tmp_path / "o",
                      "--detections", str(scripted_scenarios))
    assert report["scores"]["all"]["precision"] == 1.0 and report["scores"]["all"]["recall"] == 1.0


@pytest.mark.samples
def test_eval_vtest_two_parked_vehicles_and_the_litter_on_the_lawn(vtest_mp4, tmp_path):
    annotations = tmp_path / "ann"
    annotations.mkdir()
    shutil.copy(DATA / "vtest_events.json", annotations / "vtest.json")
    shutil.copy(DATA / "vtest_eval.yaml", tmp_path / "vtest_eval.yaml")
    report = run_eval(annotations, vtest_mp4.parent, tmp_path / "vtest_eval.yaml", tmp_path / "out")
    s = report["scores"]
    assert (s["illegal_parking"]["tp"], s["illegal_parking"]["fp"], s["illegal_parking"]["fn"]) == (2, 0, 0)
    assert (s["debris_spill"]["tp"], s["debris_spill"]["fp"], s["debris_spill"]["fn"]) == (2, 0, 0)
    assert set(s) == {"illegal_parking", "debris_spill", "all"}  # no vending or bikes on the plaza
    matches = {m["event"]: m for m in report["videos"][0]["matches"]}
    assert 20.0 <= matches["white-van"]["confirmed_at"] <= 21.0
    assert 23.5 <= matches["yellow-cloth"]["confirmed_at"] <= 25.0  # static after 4 s, then 20 s dwell


def test_eval_reports_a_missing_folder_and_bad_annotation(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources: [{id: a, url: a.mp4}]\n")
    assert main(["eval", "--annotations", str(tmp_path / "nope"), "--videos", str(tmp_path), "--config",
                 str(cfg)]) == 2
    assert "--annotations: no such folder" in capsys.readouterr().err
    (tmp_path / "a.json").write_text("{not json")
    assert main(["eval", "--annotations", str(tmp_path), "--videos", str(tmp_path), "--config", str(cfg)]) == 2
    assert "a.json: not readable JSON" in capsys.readouterr().err
