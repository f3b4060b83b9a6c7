"""Reviewers' decisions -> training data. Reads the records and the evidence; changes neither.

Each reviewed incident's raw snapshot (the frame at confirmation, nothing drawn on it) becomes an image:
- confirmed: a positive, with the incident's box, labelled with its detector class (``class_map`` renames,
  e.g. a COCO ``truck`` to ``parked_vehicle``) or, with ``label_from="type"``, its event type (the type
  the reviewer corrected it to, if they did);
- rejected as a false detection (reason ``false_detection``, or no reason recorded): a hard negative, an
  image with an empty label file, so the model learns that what it saw there was not the class;
- rejected as ``not_a_violation`` or ``permitted``: the object was real, only the rule was wrong, so with
  ``label_from="class"`` it is a positive too (skipped with ``label_from="type"``);
- rejected for another reason (``duplicate``, ``poor_evidence``, ...): says nothing about the detector,
  skipped.
Caveat: other objects of the classes in a negative frame teach the model to miss them; look at the
negatives (``datasets stats``) or crop them before training on them in bulk.

Files are named ``<source>__pos|neg__<incident>``: split them by camera with ``--group '^(.+?)__'`` so the
held-out set shows cameras the model did not train on.

Incidents that cannot be exported (no snapshot, unreadable, class outside ``names``) are listed in the
manifest under ``skipped_incidents``, never silently dropped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

from datasets.importers.writer import DatasetWriter
from datasets.yolo import DatasetError

PAGE = 500


def iter_reviewed(repository: Any, status: str, types: Sequence[str] | None = None) -> Iterator[Any]:
    """Every incident with ``status``, oldest pages last, read in pages (the records may be large)."""
    offset = 0
    while True:
        page = repository.list(status=status, limit=PAGE, offset=offset)
        if not page:
            return
        for inc in page:
            if not types or inc.type in types:
                yield inc
        offset += len(page)


NEGATIVE_REASONS = (None, "false_detection")  # the detector saw something that was not there
REAL_OBJECT_REASONS = ("not_a_violation", "permitted")  # the object was there; the rule was wrong


def _review(inc: Any, field: str) -> Any:
    return getattr(inc.review, field, None) if getattr(inc, "review", None) is not None else None


def review_role(inc: Any, label_from: str) -> str:
    """"positive", "negative" or "skip" for one reviewed incident (see the module notes)."""
    if inc.status == "confirmed":
        return "positive"
    reason = _review(inc, "reason")
    if reason in NEGATIVE_REASONS:
        return "negative"
    if reason in REAL_OBJECT_REASONS and label_from == "class":
        return "positive"
    return "skip"


def export_reviews(repository: Any, store: Any, dest: str | Path, *, names: Sequence[str] | None = None,
                   class_map: Mapping[str, str] | None = None, label_from: Literal["class", "type"] = "class",
                   types: Sequence[str] | None = None, negatives: bool = True,
                   evidence_kind: str = "snapshot_raw", name: str | None = None, version: str = "1") -> dict:
    """Write an unsplit YOLO dataset of reviewed incidents to ``dest``; returns its manifest.

    ``repository`` is an ``api.repository.IncidentRepository`` (``list``, ``evidence_item``), ``store`` an
    ``evidence.store.EvidenceStore`` (``open``). With ``names`` given, incidents of other classes are
    skipped and counted instead of adding classes.
    """
    import cv2
    import numpy as np

    class_map = dict(class_map or {})
    writer = DatasetWriter(dest, names, skip_unknown=names is not None)
    skipped: list[dict[str, str]] = []
    exported = {"positives": 0, "negatives": 0}
    statuses = ["confirmed"] + (["rejected"] if negatives or label_from == "class" else [])
    for status in statuses:
        for inc in iter_reviewed(repository, status, types):
            role = review_role(inc, label_from)
            if role == "negative" and not negatives:
                continue
            if role == "skip":
                skipped.append({"incident": inc.id, "reason": f"rejected as {_review(inc, 'reason')!r}: "
                                "says nothing about the detector"})
                continue
            item = repository.evidence_item(inc.id, evidence_kind)
            if item is None:
                skipped.append({"incident": inc.id, "reason": f"no {evidence_kind} evidence"})
                continue
            try:
                with store.open(item.key) as f:
                    data = f.read()
            except (OSError, KeyError, ValueError) as err:
                skipped.append({"incident": inc.id, "reason": f"{evidence_kind} {item.key}: {err}"})
                continue
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                skipped.append({"incident": inc.id, "reason": f"{evidence_kind} {item.key}: not a decodable image"})
                continue
            height, width = image.shape[:2]
            boxes = []
            if role == "positive":
                label = inc.class_name if label_from == "class" else (_review(inc, "corrected_type") or inc.type)
                label = class_map.get(label, label)
                if names is not None and label not in names:
                    skipped.append({"incident": inc.id, "reason": f"class {label!r} is not in {list(names)}"})
                    continue
                fw, fh = inc.frame_size
                sx, sy = width / fw, height / fh  # a snapshot stored at another size than the analysed frame
                x1, y1, x2, y2 = inc.box
                boxes.append((label, (x1 * sx, y1 * sy, x2 * sx, y2 * sy)))
            suffix = ".png" if data[:4] == b"\x89PNG" else ".jpg"
            stem = f"{inc.source}__{'pos' if role == 'positive' else 'neg'}__{inc.id}"  # split with group '^(.+?)__'
            writer.add_bytes(data, suffix, stem, boxes, width, height)
            exported["positives" if role == "positive" else "negatives"] += 1
    if writer.images == 0:
        raise DatasetError(f"no reviewed incident could be exported ({len(skipped)} skipped: "
                           f"{[s['reason'] for s in skipped[:3]]})")
    if not writer.names:
        writer.names = list(names or [])
        if not writer.names:
            raise DatasetError("only rejected incidents were found: give the class names (names=...)")
    return writer.finish(name=name or Path(dest).name, version=version, tool="datasets.reviews",
                         params={"class_map": class_map, "label_from": label_from, "types": list(types or []),
                                 "negatives": negatives, "evidence_kind": evidence_kind},
                         extra={**exported, "skipped_incidents": skipped})
