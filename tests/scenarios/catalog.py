"""The rendered test scenarios, each with its zones (``CONFIG``) and exact ground truth.

Which detector sees them:
- ``parked_van``, ``brief_and_moving``, ``dumped_bag``, ``bin_overflow``: the real NanoDet (the van and the
  walkers are cut out of vtest footage; the bag and the bin are found by the class-agnostic parts);
- ``vending_and_bikes``, ``night_market``: scripted detections (``*.detections.json``, the boxes the renderer
  drew), because no footage here shows umbrellas, stall tables or bicycles: these test rule logic.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.scenarios.render import (Actor, Scene, Sprite, bag_sprite, bin_image, person_sprites, plate,
                                    scripted_frames, still, van_sprite, walk, write_scenario)

SECONDS = 60.0
DWELL = {"illegal_parking": 15, "debris_spill": 10, "overflowing_bin": 10, "street_vending": 20,
         "non_motor_parking": 20}

VAN_AT = (440, 250)  # top-left of the pasted van (x1.4: about 118 x 92 px)
BAG_AT = (600, 380)
BIN_BOX = (560, 96, 620, 180)  # where the bin stands (pixels), the bin region zone around it
VENDOR = {"person": [300, 260, 332, 350], "umbrella": [280, 230, 360, 262], "dining table": [290, 310, 350, 345]}
BIKE = [600, 420, 660, 470]


def _norm(box, w=768, h=576, pad=0.0):
    x1, y1, x2, y2 = box
    return [[max(0.0, (x1 - pad) / w), max(0.0, (y1 - pad) / h)], [min(1.0, (x2 + pad) / w), max(0.0, (y1 - pad) / h)],
            [min(1.0, (x2 + pad) / w), min(1.0, (y2 + pad) / h)], [max(0.0, (x1 - pad) / w), min(1.0, (y2 + pad) / h)]]


CONFIG = f"""
sources:
  - id: parked_van
    url: parked_van.mp4
    zones:
      - {{id: road, events: [illegal_parking], polygon: [[0.5, 0.4], [0.85, 0.4], [0.85, 0.66], [0.5, 0.66]]}}
  - id: brief_and_moving
    url: brief_and_moving.mp4
    zones:
      - {{id: road, events: [illegal_parking], polygon: [[0.35, 0.4], [0.95, 0.4], [0.95, 0.66], [0.35, 0.66]]}}
  - id: dumped_bag
    url: dumped_bag.mp4
    zones:
      - {{id: kerb, events: [debris_spill], polygon: [[0.72, 0.55], [0.97, 0.55], [0.97, 0.80], [0.72, 0.80]]}}
  - id: bin_overflow
    url: bin_overflow.mp4
    zones:
      - id: bin-1
        events: [overflowing_bin]
        polygon: {_norm(BIN_BOX)}
        rules: {{overflowing_bin: {{examples_dir: bin_examples}}}}
  - id: vending_and_bikes
    url: vending_and_bikes.mp4
    zones:
      - {{id: square, events: [street_vending], polygon: [[0.3, 0.35], [0.55, 0.35], [0.55, 0.7], [0.3, 0.7]]}}
      - {{id: pavement, events: [non_motor_parking], polygon: [[0.7, 0.65], [0.95, 0.65], [0.95, 0.9], [0.7, 0.9]]}}
  - id: night_market
    url: night_market.mp4
    zones:
      - {{id: square, events: [street_vending], polygon: [[0.3, 0.35], [0.55, 0.35], [0.55, 0.7], [0.3, 0.7]]}}
    rules:
      street_vending: {{allowed_hours: ["18:00-23:00"]}}
rules:
  illegal_parking: {{min_dwell_s: {DWELL['illegal_parking']}, leave_after_s: 5, max_gap_s: 5}}
  debris_spill: {{min_dwell_s: {DWELL['debris_spill']}, leave_after_s: 5}}
  overflowing_bin: {{min_dwell_s: {DWELL['overflowing_bin']}, leave_after_s: 5, max_gap_s: 6}}
  street_vending: {{min_dwell_s: {DWELL['street_vending']}, leave_after_s: 5}}
  non_motor_parking: {{min_dwell_s: {DWELL['non_motor_parking']}, leave_after_s: 5}}
