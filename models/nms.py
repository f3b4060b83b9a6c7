"""Greedy per-class non-maximum suppression in numpy."""
from __future__ import annotations

import numpy as np


def box_iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms_per_class(xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float,
                  max_keep: int = 300) -> np.ndarray:
    """Indices of the kept boxes, best score first. Boxes of different classes never suppress each other."""
    if len(scores) == 0:
        return np.empty(0, np.int64)
    # shift each class to its own region of the plane: one pass handles all classes
    span = float(xyxy.max() - xyxy.min()) + 1.0
    offset = class_ids.astype(np.float32)[:, None] * span
    boxes = xyxy.astype(np.float32) + offset
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_keep:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        order = rest[box_iou_one(boxes[i], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, np.int64)
