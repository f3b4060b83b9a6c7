"""Hands an incident's appearance from vision/ to the records: embeds the object's box and its context ring
in the frame the snapshot uses, once, when the incident opens, and packs them for ``IncidentCreate``."""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from api.embeddings import StoredEmbedding, encode_vector
from api.schemas import EmbeddingIn
from models.manifest import ManifestError
from models.registry import ModelNotFound
from streetsight.config import ConfigError, LearningConfig
from vision.embedding import CropEmbedder, shared_embedder
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
        return cls(shared_embedder(model, threads))

    def embed(self, image: np.ndarray, box: Sequence[float]) -> EmbeddingIn | None:
        try:
            (obj,) = self.embedder.embed_objects(image, [box])
            return EmbeddingIn(model=self.model, dim=self.embedder.dim, crop=encode_vector(obj.crop),
                               ring=encode_vector(obj.ring))
        except Exception:  # noqa: BLE001 - the incident is recorded without it
            log.exception("embedding of box %s failed; the incident is recorded without it", list(box))
            return None


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
