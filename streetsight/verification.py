"""Hands review decisions from the records to the per-camera verifiers (vision/), and their judgements back.

When an incident's appearance vectors are stored (``IncidentRepository.on_embedded``: the recorder's embedding
thread in one process, the bus consumer of the API role in a cluster), its camera's verifier judges it:

- it looks like a *rejected* incident at the same place -> ``suppressed`` (out of the review queue,
  ``suppressed_by`` names the decision; a reviewer can un-suppress it);
- it looks like a *confirmed* one -> ``priority`` = its similarity (ranked higher in the queue);
- else it stays as it is.

The learned state is the records themselves: every decided incident with its embedding is an example. A
decision stored by this process counts at once (``on_reviewed``); one stored by another process (several API
replicas) is picked up by polling ``review_version`` at most every ``refresh_s`` before a judgement. Workers
hold no learned state: judging happens where the records are written.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from api.embeddings import StoredEmbedding
from api.repository import IncidentRepository
from api.schemas import IncidentOut
from streetsight.config import LearningConfig
from streetsight.incident_embedding import example_of
from vision.verifier import Candidate, Judgement, VerifierBook, VerifierParams, normalised_box

log = logging.getLogger(__name__)


class RecordVerification:
    """Keeps a `VerifierBook` in step with the decisions in ``repository`` and applies its judgements."""

    def __init__(self, repository: IncidentRepository, params: VerifierParams | None = None,
                 refresh_s: float = 2.0) -> None:
        self.repository = repository
        self.params = params or VerifierParams()
        self.refresh_s = refresh_s
        self.book = VerifierBook(self.params)
        self._version: tuple[int, Any] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self.suppressed = 0
        self.boosted = 0

    def attach(self) -> "RecordVerification":
        """Learn from the records now and from every later decision; judge every embedded incident."""
        self.reload()
        self.repository.on_reviewed(self.learn)
        self.repository.on_embedded(self.judge_incident)
        return self

    def reload(self) -> int:
        """Rebuild every camera's examples from the records (decisions made by any process)."""
        version = self.repository.review_version()
        book = VerifierBook(self.params)
        for record in self.repository.embeddings(reviewed=True):
            example = example_of(record)
            if example is not None:
                book.add(record.source, example)
        with self._lock:
            self.book, self._version, self._checked = book, version, time.monotonic()
        log.info("verifier: %d example(s) from the records", len(book))
        return len(book)

    def learn(self, incident: IncidentOut) -> None:
        """A decision stored by this process: an example at once (no reload)."""
        record = self.repository.embedding(incident.id)
        example = example_of(record) if record is not None else None
        if record is not None and example is not None:
            self.book.add(record.source, example)

    def judge_incident(self, incident_id: str) -> Judgement | None:
        """Judge a pending incident by its stored embedding and record the outcome; None if not judged."""
        self._refresh()
        record = self.repository.embedding(incident_id)
        if record is None or record.status != "pending":
            return None
        judgement = self.book.judge(record.source, candidate_of(record))
        if judgement.action == "suppress" and judgement.match is not None:
            if self.repository.suppress(incident_id, judgement.match.incident_id, judgement.similarity):
                self.suppressed += 1
                log.info("incident %s suppressed: looks like rejected %s at the same place (cosine %.2f, IoU %.2f)",
                         incident_id, judgement.match.incident_id, judgement.similarity, judgement.overlap)
        elif judgement.action == "boost":
            self.repository.set_priority(incident_id, judgement.similarity)
            self.boosted += 1
        return judgement

    def _refresh(self) -> None:
        """Reload when another process stored a decision (checked at most every ``refresh_s``)."""
        now = time.monotonic()
        if now - self._checked < self.refresh_s:
            return
        self._checked = now
        if self.repository.review_version() != self._version:
            self.reload()


def candidate_of(record: StoredEmbedding) -> Candidate:
    width, height = record.frame_size
    return Candidate(event_type=record.type, crop=record.crop, box=normalised_box(record.box, width, height),
                     ring=record.ring)


def attach_verification(repository: IncidentRepository, cfg: LearningConfig) -> RecordVerification | None:
    """The configured verification on ``repository`` (None when turned off)."""
    if not cfg.verifier:
        return None
    params = VerifierParams(min_similarity=cfg.min_similarity, place_iou=cfg.place_iou,
                            min_camera_examples=cfg.min_camera_examples)
    return RecordVerification(repository, params, cfg.refresh_s).attach()
