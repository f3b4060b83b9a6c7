"""Rendered scenarios of shop fronts and things left lying: 店外经营, 违规撑伞, 乱堆物料, 打包垃圾, each with a
negative twin that must produce no incident.

A shop facade with its sign (lettered with a CJK font from Debian, as the plates are) is painted over the upper
left of the vtest street plate; its frontage (the asphalt below) is the shop-front zone. Goods, piles, bags and
planks are drawn; the pedestrians are cut out of vtest. The detector is replayed (``*.detections.json``: the
person and umbrella boxes the renderer drew), so the static objects come from the pixels alone
(`vision.static_objects`) and the people's boxes only mask them, as NanoDet's would.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from datasets.plates import cjk_font_path
from tests.scenarios.render import (Actor, Scene, Sprite, bag_sprite, person_sprites, plate, scripted_frames, still,
                                    walk, write_scenario)

SECONDS = 40.0
FPS = 10
SHOP_NAME = "张记水果店"
SHOP_OF_ZONE = "李记小吃"
FACADE = (60, 100, 430, 215)  # the painted shop front (pixels); the sign hangs in its upper part
SIGN = (110, 112, 380, 162)
SHOP_ZONE = (60, 215, 430, 330)  # its frontage: the shop-front zone
ROAD_ZONE = (430, 200, 760, 330)  # carriageway and footway right of the shop: piling
BIN_POINT = (600, 350, 650, 420)  # a collection point (bins) on the footway
BAG_ZONE = (520, 340, 760, 470)  # the ground around it: bags left here are 打包垃圾
DWELL = {"outside_shop_business": 8, "illegal_umbrella": 10, "material_piling": 8, "bagged_garbage": 8}

GOODS_AT, GOODS_SIZE = (200, 250), (90, 46)
PARASOL_BOX = [250, 225, 350, 275]  # 100 x 50: a vendor's parasol opened at the shop door
PILE_AT, PILE_SIZE = (520, 240), (130, 56)
BAGS_AT = (540, 400)


def _norm(box, w=768, h=576) -> list[list[float]]:
    x1, y1, x2, y2 = box
    return [[round(x1 / w, 4), round(y1 / h, 4)], [round(x2 / w, 4), round(y1 / h, 4)],
            [round(x2 / w, 4), round(y2 / h, 4)], [round(x1 / w, 4), round(y2 / h, 4)]]


def _zone(zone_id: str, event: str, box, shop: str | None = None) -> str:
    named = f", shop: {shop}" if shop else ""
    return f"      - {{id: {zone_id}, events: [{event}], polygon: {_norm(box)}{named}}}\n"


def _source(name: str, zones: str) -> str:
    return f"  - id: {name}\n    url: {name}.mp4\n    zones:\n{zones}"


CONFIG = ("sources:\n"
          + _source("shop_goods", _zone("front", "outside_shop_business", SHOP_ZONE))
          + _source("shop_delivery", _zone("front", "outside_shop_business", SHOP_ZONE))
          + _source("shop_parasol", _zone("front", "illegal_umbrella", SHOP_ZONE, SHOP_OF_ZONE))
          + _source("umbrella_walkers", _zone("front", "illegal_umbrella", SHOP_ZONE, SHOP_OF_ZONE))
          + _source("material_pile", _zone("road", "material_piling", ROAD_ZONE))
          + _source("small_litter", _zone("road", "material_piling", ROAD_ZONE))
          + _source("garbage_bags", _zone("point", "bagged_garbage", BAG_ZONE))
          + _source("bag_set_down", _zone("point", "bagged_garbage", BAG_ZONE))
          + "rules:\n"
          + "".join(f"  {t}: {{min_dwell_s: {d}, leave_after_s: 5}}\n" for t, d in DWELL.items())
          + "evidence: {pre_roll_s: 2, post_roll_s: 2}\n")


# -- drawing -----------------------------------------------------------------------------------------

def shop_background(vtest: str) -> np.ndarray:
    """The street plate with a shop front: a wall, a door, a window and the sign above them."""
    img = plate(vtest).copy()
    x1, y1, x2, y2 = FACADE
    img[y1:y2, x1:x2] = (150, 170, 190)  # a light rendered wall
    cv2.rectangle(img, (x1 + 30, y1 + 70), (x1 + 110, y2), (70, 60, 55), -1)  # door
    cv2.rectangle(img, (x1 + 150, y1 + 72), (x2 - 30, y2 - 10), (120, 100, 80), -1)  # window
    sx1, sy1, sx2, sy2 = SIGN
    board = Image.new("RGB", (sx2 - sx1, sy2 - sy1), (200, 30, 30))  # RGB: a red board, yellow letters
    draw = ImageDraw.Draw(board)
    font = ImageFont.truetype(str(cjk_font_path()), 36)
    l, t, r, b = draw.textbbox((0, 0), SHOP_NAME, font=font)
    draw.text(((board.width - (r - l)) / 2 - l, (board.height - (b - t)) / 2 - t), SHOP_NAME, font=font,
              fill=(255, 225, 40))
    img[sy1:sy2, sx1:sx2] = cv2.cvtColor(np.asarray(board), cv2.COLOR_RGB2BGR)
    bx1, by1, bx2, by2 = BIN_POINT  # the collection point's two bins
    for k, colour in enumerate(((40, 110, 40), (140, 90, 30))):
        cx = bx1 + k * (bx2 - bx1) // 2
        cv2.rectangle(img, (cx + 2, by1), (cx + (bx2 - bx1) // 2 - 2, by2), colour, -1)
    return img


def _solid(img: np.ndarray) -> Sprite:
    return Sprite(img, np.ones(img.shape[:2], np.float32))


def goods_sprite(size=GOODS_SIZE, seed: int = 0) -> Sprite:
    """Fruit crates stacked two high, fruit heaped in them: goods put out in front of a shop."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (40, 120, 190)  # crate wood (BGR)
    fruit = [(30, 140, 240), (40, 40, 200), (60, 200, 230), (40, 160, 60)]
    for row in range(2):
        for col in range(3):
            x0, y0 = col * w // 3 + 2, row * h // 2 + 2
            cv2.rectangle(img, (x0, y0), (x0 + w // 3 - 4, y0 + h // 2 - 4), (25, 80, 140), 2)
            for _ in range(6):
                c = (int(rng.integers(x0 + 4, x0 + w // 3 - 6)), int(rng.integers(y0 + 4, y0 + h // 2 - 6)))
                cv2.circle(img, c, 4, fruit[int(rng.integers(len(fruit)))], -1)
    return _solid(img)


def pile_sprite(size=PILE_SIZE, seed: int = 0) -> Sprite:
    """A heap of sand with bricks stacked beside it: building material piled on the road."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(img, (w // 3, h - 1), (w // 3, h - 4), 0, 180, 360, (120, 170, 200), -1)  # sand
    cv2.ellipse(mask, (w // 3, h - 1), (w // 3, h - 4), 0, 180, 360, 1.0, -1)
    for r in range(4):  # bricks
        for c in range(3):
            x0, y0 = w // 2 + 6 + c * 18 + (r % 2) * 6, h - 12 - r * 11
            cv2.rectangle(img, (x0, y0), (x0 + 16, y0 + 9), (50, 60, 160), -1)
            cv2.rectangle(mask, (x0, y0), (x0 + 16, y0 + 9), 1.0, -1)
    img = np.clip(img.astype(np.int16) + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)
    return Sprite(img, cv2.GaussianBlur(mask, (3, 3), 0))


def plank_sprite(size=(130, 11)) -> Sprite:
    """A long board: lies still, bag-sized in area, but no bag's shape."""
    img = np.zeros((size[1], size[0], 3), np.uint8)
    img[:] = (60, 110, 160)
    cv2.line(img, (0, size[1] // 2), (size[0], size[1] // 2), (40, 80, 120), 1)
    return _solid(img)


def _box(sprite: Sprite, at) -> list[float]:
    h, w = sprite.mask.shape
    return [float(at[0]), float(at[1]), float(at[0] + w), float(at[1] + h)]


def _person(sprite: Sprite, path, t0: float, t1: float) -> tuple[Actor, dict]:
    """A walker drawn and its box in the replayed detections (what the detector would report)."""
    h, w = sprite.mask.shape
    box = (lambda t: [path(t)[0], path(t)[1], path(t)[0] + w, path(t)[1] + h])
    return Actor(sprite, path, t0, t1), {"class": "person", "score": 0.8, "t0": t0, "t1": t1, "box": box}


def _umbrella(box_at, t0: float, t1: float, colour=(60, 60, 210)) -> tuple[Actor, dict]:
    first = box_at(t0)
    w, h = int(first[2] - first[0]), int(first[3] - first[1])
    img = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(img, (w // 2, h - 1), (w // 2 - 1, h - 2), 0, 180, 360, colour, -1)  # the canopy
    cv2.ellipse(mask, (w // 2, h - 1), (w // 2 - 1, h - 2), 0, 180, 360, 1.0, -1)
    return (Actor(Sprite(img, mask), lambda t: (box_at(t)[0], box_at(t)[1]), t0, t1),
            {"class": "umbrella", "score": 0.7, "t0": t0, "t1": t1, "box": box_at})


def _write(out: Path, name: str, background: np.ndarray, actors: list[Actor], detected: list[dict],
           events: list[dict], seed: int) -> None:
    write_scenario(out, name, Scene(background, actors, seed=seed), SECONDS, events,
                   detections=scripted_frames(SECONDS, FPS, detected), fps=FPS)


# -- scenarios ---------------------------------------------------------------------------------------

def shop_goods(out: Path, vtest: str) -> None:
    """Fruit crates put out at the shop door at 4 s, taken in at 34 s; a walker passes in front of them."""
    goods = goods_sprite(seed=1)
    walker, det = _person(person_sprites(vtest)[0], walk((100, 230), (380, 240), 12, 20), 12, 20)
    _write(out, "shop_goods", shop_background(vtest), [Actor(goods, still(*GOODS_AT), 4, 34), walker], [det],
           [{"id": "crates", "type": "outside_shop_business", "start_s": 4.0, "end_s": 34.0,
             "box": _box(goods, GOODS_AT)}], seed=11)


def shop_delivery(out: Path, vtest: str) -> None:
    """Nothing to report: a delivery's crates stand at the door for 6 s (4-10 s) and go in; a person then
    stands in the frontage for 15 s (a person is no goods)."""
    goods = goods_sprite(seed=2)
    stander, det = _person(person_sprites(vtest)[1], still(300, 225), 15, 30)
    _write(out, "shop_delivery", shop_background(vtest), [Actor(goods, still(*GOODS_AT), 4, 10), stander], [det],
           [], seed=12)


def shop_parasol(out: Path, vtest: str) -> None:
    """A parasol opened at the shop door at 4 s and closed at 34 s; the zone names the shop."""
    actor, det = _umbrella(lambda t: PARASOL_BOX, 4, 34)
    _write(out, "shop_parasol", shop_background(vtest), [actor], [det],
           [{"id": "parasol", "type": "illegal_umbrella", "start_s": 4.0, "end_s": 34.0, "box": PARASOL_BOX}],
           seed=13)


def umbrella_walkers(out: Path, vtest: str) -> None:
    """Nothing to report: a pedestrian with a large umbrella walks through the frontage (4-16 s); another waits
    under a hand umbrella for 25 s (too small to be a parasol)."""
    walkers = person_sprites(vtest)
    w1, d1 = _person(walkers[0], walk((70, 240), (380, 250), 4, 16), 4, 16)
    u1, du1 = _umbrella(lambda t: [60 + 310 * min(1, max(0, (t - 4) / 12)), 210,
                                   160 + 310 * min(1, max(0, (t - 4) / 12)), 260], 4, 16)
    w2, d2 = _person(walkers[2], still(300, 240), 10, 35)
    u2, du2 = _umbrella(lambda t: [300, 225, 350, 245], 10, 35, colour=(30, 30, 30))
    _write(out, "umbrella_walkers", shop_background(vtest), [w1, u1, w2, u2], [d1, du1, d2, du2], [], seed=14)


def material_pile(out: Path, vtest: str) -> None:
    """Sand and bricks dumped on the road at 4 s, cleared at 34 s; a walker crosses in front at 14-22 s."""
    pile = pile_sprite(seed=3)
    walker, det = _person(person_sprites(vtest)[1], walk((700, 230), (470, 250), 14, 22), 14, 22)
    _write(out, "material_pile", plate(vtest), [Actor(pile, still(*PILE_AT), 4, 34), walker], [det],
           [{"id": "pile", "type": "material_piling", "start_s": 4.0, "end_s": 34.0, "box": _box(pile, PILE_AT)}],
           seed=15)


def small_litter(out: Path, vtest: str) -> None:
    """Nothing to report: a bag lies on the road from 4 s to the end (litter, far below a pile's size) and a
    person stands there for 20 s."""
    stander, det = _person(person_sprites(vtest)[2], still(600, 220), 8, 28)
    _write(out, "small_litter", plate(vtest), [Actor(bag_sprite(4), still(520, 280), 4, SECONDS + 1), stander],
           [det], [], seed=16)


def garbage_bags(out: Path, vtest: str) -> None:
    """Two bags of rubbish left beside the collection point at 4 s, collected at 34 s."""
    bags = bag_sprite(5, size=(50, 34))
    walker, det = _person(person_sprites(vtest)[0], walk((720, 360), (530, 380), 14, 22), 14, 22)
    _write(out, "garbage_bags", shop_background(vtest), [Actor(bags, still(*BAGS_AT), 4, 34), walker], [det],
           [{"id": "bags", "type": "bagged_garbage", "start_s": 4.0, "end_s": 34.0, "box": _box(bags, BAGS_AT)}],
           seed=17)


def bag_set_down(out: Path, vtest: str) -> None:
    """Nothing to report: a resident sets a bag down for 6 s (4-10 s) and takes it on; a long board lies by the
    bins from 12 s to the end (bag-sized, but no bag's shape)."""
    carrier, det = _person(person_sprites(vtest)[2], still(600, 330), 3, 11)
    _write(out, "bag_set_down", shop_background(vtest),
           [Actor(bag_sprite(6, size=(50, 34)), still(*BAGS_AT), 4, 10), carrier,
            Actor(plank_sprite(), still(560, 440), 12, SECONDS + 1)], [det], [], seed=18)


SCENARIOS = {"shop_goods": shop_goods, "shop_delivery": shop_delivery, "shop_parasol": shop_parasol,
             "umbrella_walkers": umbrella_walkers, "material_pile": material_pile, "small_litter": small_litter,
             "garbage_bags": garbage_bags, "bag_set_down": bag_set_down}


def render_all(out: Path, vtest: str, names=None) -> Path:
    """Render the scenarios into ``out`` (videos, annotations, replayed detections) and write ``config.yaml``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in SCENARIOS.items():
        if names is None or name in names:
            fn(out, vtest)
    (out / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return out


if __name__ == "__main__":  # python -m tests.scenarios.shop_and_piles --out DIR [--vtest var/samples/vtest.mp4]
    import argparse

    parser = argparse.ArgumentParser(description="render the shop-front and piles scenarios (videos, annotations, "
                                                 "replayed detections, config)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--vtest", default="var/samples/vtest.mp4")
    args = parser.parse_args()
    print(render_all(args.out, args.vtest))
