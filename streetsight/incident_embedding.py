"""Hands an incident's appearance from vision/ to the records: embeds the object's box and its context ring
in the frame the snapshot uses, once, when the incident opens, and attaches them to its record.

The two crops are cut when the incident opens (cheap copies); the backbone runs on an `EmbeddingWriter`'s
own thread (~20 ms per crop on one CPU core), so the analysis thread that serves every camera never waits
for it. A backlog beyond ``max_pending`` incidents is dropped with a warning: such incidents are recorded
without vectors, never delayed or lost.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Protocol, Sequence

import numpy as np

from api.embeddings import StoredEmbedding, encode_vector
from api.schemas import EmbeddingIn
from models.manifest import ManifestError
from models.registry import ModelNotFound
from streetsight.config import ConfigError, LearningConfig
from vision.embedding import CropEmbedder, context_ring, object_crop
from vision.verifier import Example, normalised_box

log = logging.getLogger(__name__)


class IncidentEmbedder:
    """``embed(image, box)`` -> the record's ``EmbeddingIn``, or None when the model fails: a missing
    embedding must never lose an incident. Costs two crops through the backbone (~40 ms on one CPU core)
    per incident, not per frame."""

    def __init__(self, embedder: CropEmbedder) -> None:
        self.embedder = embedder
        self.model = f"{embedder.manifest.name}@{embedder.manifest.version}"

    @classmethod
    def load(cls, model: str, threads: int = 1) -> "IncidentEmbedder":
        # a session of its own: the bin-state classifiers' shared one serves the analysis thread
        return cls(CropEmbedder.from_registry(model, threads=threads))

    def embed(self, image: np.ndarray, box: Sequence[float]) -> EmbeddingIn | None:
        return self.embed_crops(object_crop(image, box), context_ring(image, box))

    def embed_crops(self, crop: np.ndarray, ring: np.ndarray) -> EmbeddingIn | None:
        try:
            vectors = self.embedder.embed([crop, ring])
            return EmbeddingIn(model=self.model, dim=self.embedder.dim, crop=encode_vector(vectors[0]),
                               ring=encode_vector(vectors[1]))
        except Exception:  # noqa: BLE001 - the incident is recorded without it
            log.exception("embedding of a %s crop failed; the incident is recorded without it", crop.shape)
            return None


class EmbeddingSink(Protocol):
    def attach_embedding(self, incident_id: str, embedding: EmbeddingIn) -> Any: ...


class EmbeddingWriter:
    """Embeds opened incidents on its own thread and attaches the vectors to their records, in order."""

    def __init__(self, embedder: IncidentEmbedder, sink: EmbeddingSink, max_pending: int = 256) -> None:
        self.embedder = embedder
        self.sink = sink
        self._queue: queue.Queue[tuple[str, np.ndarray, np.ndarray]] = queue.Queue(maxsize=max_pending)
        self._idle = threading.Condition()
        self._unfinished = 0
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0  # backlog full: recorded without vectors
        self.failed = 0

    def submit(self, incident_id: str, image: np.ndarray, box: Sequence[float]) -> bool:
        """Cut the incident's crops from ``image`` now and embed them later; False if the backlog is full."""
        job = (incident_id, object_crop(image, box).copy(), context_ring(image, box))
        with self._idle:
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                self.dropped += 1
                log.warning("incident %s: %d embeddings pending; recorded without one", incident_id,
                            self._queue.maxsize)
                return False
            self._unfinished += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="incident-embeddings", daemon=True)
                self._thread.start()
        return True

    def drain(self, timeout_s: float = 60.0) -> bool:
        """Wait until every submitted incident has its vectors attached (or failed); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._unfinished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _run(self) -> None:
        while True:
            incident_id, crop, ring = self._queue.get()
            try:
                embedding = self.embedder.embed_crops(crop, ring)
                if embedding is None:
                    self.failed += 1
                else:
                    self.sink.attach_embedding(incident_id, embedding)
                    self.written += 1
            except Exception:  # noqa: BLE001 - e.g. the database is down: this one goes without
                self.failed += 1
                log.exception("incident %s: storing its embedding failed", incident_id)
            finally:
                with self._idle:
                    self._unfinished -= 1
                    self._idle.notify_all()


def load_incident_embedder(cfg: LearningConfig) -> IncidentEmbedder | None:
    """The configured embedder, loaded now (not at the first incident); None when turned off."""
    if not cfg.embeddings:
        return None
    try:
        return IncidentEmbedder.load(cfg.embedding_model, cfg.threads)
    except (ModelNotFound, ManifestError) as exc:
        raise ConfigError(f"learning.embedding_model: {exc}") from None


def example_of(record: StoredEmbedding) -> Example | None:
    """A reviewed incident's record as a verifier example (None while it is pending); a reviewer's
    corrected type is the type it teaches."""
    if record.status not in ("confirmed", "rejected"):
        return None
    width, height = record.frame_size
    return Example(incident_id=record.incident_id, event_type=record.corrected_type or record.type,
                   crop=record.crop, box=normalised_box(record.box, width, height),
                   verdict=record.status, reason=record.reject_reason, ring=record.ring)  # type: ignore[arg-type]
