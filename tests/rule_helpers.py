"""Scripted detections for rule tests: what a tracker would hand the rules, with exact boxes and times."""
from __future__ import annotations

import numpy as np
import supervision as sv

from detectors.context import FrameContext

W, H = 1000, 500


def dets(*objs: tuple[int, str, list[float], float]) -> sv.Detections:
    """objs: (tracker_id, class_name, box xyxy, score)."""
    if not objs:
        return sv.Detections.empty()
    return sv.Detections(
        xyxy=np.array([o[2] for o in objs], dtype=np.float32),
        confidence=np.array([o[3] for o in objs], dtype=np.float32),
        class_id=np.zeros(len(objs), dtype=int),
        tracker_id=np.array([o[0] for o in objs], dtype=int),
        data={"class_name": np.array([o[1] for o in objs], dtype=object)},
    )


def run_rule(rule, frames, fps: float = 2.0, contexts=None):
    """Feed ``frames`` (Detections) at ``fps``; ``contexts(k, t)`` may give a FrameContext per frame."""
    events = []
    for k, d in enumerate(frames):
        t = k / fps
        ctx = contexts(k, t) if contexts else FrameContext(t, W, H)
        events += rule.observe(ctx, d)
    return events + rule.finish()


def opened(events):
    return [e.incident for e in events if e.kind == "opened"]
