"""What a rule sees of one analysed frame besides its detections."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import supervision as sv


@dataclass
class FrameContext:
    time_s: float  # media seconds: the rules' clock
    width: int
    height: int
    image: np.ndarray | None = None  # BGR, for rules that look at pixels (static objects, bin state)
    local_time: datetime | None = None  # wall-clock time of the frame in the deployment's zone, if known
    position: dict | None = None  # moving cameras: {"lng", "lat", "timestamp"} reported by the device
    index: int = 0  # running count of analysed frames of the source
    # the detector's output before tracking, every box down to the model's floor score: rules taught by example
    # take low-scored boxes of any class that the tracker does not keep (detectors/taught.py)
    detections: sv.Detections | None = None
