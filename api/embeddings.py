"""Incident embeddings as records: the float16 codec and the stored form handed to the learners.

Vectors travel as base64 of float16 little-endian values (``EmbeddingIn``: the pipeline, the cluster bus)
and rest as those bytes (``incident_embeddings``); readers get float32 arrays back.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

import numpy as np

_F16 = np.dtype("<f2")


def encode_vector(vector: np.ndarray) -> str:
    """base64 of the vector as float16 little-endian (what ``EmbeddingIn`` carries)."""
    v = np.asarray(vector, dtype=np.float32).ravel()
    if not np.isfinite(v).all():
        raise ValueError("embedding has non-finite values")
    return base64.b64encode(v.astype(_F16).tobytes()).decode("ascii")


def encode_vector_bytes(vector: np.ndarray) -> bytes:
    """The vector as stored: float16 little-endian bytes."""
    return base64.b64decode(encode_vector(vector))


def decode_vector(raw: bytes | str) -> np.ndarray:
    """float32 [dim] from stored bytes or base64 text."""
    data = base64.b64decode(raw, validate=True) if isinstance(raw, str) else raw
    return np.frombuffer(data, dtype=_F16).astype(np.float32)


@dataclass(frozen=True)
class StoredEmbedding:
    """One incident's vectors with what a learner needs to know about it: where, what, and the decision."""

    incident_id: str
    type: str
    source: str
    zone: str | None
    class_name: str
    box: tuple[float, float, float, float]  # pixels
    frame_size: tuple[int, int]  # (width, height)
    status: str  # pending | confirmed | rejected
    reject_reason: str | None
    corrected_type: str | None
    detected_wall: datetime
    model: str
    crop: np.ndarray  # float32 [dim]
    ring: np.ndarray | None


@dataclass(frozen=True)
class ClosedOffence:
    """A confirmed incident that is over (the object left, or its case was verified or closed), with its vectors:
    what a new sighting of the same object at the same place is a repeat of."""

    embedding: StoredEmbedding
    case_number: str | None
    case_status: str | None
    ended_wall: datetime | None
    history: dict | None  # its own OffenceHistory, as stored
