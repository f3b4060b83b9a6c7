"""Rendered scenarios for `streetsight eval --learning` (issue 14, item 7): mistakes specific to a camera and a
place, repeated day after day, beside real violations; each camera is filmed on two days.

- ``fixture_debris``: a utility cabinet stands on the lawn, judged for debris against the clean grass, so it is
  reported as debris every day; a bag dumped at a different spot each day is real.
- ``tricycle_stall``: a delivery tricycle parks at the same kerb every day with its rider beside it, which the
  vending rule takes for a tricycle stall; a table stall with its vendor is real.
- ``shadow_bin``: a tree's dappled shade falls over the camera's bin in the morning, dark leaf blobs on its rim,
  and the bin-state classifier (trained on this camera's examples in daylight) calls it full; later the bin
  really overflows.

Which detections: every scene is replayed from ``*.detections.json``, the boxes the renderer drew (the COCO model
sees neither tricycles nor stalls here). The cabinet, the bags and the bin state come from the class-agnostic
parts and the bin classifier on the rendered pixels, and the embeddings from the rendered pixels too.
Each day is one video ``<scenario>-day<N>.mp4`` with its annotation (``source`` = the camera, ``media_start`` =
the day), so the learning replay orders them in time.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from datasets.synthetic.draw import Sprite as Drawing
from datasets.synthetic.draw import bgr
from datasets.synthetic.objects import draw_vendor_stall
from tests.media import first_seconds
from tests.scenarios.catalog import BIN_BOX, _norm, bin_sprite, write_bin_examples
from tests.scenarios.render import (Actor, Scene, Sprite, bag_sprite, person_sprites, plate, scripted_frames, still,
                                    write_scenario)

SECONDS = 45.0
DAYS = (1, 2)
CABINET_AT = (300, 300)  # top-left, on the lawn
BAG_AT = {1: (250, 360), 2: (330, 380)}  # a different spot each day
TRICYCLE_BOX = {1: [560, 250, 650, 310], 2: [563, 252, 653, 312]}  # parked at the same kerb, give or take
RIDER_BOX = {1: [652, 230, 680, 312], 2: [655, 232, 683, 314]}
STALL_BOX = [200, 250, 300, 320]  # the stall's table and goods
VENDOR_BOX = [300, 232, 328, 320]

CONFIG = f"""
sources:
  - id: fixture_debris
    url: fixture_debris-day1.mp4
    zones:
      - id: lawn
        events: [debris_spill]
        polygon: [[0.30, 0.50], [0.50, 0.50], [0.50, 0.72], [0.30, 0.72]]
        rules: {{debris_spill: {{baseline: surface}}}}
  - id: tricycle_stall
    url: tricycle_stall-day1.mp4
    zones:
      - {{id: pavement, events: [street_vending], polygon: [[0.2, 0.35], [0.9, 0.35], [0.9, 0.6], [0.2, 0.6]]}}
  - id: shadow_bin
    url: shadow_bin-day1.mp4
    zones:
      - id: bin-1
        events: [overflowing_bin]
        polygon: {_norm(BIN_BOX)}
        rules: {{overflowing_bin: {{examples_dir: bin_examples}}}}
rules:
  debris_spill: {{min_dwell_s: 10, leave_after_s: 5}}
  street_vending: {{min_dwell_s: 15, leave_after_s: 5}}
  overflowing_bin: {{min_dwell_s: 10, leave_after_s: 5, max_gap_s: 6, cooldown_s: 1}}
