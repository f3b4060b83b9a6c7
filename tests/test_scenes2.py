"""The issue-15 scenes of stream scenes2: mobile_vending, street_drying, illegal_advertising and
uncovered_muck_truck. Rule logic on exact detections, the shape and state judgements on drawn objects, and
`streetsight eval` on the rendered scenarios (F1 = 1.0, and each negative scenario gives no incident)."""
from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
import yaml

from datasets.synthetic.objects import draw_debris_pile
from datasets.synthetic.scene_objects import draw_ad_sign, draw_laundry, draw_muck_truck
from detectors.context import FrameContext
from streetsight import event_types
from streetsight.cli import main
from streetsight.config import ConfigError, load_config, parse_config
from streetsight.rules import build_rules
from tests.scenarios.fixtures import vtest_mp4  # noqa: F401 - a fixture
from tests.scenarios.scenes2 import MODEL_SCENES, SCRIPTED_SCENES, as_sprite, render_scenes
from vision.bin_state import BinStateClassifier
from vision.static_objects import StaticBlob
from vision.static_shapes import ShapeFilter

NEW_TYPES = ("mobile_vending", "street_drying", "illegal_advertising", "uncovered_muck_truck")


def test_each_type_is_registered_with_taxonomy_and_configurable():
    cfg = parse_config({"sources": [], "taxonomy": {"illegal_advertising": {"local_code": "0203"}}})
    labels = {t: cfg.taxonomy.for_type(t) for t in NEW_TYPES}
    assert [labels[t].category for t in NEW_TYPES] == ["05", "01", "02", "01"]
    assert (labels["mobile_vending"].zh, labels["street_drying"].zh, labels["illegal_advertising"].zh,
            labels["uncovered_muck_truck"].zh) == ("无照游商", "沿街晾晒", "违规户外广告", "渣土车未苫盖")
    assert labels["illegal_advertising"].local_code == "0203" and labels["illegal_advertising"].category_zh == "宣传广告"
    assert all(event_types.get(t).own_candidates for t in NEW_TYPES)
    assert cfg.rules.for_type("uncovered_muck_truck").classes == ["truck", "muck_truck"]
    with pytest.raises(ConfigError, match=r"rules.mobile_vending.min_stops"):
        parse_config({"sources": [], "rules": {"mobile_vending": {"min_stops": 0}}})
    with pytest.raises(ConfigError, match=r"rules.uncovered_muck_truck.bed"):
        parse_config({"sources": [], "rules": {"uncovered_muck_truck": {"bed": [0, 0.6, 1, 0.2]}}})


