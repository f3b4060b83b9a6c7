"""Builds the long-lived parts from a Config: model, evidence store, records, recorder."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from api.db import create_engine_for, init_db
from api.repository import IncidentRepository
from evidence.store import LocalEvidenceStore
from models.detector import OnnxDetector
from streetsight.config import Config
from streetsight.recorder import IncidentRecorder
from vision.detection import FrameDetector

log = logging.getLogger(__name__)


def load_detector(cfg: Config) -> FrameDetector:
    m = cfg.model
    return FrameDetector(OnnxDetector.from_registry(
        m.name, providers=m.providers, threads=m.threads, min_score=m.min_score, iou_threshold=m.iou_threshold))


@dataclass
class Runtime:
    cfg: Config
    detector: FrameDetector
    repository: IncidentRepository
    evidence_root: Path
    recorder: IncidentRecorder

    @classmethod
    def create(cls, cfg: Config, detector: FrameDetector | None = None) -> "Runtime":
        from sqlalchemy.orm import sessionmaker

        engine = create_engine_for(cfg.storage.resolved_database_url())
        init_db(engine)
        repository = IncidentRepository(sessionmaker(engine, expire_on_commit=False))
        root = cfg.storage.resolved_evidence_dir()
        root.mkdir(parents=True, exist_ok=True)
        store = LocalEvidenceStore(root)
        return cls(cfg, detector or load_detector(cfg), repository, root,
                   IncidentRecorder(store, repository, cfg.evidence))