evidence: {{pre_roll_s: 2, post_roll_s: 2}}
"""


def _box_of(sprite: Sprite, at: tuple[int, int]) -> list[float]:
    h, w = sprite.mask.shape
    return [at[0], at[1], at[0] + w, at[1] + h]


def parked_van(out: Path, vtest: str) -> None:
    """A van drives up (appears) at 5 s, stays, leaves at 45 s; a pedestrian walks past in front of it."""
    van = van_sprite(vtest).scaled(1.4)
    walker = person_sprites(vtest)[0]
    scene = Scene(plate(vtest), [Actor(van, still(*VAN_AT), 5, 45),
                                 Actor(walker, walk((380, 280), (640, 290), 18, 30), 18, 30)], seed=1)
    write_scenario(out, "parked_van", scene, SECONDS, [
        {"id": "van", "type": "illegal_parking", "start_s": 5.0, "end_s": 45.0, "box": _box_of(van, VAN_AT)}])


def brief_and_moving(out: Path, vtest: str) -> None:
    """Nothing to report: the van shows for 2 s (a brief detection), then drives through the zone."""
    van = van_sprite(vtest).scaled(1.4)
    scene = Scene(plate(vtest), [Actor(van, still(*VAN_AT), 10, 12),
                                 Actor(van, walk((280, 250), (720, 260), 20, 40), 20, 40)], seed=2)
    write_scenario(out, "brief_and_moving", scene, SECONDS, [])


def dumped_bag(out: Path, vtest: str) -> None:
    """A bag is dumped at 10 s and taken away at 45 s, on a jittering camera whose light drops by a quarter
    at 25-27 s; one walker passes the bag, another stands in the zone for 10 s (a person is not debris)."""
    walkers = person_sprites(vtest)
    bag = bag_sprite(3)

    def gain(t: float) -> float:
        return 1.0 - 0.25 * min(1.0, max(0.0, (t - 25) / 2))

    scene = Scene(plate(vtest), [Actor(bag, still(*BAG_AT), 10, 45),
                                 Actor(walkers[1], walk((700, 300), (540, 330), 14, 24), 14, 24),
                                 Actor(walkers[2], still(660, 330), 30, 40)], jitter_px=2, gain=gain, seed=3)
    write_scenario(out, "dumped_bag", scene, SECONDS, [
        {"id": "bag", "type": "debris_spill", "start_s": 10.0, "end_s": 45.0, "box": _box_of(bag, BAG_AT)}])


def bin_sprite(full: bool, seed: int) -> Sprite:
    x1, y1, x2, y2 = BIN_BOX
    img = bin_image(full, seed, size=(x2 - x1, y2 - y1))
    return Sprite(img, np.ones(img.shape[:2], np.float32))


def write_bin_examples(folder: Path, vtest: str, n: int = 5) -> None:
    """The few labelled crops an operator would give: this camera's bin region, full and not full."""
    x1, y1, x2, y2 = BIN_BOX
    rng = np.random.default_rng(7)
    for full in (True, False):
        d = folder / ("full" if full else "not_full")
        d.mkdir(parents=True, exist_ok=True)
        for k in range(n):
            scene = Scene(plate(vtest), [Actor(bin_sprite(full, 500 + k), still(x1, y1), 0, 1)],
                          gain=lambda t, g=float(rng.uniform(0.7, 1.2)): g, seed=50 + k)
            cv2.imwrite(str(d / f"{k}.jpg"), scene.draw(k, 0.5)[y1:y2, x1:x2])


def bin_overflow(out: Path, vtest: str) -> None:
    """The bin fills at 20 s (bags over the rim) and is emptied at 50 s; a walker stands in front at 30-34 s."""
    x1, y1, x2, y2 = BIN_BOX
    empty, full = bin_sprite(False, 1), bin_sprite(True, 2)
    walker = person_sprites(vtest)[0]
    scene = Scene(plate(vtest), [Actor(empty, still(x1, y1), 0, 20), Actor(full, still(x1, y1), 20, 50),
                                 Actor(empty, still(x1, y1), 50, SECONDS + 1),
                                 Actor(walker, still(x1 + 10, y1 + 20), 30, 34)], seed=4)
    write_bin_examples(out / "bin_examples", vtest)
    write_scenario(out, "bin_overflow", scene, SECONDS, [
        {"id": "bin", "type": "overflowing_bin", "start_s": 20.0, "end_s": 50.0, "box": list(BIN_BOX)}])


