"""Taught examples as records (issue 14): boxes reviewers draw on a camera's snapshot and name.

The store keeps them and says when they change: ``on_change`` listeners in this process hear at once;
other processes (workers, API replicas) poll ``version`` (count and newest change) every few seconds.
The vectors are cut and embedded by the wiring (`ExampleCutter`): the API imports no analysis package.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Literal

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from .audit import record_audit
from .db import TaughtExampleRecord
from .embeddings import decode_vector

Label = Literal["positive", "negative"]


@dataclass(frozen=True)
class CutExample:
    """What the wiring cut from the camera's latest frame for a drawn box."""

    crop: bytes  # float16 little-endian embedding
    model: str
    dim: int
    frame_size: tuple[int, int]
    thumbnail: bytes | None  # JPEG of the crop


@dataclass(frozen=True)
class StoredExample:
    id: str
    source: str
    event_type: str
    label: Label
    box: tuple[float, float, float, float]  # normalised
    frame_size: tuple[int, int]
    model: str
    crop: np.ndarray  # float32 [dim]
    created_by: str | None
    created_at: datetime
    has_thumbnail: bool = True  # False for an example made from an incident (its crop's vectors only)


def _stored(r: TaughtExampleRecord) -> StoredExample:
    return StoredExample(id=r.id, source=r.source, event_type=r.event_type, label=r.label,  # type: ignore[arg-type]
                         box=tuple(float(v) for v in r.box), frame_size=(int(r.frame_size[0]), int(r.frame_size[1])),
                         model=r.model, crop=decode_vector(r.crop), created_by=r.created_by,
                         created_at=r.created_at, has_thumbnail=r.thumbnail is not None)


class ExampleStore:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory
        self._listeners: list[Callable[[str, StoredExample | None, str], None]] = []

    def on_change(self, listener: Callable[[str, StoredExample | None, str], None]) -> None:
        """``listener(source, example or None when deleted, example_id)`` after each change stored here."""
        self._listeners.append(listener)

    def add(self, source: str, event_type: str, label: Label, box: tuple[float, float, float, float],
            cut: CutExample, actor: str) -> StoredExample:
        record = TaughtExampleRecord(
            id=uuid.uuid4().hex, source=source, event_type=event_type, label=label, box=list(box),
            frame_size=list(cut.frame_size), model=cut.model, dim=cut.dim, crop=cut.crop, thumbnail=cut.thumbnail,
            created_by=actor, created_at=datetime.now(timezone.utc))
        with self._sessions() as s:
            s.add(record)
            record_audit(s, actor, "example.added", source_id=source,
                         after={"id": record.id, "event_type": event_type, "label": label, "box": list(box)})
            s.commit()
        stored = _stored(record)
        for listener in self._listeners:
            listener(source, stored, stored.id)
        return stored

    def list(self, source: str | None = None, model: str | None = None) -> list[StoredExample]:
        with self._sessions() as s:
            q = select(TaughtExampleRecord).order_by(TaughtExampleRecord.created_at, TaughtExampleRecord.id)
            if source is not None:
                q = q.where(TaughtExampleRecord.source == source)
            if model is not None:
                q = q.where(TaughtExampleRecord.model == model)
            return [_stored(r) for r in s.scalars(q)]

    def thumbnail(self, source: str, example_id: str) -> bytes | None:
        with self._sessions() as s:
            r = s.get(TaughtExampleRecord, example_id)
            return r.thumbnail if r is not None and r.source == source else None

    def delete(self, source: str, example_id: str, actor: str) -> bool:
        with self._sessions() as s:
            r = s.get(TaughtExampleRecord, example_id)
            if r is None or r.source != source:
                return False
            record_audit(s, actor, "example.deleted", source_id=source,
                         before={"id": r.id, "event_type": r.event_type, "label": r.label, "box": r.box})
            s.delete(r)
            s.commit()
        for listener in self._listeners:
            listener(source, None, example_id)
        return True

    def version(self) -> tuple[int, str | None]:
        """Changes anywhere show here: (how many, the newest id) — a delete lowers the count."""
        with self._sessions() as s:
            count = s.scalar(select(func.count()).select_from(TaughtExampleRecord)) or 0
            newest = s.scalar(select(TaughtExampleRecord.id).order_by(TaughtExampleRecord.created_at.desc(),
                                                                       TaughtExampleRecord.id.desc()).limit(1))
            return int(count), newest