evidence: {{pre_roll_s: 2, post_roll_s: 2}}
"""


def _sprite(drawing: Drawing, height: int) -> Sprite:
    """A datasets/synthetic drawing as a scene sprite of ``height`` pixels."""
    image = np.clip(drawing.rgb * 255, 0, 255).astype(np.uint8)
    return Sprite(image, drawing.alpha.astype(np.float32)).scaled(height / drawing.h)


def cabinet_sprite(seed: int) -> Sprite:
    """A grey-green street utility cabinet (电箱) with its doors and a warning label."""
    rng = np.random.default_rng(seed)
    d = Drawing(34, 52)
    body = bgr("#6b7f6a")
    d.poly([(2, 8), (32, 8), (32, 50), (2, 50)], body, shade=d.hgrad(2, 32, 1.05, 0.8), texture=0.04, rng=rng)
    d.poly([(1, 4), (33, 4), (33, 9), (1, 9)], np.asarray(body) * 0.75)  # the roof
    d.line([(17, 10), (17, 48)], np.asarray(body) * 0.6, 1)  # between the doors
    d.poly([(8, 16), (14, 16), (14, 22), (8, 22)], bgr("#f9c80e"))  # the high-voltage label
    d.line([(3, 50), (31, 50)], (0.15, 0.15, 0.15), 2)  # the plinth
    return _sprite(d, 52)


def delivery_tricycle_sprite(box: list[float]) -> Sprite:
    """A closed cargo tricycle (a delivery company's blue box on three wheels), no goods on show."""
    d = Drawing(180, 120)
    blue = bgr("#1e5bb8")
    d.ellipse((30, 104), (12, 14), (0.06, 0.06, 0.06))
    d.ellipse((100, 104), (12, 14), (0.06, 0.06, 0.06))
    d.ellipse((160, 104), (12, 14), (0.06, 0.06, 0.06))
    d.poly([(10, 20), (120, 20), (120, 92), (10, 92)], blue, shade=d.vgrad(20, 92, 1.05, 0.8))
    d.poly([(10, 20), (120, 20), (112, 10), (18, 10)], np.asarray(blue) * 0.6)
    d.poly([(30, 44), (100, 44), (100, 60), (30, 60)], bgr("#ffd400"))  # the company's stripe
    d.line([(120, 90), (160, 104)], (0.12, 0.12, 0.12), 4)
    d.line([(160, 104), (150, 30)], (0.12, 0.12, 0.12), 4)
    d.line([(138, 28), (168, 26)], (0.12, 0.12, 0.12), 3)  # handlebar
    x1, y1, x2, y2 = box
    return Sprite(np.clip(d.rgb * 255, 0, 255).astype(np.uint8), d.alpha).scaled((x2 - x1) / d.w)


def stall_sprite(box: list[float]) -> Sprite:
    drawing = draw_vendor_stall(np.random.default_rng(11))
    x1, y1, x2, y2 = box
    return _sprite(drawing, int(y2 - y1))


def _annotate(out: Path, name: str, source: str, day: int) -> None:
    path = out / f"{name}.json"
    data = json.loads(path.read_text())
    data.update(source=source, media_start=f"2026-05-0{day}T09:00:00+08:00")
    path.write_text(json.dumps(data, indent=1))


def _box_of(sprite: Sprite, at: tuple[int, int]) -> list[float]:
    h, w = sprite.mask.shape
    return [at[0], at[1], at[0] + w, at[1] + h]


def fixture_debris(out: Path, vtest: str, day: int) -> None:
    name = f"fixture_debris-day{day}"
    cabinet, bag = cabinet_sprite(day), bag_sprite(20 + day)
    scene = Scene(plate(vtest), [Actor(cabinet, still(*CABINET_AT), 0, SECONDS + 1),
                                 Actor(bag, still(*BAG_AT[day]), 8, SECONDS + 1)], seed=100 + day)
    write_scenario(out, name, scene, SECONDS, [
        {"id": f"bag-day{day}", "type": "debris_spill", "start_s": 8.0, "end_s": None,
         "box": _box_of(bag, BAG_AT[day])}], detections=scripted_frames(SECONDS, 10, []))
    _annotate(out, name, "fixture_debris", day)


def tricycle_stall(out: Path, vtest: str, day: int) -> None:
    name = f"tricycle_stall-day{day}"
    rider, vendor = person_sprites(vtest)[0], person_sprites(vtest)[2]
    tricycle = delivery_tricycle_sprite(TRICYCLE_BOX[day])
    stall = stall_sprite(STALL_BOX)
    t_at = (TRICYCLE_BOX[day][0], TRICYCLE_BOX[day][1])
    stall_at = (STALL_BOX[0], STALL_BOX[3] - stall.mask.shape[0])
    actors = [Actor(tricycle, still(*t_at), 3, 38), Actor(rider.scaled(0.85), still(*RIDER_BOX[day][:2]), 3, 38),
              Actor(stall, still(*stall_at), 5, SECONDS + 1),
              Actor(vendor.scaled(0.85), still(*VENDOR_BOX[:2]), 5, SECONDS + 1)]
    th, tw = tricycle.mask.shape
    tricycle_box = [t_at[0], t_at[1], t_at[0] + tw, t_at[1] + th]
    sh, sw = stall.mask.shape
    table_box = [stall_at[0], stall_at[1], stall_at[0] + sw, stall_at[1] + sh]
    objects = [{"class": "bicycle", "score": 0.55, "t0": 3, "t1": 38, "box": tricycle_box},  # the tricycle
               {"class": "person", "score": 0.8, "t0": 3, "t1": 38, "box": RIDER_BOX[day]},
               {"class": "dining table", "score": 0.6, "t0": 5, "t1": SECONDS + 1, "box": table_box},
               {"class": "person", "score": 0.8, "t0": 5, "t1": SECONDS + 1, "box": VENDOR_BOX}]
    write_scenario(out, name, Scene(plate(vtest), actors, seed=200 + day), SECONDS, [
        {"id": f"stall-day{day}", "type": "street_vending", "start_s": 5.0, "end_s": None, "box": table_box}],
        detections=scripted_frames(SECONDS, 10, objects))
    _annotate(out, name, "tricycle_stall", day)


def shadow_sprite(day: int, light: float = 0.3, leaves: int = 20) -> Sprite:
    """A tree's dappled shade over the bin's rim and the wall behind it: dark leaf blobs where bags would be
    (the leaves fall differently each day). ``light``: the fraction of light left under a leaf."""
    rng = np.random.default_rng(40 + day)
    x1, y1, x2, y2 = BIN_BOX
    w, h = (x2 - x1) + 40, (y2 - y1) + 30
    mask = np.zeros((h, w), np.float32)
    for _ in range(leaves):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, int(h * 0.6))))
        axes = (int(rng.integers(5, 14)), int(rng.integers(4, 9)))
        cv2.ellipse(mask, centre, axes, float(rng.integers(0, 180)), 0, 360, 1.0, -1)
    return Sprite(np.zeros((h, w, 3), np.uint8), cv2.GaussianBlur(mask, (7, 7), 0) * (1.0 - light))


