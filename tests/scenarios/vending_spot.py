"""A vending spot (摊位) on the vtest street, rendered for teaching a region state (issue 14, item 5).

The same stall (table, goods, parasol; datasets/synthetic's vendor stall) comes back to the same spot of the
pavement with its vendor; on other days the spot is empty, or a delivery tricycle parks on it with its rider. The
street is the plate of OpenCV's vtest clip, the people are cut out of that footage (tests/scenarios/render.py);
each frame has its own sensor noise and the light varies. A reviewer's box around the spot is ``SPOT``.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from tests.scenarios.learning import delivery_tricycle_sprite, stall_sprite
from tests.scenarios.render import Actor, Scene, person_sprites, plate, still

Kind = Literal["stall", "empty", "tricycle"]
STALL_BOX = [200, 250, 300, 320]  # the stall's table and goods stand on the kerb line y = 320
SPOT_PX = (185.0, 215.0, 355.0, 330.0)  # the spot as a reviewer draws it: stall, vendor and a margin
SIZE = (768, 576)
SPOT = tuple(round(v / SIZE[i % 2], 4) for i, v in enumerate(SPOT_PX))  # normalised
SPOT_POLYGON = [[SPOT[0], SPOT[1]], [SPOT[2], SPOT[1]], [SPOT[2], SPOT[3]], [SPOT[0], SPOT[3]]]


def spot_scene(vtest: str, kind: Kind, seed: int, light: float = 1.0, t0: float = 0.0,
               t1: float = float("inf")) -> Scene:
    """The street with ``kind`` on the spot from ``t0`` to ``t1`` (media s), in ``light`` (gain)."""
    people = person_sprites(vtest)
    actors: list[Actor] = []
    if kind == "stall":
        stall = stall_sprite(STALL_BOX)
        h, w = stall.mask.shape
        actors = [Actor(stall, still(STALL_BOX[0], STALL_BOX[3] - h), t0, t1),
                  Actor(people[2].scaled(0.85), still(STALL_BOX[0] + w - 40, 232), t0, t1)]
    elif kind == "tricycle":
        tricycle = delivery_tricycle_sprite([205, 262, 305, 322])
        h, w = tricycle.mask.shape
        actors = [Actor(tricycle, still(205, 322 - h), t0, t1),
                  Actor(people[0].scaled(0.85), still(205 + w, 230), t0, t1)]
    return Scene(plate(vtest), actors, seed=seed, gain=lambda t: light)


def spot_frame(vtest: str, kind: Kind, seed: int, light: float = 1.0) -> np.ndarray:
    return spot_scene(vtest, kind, seed, light).draw(seed, 0.0)
