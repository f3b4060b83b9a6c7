"""Run by tests/test_training_e2e.py in the training venv: do serving's pre-processing and decoding (models/)
give Ultralytics' own input tensor and detections for a registered model? Prints one JSON object.

    python tests/training_agreement.py MODEL_NAME IMAGE
"""
import json
import sys

import cv2
import numpy as np

from training.env import import_ultralytics

import_ultralytics()
from ultralytics import YOLO  # noqa: E402
from ultralytics.data.augment import LetterBox  # noqa: E402

from models.detector import OnnxDetector  # noqa: E402
from models.registry import find_model  # noqa: E402

name, image_path = sys.argv[1], sys.argv[2]
entry = find_model(name)
det = OnnxDetector(entry.model_path, entry.manifest, min_score=0.0001)
img = cv2.imread(image_path)
size = entry.manifest.input.width
theirs = LetterBox(new_shape=(size, size), auto=False, stride=32)(image=img)
theirs = theirs[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
det.preprocess(img, 0)
ours = det.preprocess.buffer[:1].copy()
top = float(det.session.run(["output0"], {"images": ours})[0][0, 4:].max())
det.min_score = top * 0.5  # an early model scores low: compare what both keep above half its best score
mine = det.detect([img])[0]
res = YOLO(str(entry.model_path), task="detect").predict(img, imgsz=size, conf=top * 0.5, iou=0.5, verbose=False)[0]
print(json.dumps({
    "input_max_abs_diff": float(np.abs(theirs - ours).max()), "top_score": top,
    "ours": {"xyxy": mine.xyxy.tolist()[:5], "scores": mine.scores.tolist()[:5], "cls": mine.class_ids.tolist()[:5]},
    "ultralytics": {"xyxy": res.boxes.xyxy.tolist()[:5], "scores": res.boxes.conf.tolist()[:5],
                    "cls": res.boxes.cls.int().tolist()[:5]}}))