def test_a_muck_truck_zone_without_its_labelled_crops_names_the_folder(tmp_path):
    (tmp_path / "ex" / "uncovered").mkdir(parents=True)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump({"sources": [{"id": "cam", "url": "x.mp4", "zones": [
        {"id": "road", "events": ["uncovered_muck_truck"], "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}]}],
        "rules": {"uncovered_muck_truck": {"examples_dir": "ex"}}}))
    cfg = load_config(cfg_file)
    with pytest.raises(ConfigError, match=r"uncovered_muck_truck.examples_dir: .*ex/uncovered: no labelled crops"):
        build_rules(cfg.sources[0], cfg)


# -- mobile vending: rule logic on exact detections ---------------------------------------------------------

def _vendor_rule(**rules):
    cfg = parse_config({"sources": [{"id": "cam", "url": "x.mp4", "zones": [
        {"id": "street", "events": ["mobile_vending"], "polygon": [[0, 0.3], [1, 0.3], [1, 0.9], [0, 0.9]]}]}],
        "rules": {"mobile_vending": {"min_stops": 2, "min_stop_s": 6, "leave_after_s": 3, **rules}}})
    return build_rules(cfg.sources[0], cfg)[0]


def _run(rule, xs, person=True, until=40.0):
    """Feed 2 fps of a cart at x(t) (None: gone), with a person beside it when ``person``."""
    opened, ended = [], []
    for k in range(int(until * 2)):
        t = k / 2
        x = xs(t)
        boxes, names = [], []
        if x is not None:
            boxes.append([x + 34, 320, x + 94, 370])
            names.append("bicycle")
            if person:
                boxes.append([x, 280, x + 32, 370])
                names.append("person")
        dets = sv.Detections(xyxy=np.array(boxes, np.float32).reshape(-1, 4), confidence=np.full(len(boxes), 0.7, np.float32),
                             class_id=np.zeros(len(boxes), int), tracker_id=np.arange(1, len(boxes) + 1),
                             data={"class_name": np.array(names, dtype=object)})
        for e in rule.observe(FrameContext(t, 768, 576), dets):
            (opened if e.kind == "opened" else ended).append(e.incident)
    ended += [e.incident for e in rule.finish()]
    return opened, ended


def _path(points):
    def x(t):
        if t < points[0][0] or t > points[-1][0]:
            return None
        return float(np.interp(t, [p[0] for p in points], [p[1] for p in points]))
    return x


def test_a_vendor_who_stops_twice_is_one_incident_from_the_first_stop():
    opened, ended = _run(_vendor_rule(), _path([(3, 40), (8, 140), (18, 140), (22, 330), (34, 330), (38, 520)]))
    assert len(opened) == 1 and len(ended) == 1
    inc = opened[0]
    assert inc.type == "mobile_vending" and inc.class_name == "bicycle+person"
    assert 8.0 <= inc.started_at <= 9.0  # the first stop
    assert 28.0 <= inc.confirmed_at <= 29.5  # the second stop lasted min_stop_s
    assert inc.ended_at == 38.0


def test_one_brief_stop_and_stops_without_a_person_are_not_mobile_vending():
    delivery = _path([(4, 40), (10, 200), (22, 200), (28, 600)])
    assert _run(_vendor_rule(), delivery) == ([], [])
    two_stops = _path([(3, 40), (8, 140), (18, 140), (22, 330), (34, 330), (38, 520)])
    assert _run(_vendor_rule(), two_stops, person=False) == ([], [])  # a parked bike moved once is no vendor
    assert _run(_vendor_rule(min_stops=3), two_stops) == ([], [])
    # one long stay is enough on its own
    opened, _ = _run(_vendor_rule(min_dwell_s=10), delivery)
    assert len(opened) == 1 and 20.0 <= opened[0].confirmed_at <= 21.0


# -- shapes, colours and states of the drawn objects ------------------------------------------------------

def _blob_on_grey(sprite):
    """The sprite on a grey pavement and the blob a static-object detector would report for it."""
    h, w = sprite.mask.shape
    img = np.full((h + 20, w + 20, 3), 120, np.uint8)
    m = sprite.mask[..., None]
    img[10:10 + h, 10:10 + w] = (m * sprite.image + (1 - m) * img[10:10 + h, 10:10 + w]).astype(np.uint8)
    area = float((sprite.mask > 0.5).sum()) / (img.shape[0] * img.shape[1])
    return StaticBlob((10, 10, 10 + w, 10 + h), area, 0.9), img


@pytest.mark.parametrize("seed", range(5))
def test_shape_and_colour_tell_laundry_signs_and_litter_apart(seed):
    rng = np.random.default_rng(seed)
    drying = ShapeFilter(min_saturation=60, max_fill=0.95)
    sign = ShapeFilter(min_fill=0.8)
    laundry = _blob_on_grey(as_sprite(draw_laundry(rng)))
    board = _blob_on_grey(as_sprite(draw_ad_sign(rng)))
    rubble = _blob_on_grey(as_sprite(draw_debris_pile(rng)))
    assert drying.keeps(*laundry) and not sign.keeps(*laundry), drying.measure(*laundry)
    assert sign.keeps(*board), sign.measure(*board)
    assert not sign.keeps(*rubble), sign.measure(*rubble)


def test_the_bed_state_classifier_learns_covered_from_a_few_crops():
    def bed(covered, seed):
        s = as_sprite(draw_muck_truck(np.random.default_rng(seed), covered=covered, k=1.0))
        return s.image[: int(0.6 * s.image.shape[0])]
    crops = [bed(c, s) for c in (False, True) for s in range(4)]
    clf = BinStateClassifier().fit(crops, [not c for c in (False, True) for _ in range(4)])
    assert all(clf.probability_full(bed(False, s)) > 0.6 for s in range(100, 106))
    assert all(clf.probability_full(bed(True, s)) < 0.4 for s in range(100, 106))


# -- `streetsight eval` on the rendered scenarios ----------------------------------------------------------

def run_eval(annotations: Path, videos: Path, config: Path, out: Path, *extra: str) -> dict:
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["eval", "--annotations", str(annotations), "--videos", str(videos), "--config", str(config),
                     "--out", str(out), "--json", *extra]) == 0
    return json.loads(buf.getvalue())


def _tp_fp_fn(report, t):
    s = report["scores"][t]
    return s["tp"], s["fp"], s["fn"]


@pytest.fixture(scope="module")
def model_scenes(vtest_mp4, tmp_path_factory) -> Path:
    return render_scenes(tmp_path_factory.mktemp("scenes2-model"), str(vtest_mp4), MODEL_SCENES)


@pytest.fixture(scope="module")
def scripted_scenes(vtest_mp4, tmp_path_factory) -> Path:
    return render_scenes(tmp_path_factory.mktemp("scenes2-scripted"), str(vtest_mp4), SCRIPTED_SCENES)


@pytest.mark.samples
def test_eval_drying_and_advertising_with_the_real_detector(model_scenes, tmp_path):
    """Laundry on the rail and a standing sign are found; a bag at the rail and rubble where a sign might
    stand are not (the walker passing in front is a person, NanoDet's, so not a static object)."""
    report = run_eval(model_scenes, model_scenes, model_scenes / "config.yaml", tmp_path / "out")
    assert _tp_fp_fn(report, "street_drying") == (1, 0, 0)
    assert _tp_fp_fn(report, "illegal_advertising") == (1, 0, 0)
    assert report["scores"]["all"]["precision"] == 1.0 and report["scores"]["all"]["recall"] == 1.0
    v = {x["video"]: x for x in report["videos"]}
    for negative in ("bag_on_rail", "rubble_by_sign_spot"):
        assert v[negative]["matches"] == [] and v[negative]["false_positives"] == []
    for name in ("laundry_on_rail", "standing_sign"):  # there 5-32 s; static after 4 s; dwell 10 s
        m = v[name]["matches"][0]
        assert 9.0 <= m["started_at"] <= 12.0 and m["confirmed_at"] == m["started_at"] + 10, m
        assert 31.0 <= m["ended_at"] < 32.0


@pytest.mark.samples
def test_without_the_shape_and_colour_constraints_the_negatives_would_be_found(model_scenes, tmp_path):
    """What keeps the bag and the rubble out is the scene's shape/colour filter, not a blind detector."""
    cfg = yaml.safe_load((model_scenes / "config.yaml").read_text())
    cfg["rules"]["street_drying"].update(min_saturation=0, max_fill=1)
    cfg["rules"]["illegal_advertising"].update(min_fill=0)
    (model_scenes / "nofilter.yaml").write_text(yaml.safe_dump(cfg))
    ann = tmp_path / "ann"
    ann.mkdir()
    for name in ("bag_on_rail", "rubble_by_sign_spot"):
        shutil.copy(model_scenes / f"{name}.json", ann)
    report = run_eval(ann, model_scenes, model_scenes / "nofilter.yaml", tmp_path / "out")
    assert _tp_fp_fn(report, "street_drying") == (0, 1, 0)
    assert _tp_fp_fn(report, "illegal_advertising") == (0, 1, 0)


@pytest.mark.samples
def test_eval_mobile_vendor_and_muck_trucks_on_scripted_detections(scripted_scenes, tmp_path):
    report = run_eval(scripted_scenes, scripted_scenes, scripted_scenes / "config.yaml", tmp_path / "out",
                      "--detections", str(scripted_scenes))
    assert _tp_fp_fn(report, "mobile_vending") == (1, 0, 0)
    assert _tp_fp_fn(report, "uncovered_muck_truck") == (1, 0, 0)
    v = {x["video"]: x for x in report["videos"]}
    for negative in ("delivery_stop", "covered_truck"):
        assert v[negative]["matches"] == [] and v[negative]["false_positives"] == []
    vendor = v["mobile_vendor"]["matches"][0]  # stops at 8-18 s and 22-34 s, gone at 38 s
    assert 8.0 <= vendor["started_at"] <= 9.0 and 28.0 <= vendor["confirmed_at"] <= 29.5
    assert 37.0 <= vendor["ended_at"] < 38.0
    truck = v["uncovered_truck"]["matches"][0]  # drives through 5-25 s: 3 of 5 frames judged uncovered
    assert 5.0 <= truck["started_at"] <= 6.0 and truck["confirmed_at"] == truck["started_at"] + 1.0
    assert 24.0 <= truck["ended_at"] < 25.0


def test_the_camera_verifier_mutes_drying_a_reviewer_rejected_there_and_nowhere_else():
    """A reviewer rejects laundry at one place (e.g. a shop's own awning cloth): the same cloth there again is
    suppressed; the same cloth at another place is kept (vision/verifier.py, applied to every incident type)."""
    from vision.embedding import shared_embedder
    from vision.verifier import CameraVerifier, Candidate, Example

    cloth = as_sprite(draw_laundry(np.random.default_rng(3)))
    _, img = _blob_on_grey(cloth)
    darker = np.clip(img.astype(np.float32) * 0.85 + np.random.default_rng(1).normal(0, 3, img.shape), 0, 255)
    first, again = shared_embedder().embed([img, darker.astype(np.uint8)])
    here, there = (0.1, 0.2, 0.35, 0.35), (0.6, 0.2, 0.85, 0.35)
    verifier = CameraVerifier(examples=[Example("inc_1", "street_drying", first, here, "rejected", "not_violation")])
    assert verifier.judge(Candidate("street_drying", again, here)).action == "suppress"
    assert verifier.judge(Candidate("street_drying", again, there)).action == "keep"
    assert verifier.judge(Candidate("illegal_advertising", again, here)).action == "keep"