def shadow_bin(out: Path, vtest: str, day: int) -> None:
    """Empty bin; the shade falls over it at 3-18 s; the bin overflows from 24 s to the end."""
    name = f"shadow_bin-day{day}"
    x1, y1, x2, y2 = BIN_BOX
    empty, full = bin_sprite(False, 10 + day), bin_sprite(True, 20 + day)
    scene = Scene(plate(vtest), [Actor(empty, still(x1, y1), 0, 24), Actor(full, still(x1, y1), 24, SECONDS + 1),
                                 Actor(shadow_sprite(day), still(x1 - 20, y1 - 15), 3, 18)],
                  seed=300 + day)
    if day == 1:
        write_bin_examples(out / "bin_examples", vtest)
    write_scenario(out, name, scene, SECONDS, [
        {"id": f"full-day{day}", "type": "overflowing_bin", "start_s": 24.0, "end_s": None, "box": list(BIN_BOX)}],
        detections=scripted_frames(SECONDS, 10, []))
    _annotate(out, name, "shadow_bin", day)


# -- the vtest street (the issue's own case) ---------------------------------------------------------------------

VTEST_SECONDS = 46.0  # litter confirmed at 24 s, the sign at 41.5 s (20 s dwell); the rest adds nothing
VTEST_CONFIG = """
sources:
  - id: vtest
    url: vtest_46s.mp4
    analysis_fps: 2
    zones:
      - id: plaza
        events: [debris_spill]
        polygon: [[0.30, 0.35], [0.75, 0.35], [0.75, 0.75], [0.30, 0.75]]
        rules: {debris_spill: {baseline: surface}}
      - id: lawn
        events: [debris_spill]
        polygon: [[0.0, 0.60], [0.50, 0.60], [0.56, 0.72], [0.56, 1.0], [0.0, 1.0]]
        rules: {debris_spill: {baseline: surface}}
rules:
  debris_spill: {min_dwell_s: 20}
evidence: {pre_roll_s: 2, post_roll_s: 2}
"""
VTEST_LITTER = [  # as tests/data/vtest_events.json labels them; the fire assembly-point sign is no debris
    {"id": "yellow-cloth", "type": "debris_spill", "start_s": 0.0, "end_s": None, "box": [68, 496, 160, 531]},
    {"id": "yellow-paper", "type": "debris_spill", "start_s": 0.0, "end_s": None, "box": [325, 450, 353, 468]},
]


def render_vtest_days(out: Path, vtest_mp4: Path) -> Path:
    """The vtest camera on two days (the same first 46 s: the sign and the litter both days), with config.yaml:
    the plaza and the lawn judged for debris against their clean surface (tests/test_verification_vtest.py)."""
    out.mkdir(parents=True, exist_ok=True)
    video = first_seconds(vtest_mp4, out / "vtest_46s.mp4", VTEST_SECONDS)
    for day in DAYS:
        (out / f"vtest-day{day}.json").write_text(json.dumps({
            "video": video.name, "source": "vtest", "frame_size": [768, 576],
            "media_start": f"2026-05-0{day}T09:00:00+08:00",
            "events": [{**e, "id": f"{e['id']}-day{day}"} for e in VTEST_LITTER]}, indent=1), encoding="utf-8")
    (out / "config.yaml").write_text(VTEST_CONFIG, encoding="utf-8")
    return out


SCENARIOS = {"fixture_debris": fixture_debris, "tricycle_stall": tricycle_stall, "shadow_bin": shadow_bin}


def render_learning(out: Path, vtest: str, names=None) -> Path:
    """Render every day of the scenarios into ``out`` and write ``config.yaml``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in SCENARIOS.items():
        if names is None or name in names:
            for day in DAYS:
                fn(out, vtest, day)
    (out / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    """Render the learning sets into ``--out``: ``rendered/`` (the three scenes) and ``vtest/``."""
    import argparse

    from datasets.samples import fetch_samples

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    vtest_mp4 = fetch_samples(Path("var/samples"), bikes=False)["vtest.mp4"]
    print(render_learning(args.out / "rendered", str(vtest_mp4)))
    print(render_vtest_days(args.out / "vtest", vtest_mp4))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
