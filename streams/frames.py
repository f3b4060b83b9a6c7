"""The frame type that streams hand to the analysis side (plain numpy, no analysis imports)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class Frame:
    """One decoded picture of a source.

    ``time_s`` is media time in seconds since the start of the source (monotonic across reconnects),
    never the wall clock of processing, so a recorded file analysed at full speed gives the same
    incidents as the live stream.
    """

    source_id: str
    image: np.ndarray  # BGR, HxWx3, uint8
    time_s: float
    index: int  # running count of decoded frames of this source
    is_keyframe: bool = False
    wall_time: float | None = None  # unix time the frame was received (live sources), if known
    extras: dict = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
