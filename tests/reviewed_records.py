"""Reviewed incidents for the training loop's tests: a dataset's training images recorded as incidents with their
snapshots in the evidence store, confirmed where the image has a labelled object and rejected where it has none
(what `train loop` exports as the next dataset version's positives and hard negatives)."""
from __future__ import annotations

from pathlib import Path

import cv2

from api.repository import IncidentRepository
from api.schemas import EvidenceItemIn, IncidentCreate
from datasets.manifest import read_manifest
from datasets.yolo import label_path_for, load_dataset, read_labels
from evidence.store import LocalEvidenceStore


def add_reviewed_incidents(repo: IncidentRepository, store: LocalEvidenceStore, data: Path, count: int = 6,
                           id_format: str = "inc-{n}") -> list[str]:
    names = read_manifest(data)["classes"]
    ids = []
    for n, image in enumerate(load_dataset(data).images("train")[:count]):
        img = cv2.imread(str(image))
        h, w = img.shape[:2]
        boxes = read_labels(label_path_for(image))
        decision, cls, xyxy = ("confirm", names[boxes[0].class_id], boxes[0].to_xyxy(w, h)) if boxes else \
            ("reject", names[0], (0, 0, 20, 20))
        inc = id_format.format(n=n)
        repo.add(IncidentCreate(id=inc, type="street_vending", source=f"cam-{n % 3}", started_at=0, confirmed_at=1,
                                **{"class": cls}, box=xyxy, score=0.9, frame_size=(w, h)))
        obj = store.put_bytes(f"2026/01/01/cam/{inc}/snapshot_raw.jpg", image.read_bytes(), "image/jpeg")
        repo.attach_evidence(inc, EvidenceItemIn(kind="snapshot_raw", key=obj.key, sha256=obj.sha256, size=obj.size,
                                                 content_type="image/jpeg"))
        repo.review(inc, decision, reason="false_detection" if decision == "reject" else None)
        ids.append(inc)
    return ids
