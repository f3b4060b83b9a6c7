"""`streetsight eval --learning`: do review decisions teach the cameras, and at what cost?

The labelled videos run through the pipeline as in `eval`; every incident is embedded as the live system embeds
it (its box in the raw snapshot, `vision/embedding.py`) and matched to the labels, which gives the decision a
reviewer would make: a matched incident is confirmed, any other is rejected as ``false_detection``. The
incidents are then replayed in time order (the video's ``media_start``, else the annotation files' order, plus
the incident's confirmation time), through the per-camera verifier of `vision/verifier.py` with the configured
``learning`` thresholds:

- step K: reviewers decided the first K incidents. Each incident is judged by the decisions made before it
  appeared, of those K (a decision never judges its own incident, nor an earlier one): suppressed, boosted
  or kept. Step 0 is the rules alone; step N is reviewers keeping up with the queue.
- precision and recall count kept incidents against the labelled events, as `eval` does; ``fp_removed`` are
  false positives suppressed, ``tp_lost`` true ones suppressed (recall lost to learning).

Each camera is replayed on its own and all together (``all``). Output: ``learning.json`` and ``learning.png``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from streetsight.config import Config
from streetsight.evaluation.annotations import AnnotationError, VideoAnnotation
from streetsight.evaluation.evaluate import run_annotated
from streetsight.evaluation.matching import FoundIncident, VideoResult
from vision.embedding import CropEmbedder, object_crop, shared_embedder
from vision.verifier import Box, Candidate, Example, VerifierBook, VerifierParams, normalised_box

log = logging.getLogger(__name__)

REJECT_REASON = "false_detection"


@dataclass(frozen=True)
class Replayed:
    """One incident of the replay, its appearance and place, and the decision its labels make."""

    source: str
    video: str
    incident: FoundIncident
    event: str | None  # the labelled event it matched; None: a false positive
    crop: np.ndarray
    box: Box
    at: float  # seconds on the replay's clock

    @property
    def true(self) -> bool:
        return self.event is not None

    def example(self) -> Example:
        return Example(incident_id=f"{self.video}/{self.incident.id}", event_type=self.incident.type, crop=self.crop,
                       box=self.box, verdict="confirmed" if self.true else "rejected",
                       reason=None if self.true else REJECT_REASON)

    def candidate(self) -> Candidate:
        return Candidate(event_type=self.incident.type, crop=self.crop, box=self.box)


@dataclass(frozen=True)
class Step:
    decisions: int
    tp: int
    fp: int
    fn: int
    fp_removed: int
    tp_lost: int
    boosted: int

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def as_dict(self) -> dict:
        def rnd(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {"decisions": self.decisions, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": rnd(self.precision), "recall": rnd(self.recall), "fp_removed": self.fp_removed,
                "tp_lost": self.tp_lost, "boosted": self.boosted}


def replay(items: Sequence[Replayed], events: int, params: VerifierParams) -> list[Step]:
    """Steps 0..N: after the first K decisions (``items`` in time order), what the queue holds."""
    steps = []
    for k in range(len(items) + 1):
        book = VerifierBook(params)
        tp = fp = fp_removed = tp_lost = boosted = 0
        for i, item in enumerate(items):
            action = book.judge(item.source, item.candidate()).action
            if action == "suppress":
                tp_lost += item.true
                fp_removed += not item.true
            else:
                tp += item.true
                fp += not item.true
                boosted += action == "boost"
            if i < k:  # its decision counts for the incidents after it
                book.add(item.source, item.example())
        steps.append(Step(k, tp, fp, events - tp, fp_removed, tp_lost, boosted))
    return steps


def camera_of(cfg: Config, ann: VideoAnnotation) -> str:
    """The source that filmed the video (as `runner.source_for` picks it)."""
    return next((s.id for s in cfg.sources if s.id == (ann.source or ann.name)), cfg.sources[0].id)


def judgements(items: Sequence[Replayed], params: VerifierParams) -> list[dict]:
    """How the verifier judged each incident with every earlier decision known (the last step), and why."""
    book = VerifierBook(params)
    out = []
    for item in items:
        j = book.judge(item.source, item.candidate())
        m = j.match
        out.append({"incident": item.incident.id, "video": item.video, "true": item.true, "action": j.action,
                    "matched": m.incident_id if m else None, "matched_verdict": m.verdict if m else None,
                    "similarity": round(j.similarity, 4) if m else None, "overlap": round(j.overlap, 4) if m else None})
        book.add(item.source, item.example())
    return out


def _clock(ann: VideoAnnotation, index: int) -> float:
    """Where a video starts on the replay's clock: its media_start, else its place in the file order."""
    if ann.media_start:
        return datetime.fromisoformat(ann.media_start).timestamp()
    return index * 1e6


