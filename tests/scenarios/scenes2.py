"""Rendered scenarios of the issue-15 scenes (stream scenes2), each with exact ground truth, and a negative
scenario per type that must produce no incident.

- ``laundry_on_rail`` / ``bag_on_rail`` (street_drying), ``standing_sign`` / ``rubble_by_sign_spot``
  (illegal_advertising): the real NanoDet sees the walkers; the laundry, sign, bag and rubble are drawn
  (datasets/synthetic) and found as class-agnostic static objects of the right shape and colour.
- ``mobile_vendor`` / ``delivery_stop`` (mobile_vending) and ``uncovered_truck`` / ``covered_truck``
  (uncovered_muck_truck): scripted detections (the boxes the renderer drew: no footage here shows tricycle
  vendors or dump trucks); the truck beds are drawn, and judged by the state classifier from labelled crops.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from datasets.synthetic.objects import draw_debris_pile
from datasets.synthetic.scene_objects import draw_ad_sign, draw_laundry, draw_muck_truck
from tests.scenarios.catalog import _draw_boxes
from tests.scenarios.render import (Actor, Scene, Sprite, bag_sprite, person_sprites, plate, scripted_frames, still,
                                    walk, write_scenario)

SECONDS = 40.0
LAUNDRY_AT = (60, 150)
SIGN_AT = (150, 330)
TRUCK_Y = 300
BED = (0.0, 0.0, 1.0, 0.6)

CONFIG = """
sources:
  - id: laundry_on_rail
    url: laundry_on_rail.mp4
    zones:
      - {id: rail, events: [street_drying], polygon: [[0.04, 0.2], [0.4, 0.2], [0.4, 0.48], [0.04, 0.48]]}
  - id: bag_on_rail
    url: bag_on_rail.mp4
    zones:
      - {id: rail, events: [street_drying], polygon: [[0.04, 0.2], [0.4, 0.2], [0.4, 0.48], [0.04, 0.48]]}
  - id: standing_sign
    url: standing_sign.mp4
    zones:
      - {id: clear, events: [illegal_advertising], polygon: [[0.12, 0.5], [0.4, 0.5], [0.4, 0.82], [0.12, 0.82]]}
  - id: rubble_by_sign_spot
    url: rubble_by_sign_spot.mp4
    zones:
      - {id: clear, events: [illegal_advertising], polygon: [[0.12, 0.5], [0.4, 0.5], [0.4, 0.82], [0.12, 0.82]]}
  - id: mobile_vendor
    url: mobile_vendor.mp4
    zones:
      - {id: street, events: [mobile_vending], polygon: [[0.02, 0.4], [0.98, 0.4], [0.98, 0.85], [0.02, 0.85]]}
  - id: delivery_stop
    url: delivery_stop.mp4
    zones:
      - {id: street, events: [mobile_vending], polygon: [[0.02, 0.4], [0.98, 0.4], [0.98, 0.85], [0.02, 0.85]]}
  - id: uncovered_truck
    url: uncovered_truck.mp4
    zones:
      - {id: road, events: [uncovered_muck_truck], polygon: [[0.0, 0.4], [1.0, 0.4], [1.0, 0.8], [0.0, 0.8]]}
  - id: covered_truck
    url: covered_truck.mp4
    zones:
      - {id: road, events: [uncovered_muck_truck], polygon: [[0.0, 0.4], [1.0, 0.4], [1.0, 0.8], [0.0, 0.8]]}
rules:
  street_drying: {min_dwell_s: 10, leave_after_s: 5}
  illegal_advertising: {min_dwell_s: 10, leave_after_s: 5}
  mobile_vending: {min_stops: 2, min_stop_s: 6, leave_after_s: 3}
  uncovered_muck_truck: {examples_dir: muck_examples, leave_after_s: 3}