def _draw_boxes(objects):
    """Coloured boxes where the scripted objects are, so snapshots and clips show them."""
    colours = {"person": (40, 40, 40), "umbrella": (40, 40, 200), "dining table": (30, 90, 140),
               "bicycle": (200, 120, 30)}

    def actors():
        out = []
        for o in objects:
            box = o["box"]
            fn = box if callable(box) else (lambda t, b=box: b)
            first = fn(o["t0"])
            w, h = int(first[2] - first[0]), int(first[3] - first[1])
            img = np.zeros((h, w, 3), np.uint8)
            img[:] = colours.get(o["class"], (128, 128, 128))
            out.append(Actor(Sprite(img, np.full((h, w), 0.85, np.float32)),
                             lambda t, f=fn: (f(t)[0], f(t)[1]), o["t0"], o["t1"]))
        return out

    return actors()


def vending_and_bikes(out: Path, vtest: str) -> None:
    """A vendor with umbrella and table stands 5-50 s; a walker with an umbrella crosses (not vending); a
    bicycle is left on the pavement 5-50 s; a person stops by the bicycle for 10 s (not vending: other zone)."""
    objects = [{"class": c, "score": 0.7, "t0": 5, "t1": 50, "box": b} for c, b in VENDOR.items()]
    objects += [
        {"class": "person", "score": 0.8, "t0": 10, "t1": 25, "box": lambda t: [250 + 10 * (t - 10), 280, 282 + 10 * (t - 10), 370]},
        {"class": "umbrella", "score": 0.6, "t0": 10, "t1": 25, "box": lambda t: [240 + 10 * (t - 10), 250, 292 + 10 * (t - 10), 275]},
        {"class": "bicycle", "score": 0.75, "t0": 5, "t1": 50, "box": BIKE},
        {"class": "person", "score": 0.8, "t0": 20, "t1": 30, "box": [665, 380, 695, 470]},
    ]
    scene = Scene(plate(vtest), _draw_boxes(objects), seed=5)
    union = [VENDOR["umbrella"][0], VENDOR["umbrella"][1], VENDOR["dining table"][2], VENDOR["dining table"][3]]
    write_scenario(out, "vending_and_bikes", scene, SECONDS, [
        {"id": "vendor", "type": "street_vending", "start_s": 5.0, "end_s": 50.0, "box": union},
        {"id": "bike", "type": "non_motor_parking", "start_s": 5.0, "end_s": 50.0, "box": BIKE},
    ], detections=scripted_frames(SECONDS, 10, objects))


def night_market(out: Path, vtest: str) -> None:
    """Vending is allowed until 23:00; the video starts at 22:59:30, the vendor stays from 5 s to the end:
    the violation starts when the market closes (30 s of media time)."""
    objects = [{"class": c, "score": 0.7, "t0": 5, "t1": SECONDS, "box": b} for c, b in VENDOR.items()]
    scene = Scene(plate(vtest), _draw_boxes(objects), seed=6)
    union = [VENDOR["umbrella"][0], VENDOR["umbrella"][1], VENDOR["dining table"][2], VENDOR["dining table"][3]]
    write_scenario(out, "night_market", scene, SECONDS, [
        {"id": "vendor-after-hours", "type": "street_vending", "start_s": 30.0, "end_s": None, "box": union}],
        detections=scripted_frames(SECONDS, 10, objects))
    ann = out / "night_market.json"
    import json

    data = json.loads(ann.read_text())
    data["media_start"] = "2026-05-01T22:59:30+08:00"
    ann.write_text(json.dumps(data, indent=1))


MODEL_SCENARIOS = {"parked_van": parked_van, "brief_and_moving": brief_and_moving, "dumped_bag": dumped_bag,
                   "bin_overflow": bin_overflow}
SCRIPTED_SCENARIOS = {"vending_and_bikes": vending_and_bikes, "night_market": night_market}


def render_all(out: Path, vtest: str, names=None) -> Path:
    """Render the scenarios into ``out`` (videos, annotations, detections) and write ``config.yaml``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in {**MODEL_SCENARIOS, **SCRIPTED_SCENARIOS}.items():
        if names is None or name in names:
            fn(out, vtest)
    (out / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return out