def replayed(runs: Sequence[tuple[VideoAnnotation, VideoResult]], cfg: Config,
             embedder: CropEmbedder) -> list[Replayed]:
    """Every incident of ``runs`` embedded and labelled, in time order."""
    items = []
    for index, (ann, result) in enumerate(runs):
        source = camera_of(cfg, ann)
        matched = {id(m.incident): m.event.id for m in result.matches}
        incidents = [m.incident for m in result.matches] + list(result.false_positives)
        if not incidents:
            continue
        crops, boxes = [], []
        for inc in incidents:
            frame = cv2.imread(inc.snapshot_raw) if inc.snapshot_raw else None
            if frame is None:
                raise AnnotationError(f"{ann.name}: incident {inc.id} has no raw snapshot to learn from")
            crops.append(object_crop(frame, inc.box))
            boxes.append(normalised_box(inc.box, frame.shape[1], frame.shape[0]))
        vectors = embedder.embed(crops)
        start = _clock(ann, index)
        items += [Replayed(source, ann.name, inc, matched.get(id(inc)), vectors[k], boxes[k],
                           start + inc.confirmed_at) for k, inc in enumerate(incidents)]
    return sorted(items, key=lambda r: (r.at, r.video, r.incident.id))


def _decisions(items: Sequence[Replayed]) -> list[dict]:
    return [{"k": k + 1, "video": r.video, "incident": r.incident.id, "type": r.incident.type, "zone": r.incident.zone,
             "confirmed_at": round(r.incident.confirmed_at, 2), "box": [round(v) for v in r.incident.box],
             "decision": "confirm" if r.true else "reject", "reason": None if r.true else REJECT_REASON,
             "event": r.event} for k, r in enumerate(items)]


def evaluate_learning(cfg: Config, annotations: Path, videos: Path, out: Path, detections: Path | None = None,
                      config_name: str = "") -> dict:
    """Run, label, replay; returns the report (also written to ``out``: learning.json, learning.png)."""
    runs = run_annotated(cfg, annotations, videos, out, detections)
    items = replayed(runs, cfg, shared_embedder(cfg.learning.embedding_model, cfg.learning.threads or 1))
    lc = cfg.learning
    params = VerifierParams(min_similarity=lc.min_similarity, place_iou=lc.place_iou,
                            min_camera_examples=lc.min_camera_examples)
    events: dict[str, int] = {}
    videos_of: dict[str, list[str]] = {}
    for ann, _ in runs:
        source = camera_of(cfg, ann)
        events[source] = events.get(source, 0) + len(ann.events)
        videos_of.setdefault(source, []).append(ann.name)
    cameras = {}
    for source in videos_of:
        own = [r for r in items if r.source == source]
        cameras[source] = {"videos": videos_of[source], "events": events[source], "decisions": _decisions(own),
                           "steps": [s.as_dict() for s in replay(own, events[source], params)],
                           "judgements": judgements(own, params)}
    total = sum(events.values())
    data = {
        "config": config_name, "annotations": str(annotations), "videos": str(videos),
        "detector": f"replayed from {detections}" if detections else f"model {cfg.model.name}",
        "embedding_model": lc.embedding_model,
        "verifier": {"min_similarity": lc.min_similarity, "place_iou": lc.place_iou,
                     "min_camera_examples": lc.min_camera_examples},
        "method": "incidents in time order; step K: the first K decided (matched: confirm, else reject as "
                  f"{REJECT_REASON}); each incident judged by the decisions of those K made before it",
        "cameras": cameras,
        "all": {"events": total, "decisions": _decisions(items),
                "steps": [s.as_dict() for s in replay(items, total, params)]},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    plot_learning(data, out / "learning.png")
    return data


def plot_learning(data: dict, path: Path) -> None:
    """Precision and recall against the number of decisions, per camera and for all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(name, c["steps"]) for name, c in data["cameras"].items()] + [("all", data["all"]["steps"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.2), dpi=100, squeeze=False)
    for ax, (name, steps) in zip(axes[0], panels):
        k = [s["decisions"] for s in steps]
        ax.plot(k, [s["precision"] if s["precision"] is not None else np.nan for s in steps], "o-", label="precision")
        ax.plot(k, [s["recall"] if s["recall"] is not None else np.nan for s in steps], "s--", label="recall")
        for s in steps:
            if s["fp_removed"] or s["tp_lost"]:
                ax.annotate(f"-{s['fp_removed']}FP" + (f" -{s['tp_lost']}TP" if s["tp_lost"] else ""),
                            (s["decisions"], 0.05), fontsize=6, ha="center", rotation=90)
        ax.set_ylim(0, 1.05)
        ax.set_xticks(k)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("review decisions fed", fontsize=8)
    axes[0][0].legend(loc="center right", fontsize=7)
    fig.suptitle("learning from review decisions: precision / recall per camera", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