evidence: {pre_roll_s: 2, post_roll_s: 2}
"""


def as_sprite(s) -> Sprite:
    """A synthetic-generator drawing (float RGBA) as a scenario sprite (BGR uint8 + mask)."""
    return Sprite(np.clip(s.rgb * 255, 0, 255).astype(np.uint8), s.alpha.astype(np.float32))


def _box(sprite: Sprite, at: tuple[float, float]) -> list[float]:
    h, w = sprite.mask.shape
    return [float(at[0]), float(at[1]), float(at[0] + w), float(at[1] + h)]


def _static_scene(out: Path, vtest: str, name: str, sprite: Sprite, at: tuple[int, int], events: list[dict],
                  seed: int) -> None:
    """The object appears at 5 s and is taken away at 32 s; a walker passes in front of it at 12-20 s."""
    walker = person_sprites(vtest)[1]
    scene = Scene(plate(vtest), [Actor(sprite, still(*at), 5, 32),
                                 Actor(walker, walk((at[0] - 60, at[1] - 20), (at[0] + 160, at[1] - 10), 12, 20),
                                       12, 20)], jitter_px=1, seed=seed)
    write_scenario(out, name, scene, SECONDS, events)


def laundry_on_rail(out: Path, vtest: str) -> None:
    laundry = as_sprite(draw_laundry(np.random.default_rng(3)))
    _static_scene(out, vtest, "laundry_on_rail", laundry, LAUNDRY_AT, [
        {"id": "laundry", "type": "street_drying", "start_s": 5.0, "end_s": 32.0, "box": _box(laundry, LAUNDRY_AT)}], 21)


def bag_on_rail(out: Path, vtest: str) -> None:
    """Negative: a black bag with a white carton left at the rail is litter, not laundry (no colour)."""
    _static_scene(out, vtest, "bag_on_rail", bag_sprite(5, size=(70, 48)), (LAUNDRY_AT[0] + 40, LAUNDRY_AT[1] + 20),
                  [], 22)


def standing_sign(out: Path, vtest: str) -> None:
    sign = as_sprite(draw_ad_sign(np.random.default_rng(2)))
    _static_scene(out, vtest, "standing_sign", sign, SIGN_AT, [
        {"id": "sign", "type": "illegal_advertising", "start_s": 5.0, "end_s": 32.0, "box": _box(sign, SIGN_AT)}], 23)


def rubble_by_sign_spot(out: Path, vtest: str) -> None:
    """Negative: a heap of rubble where a sign might stand is not a sign (not a solid rectangle)."""
    _static_scene(out, vtest, "rubble_by_sign_spot", as_sprite(draw_debris_pile(np.random.default_rng(4))),
                  (SIGN_AT[0], SIGN_AT[1] + 20), [], 24)


def _vendor(path_x, t0: float, t1: float, y: float = 280.0) -> list[dict]:
    """A person pushing a loaded bike: two scripted boxes moving together (``path_x(t)`` = the person's x)."""
    return [{"class": "person", "score": 0.8, "t0": t0, "t1": t1,
             "box": lambda t: [path_x(t), y, path_x(t) + 32, y + 90]},
            {"class": "bicycle", "score": 0.7, "t0": t0, "t1": t1,
             "box": lambda t: [path_x(t) + 34, y + 40, path_x(t) + 94, y + 90]}]


def _stops(legs: list[tuple[float, float, float]]):
    """x(t) through (time, x) waypoints, linear in between."""
    def x(t: float) -> float:
        return float(np.interp(t, [w[0] for w in legs], [w[1] for w in legs]))
    return x


def mobile_vendor(out: Path, vtest: str) -> None:
    """A vendor walks in at 3 s, stops to sell at 8-18 s and at 22-34 s, and walks off (gone at 38 s)."""
    x = _stops([(3, 40, 0), (8, 140, 0), (18, 140, 0), (22, 330, 0), (34, 330, 0), (38, 520, 0)])
    objects = _vendor(x, 3, 38)
    scene = Scene(plate(vtest), _draw_boxes(objects), seed=25)
    write_scenario(out, "mobile_vendor", scene, SECONDS, [
        {"id": "vendor", "type": "mobile_vending", "start_s": 8.0, "end_s": 38.0, "box": [330, 280, 424, 370]}],
        detections=scripted_frames(SECONDS, 10, objects))


def delivery_stop(out: Path, vtest: str) -> None:
    """Negative: a courier with a bike stops once (10-22 s) and goes on; a cyclist rides through without stopping."""
    x = _stops([(4, 40, 0), (10, 200, 0), (22, 200, 0), (28, 600, 0)])
    rider = _stops([(12, 700, 0), (24, 60, 0)])
    objects = _vendor(x, 4, 28) + _vendor(rider, 12, 24, y=330)
    scene = Scene(plate(vtest), _draw_boxes(objects), seed=26)
    write_scenario(out, "delivery_stop", scene, SECONDS, [], detections=scripted_frames(SECONDS, 10, objects))


def truck_sprite(covered: bool, seed: int) -> Sprite:
    return as_sprite(draw_muck_truck(np.random.default_rng(seed), covered=covered, k=1.0))


def write_truck_examples(folder: Path, vtest: str, n: int = 5) -> None:
    """The few labelled bed crops an operator would give: this camera's trucks, uncovered and covered."""
    for covered in (False, True):
        d = folder / ("covered" if covered else "uncovered")
        d.mkdir(parents=True, exist_ok=True)
        for k in range(n):
            truck = truck_sprite(covered, 300 + k + 10 * covered)
            at = (100 + 60 * k, TRUCK_Y)
            scene = Scene(plate(vtest), [Actor(truck, still(*at), 0, 1)], gain=lambda t, g=0.8 + 0.08 * k: g,
                          seed=60 + k)
            x1, y1, x2, y2 = (int(v) for v in _box(truck, at))
            img = scene.draw(k, 0.5)
            cv2.imwrite(str(d / f"{k}.jpg"), img[y1:y1 + int(BED[3] * (y2 - y1)), x1:x2])


def _truck_scene(out: Path, vtest: str, name: str, covered: bool, events_fn) -> None:
    """A truck drives across from 5 s to 25 s (about 25 px/s); scripted box = where it was drawn."""
    truck = truck_sprite(covered, 7)
    path = walk((20, TRUCK_Y), (520, TRUCK_Y), 5, 25)
    h, w = truck.mask.shape
    objects = [{"class": "truck", "score": 0.7, "t0": 5, "t1": 25,
                "box": lambda t: [path(t)[0], path(t)[1], path(t)[0] + w, path(t)[1] + h]}]
    scene = Scene(plate(vtest), [Actor(truck, path, 5, 25)], seed=27)
    write_truck_examples(out / "muck_examples", vtest)
    write_scenario(out, name, scene, SECONDS, events_fn(path, w, h), detections=scripted_frames(SECONDS, 10, objects))


def uncovered_truck(out: Path, vtest: str) -> None:
    def events(path, w, h):
        x, y = path(7.0)  # about where it is confirmed (3 of 5 frames at 2 fps)
        return [{"id": "truck", "type": "uncovered_muck_truck", "start_s": 5.0, "end_s": 25.0,
                 "box": [x, y, x + w, y + h]}]
    _truck_scene(out, vtest, "uncovered_truck", False, events)


def covered_truck(out: Path, vtest: str) -> None:
    """Negative: the same drive with the load under a tarpaulin."""
    _truck_scene(out, vtest, "covered_truck", True, lambda path, w, h: [])


MODEL_SCENES = {"laundry_on_rail": laundry_on_rail, "bag_on_rail": bag_on_rail, "standing_sign": standing_sign,
                "rubble_by_sign_spot": rubble_by_sign_spot}
SCRIPTED_SCENES = {"mobile_vendor": mobile_vendor, "delivery_stop": delivery_stop,
                   "uncovered_truck": uncovered_truck, "covered_truck": covered_truck}


def render_scenes(out: Path, vtest: str, names=None) -> Path:
    """Render these scenarios into ``out`` and write their ``config.yaml``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in {**MODEL_SCENES, **SCRIPTED_SCENES}.items():
        if names is None or name in names:
            fn(out, vtest)
    (out / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return out


if __name__ == "__main__":  # python -m tests.scenarios.scenes2 --out DIR [--vtest var/samples/vtest.mp4]
    import argparse

    parser = argparse.ArgumentParser(description="render the scenes2 scenarios (videos, annotations, config)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--vtest", default="var/samples/vtest.mp4")
    args = parser.parse_args()
    print(render_scenes(args.out, args.vtest))
