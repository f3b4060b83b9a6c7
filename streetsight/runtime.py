"""Builds the long-lived parts from a Config: model, evidence store, records, recorder."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from api.db import create_engine_for, init_db
from api.repository import IncidentRepository
from models.detector import OnnxDetector
from streetsight.config import Config
from streetsight.incident_embedding import load_incident_embedder
from streetsight.recorder import IncidentRecorder
from streetsight.repeat_offenders import RepeatOffenders, attach_repeat_offenders
from streetsight.evidence_backend import EvidenceBackend, build_evidence_backend
from streetsight.verification import RecordVerification, attach_verification
from vision.detection import FrameDetector

log = logging.getLogger(__name__)


def load_detector(cfg: Config) -> FrameDetector:
    m = cfg.model
    # spin=False: frames come in bursts from many cameras; spinning worker threads between calls cost
    # more CPU than the model itself at a few calls a second (measured: 69 vs 29 ms CPU per call).
    return FrameDetector(OnnxDetector.from_registry(
        m.name, providers=m.providers, threads=m.threads, min_score=m.min_score, iou_threshold=m.iou_threshold,
        provider_options=m.provider_options, max_batch=m.max_batch, spin=False))


def open_records(cfg: Config) -> tuple[IncidentRepository, Path]:
    """The incident records (schema upgraded on open) and the local evidence folder (created)."""
    from sqlalchemy.orm import sessionmaker

    engine = create_engine_for(cfg.storage.resolved_database_url())
    init_db(engine)
    root = cfg.storage.resolved_evidence_dir()
    root.mkdir(parents=True, exist_ok=True)
    return IncidentRepository(sessionmaker(engine, expire_on_commit=False)), root


@dataclass
class Runtime:
    cfg: Config
    detector: FrameDetector
    repository: IncidentRepository
    evidence_root: Path
    recorder: IncidentRecorder
    evidence: EvidenceBackend | None = None  # the store, links, protection, retention (issue 5)
    verification: RecordVerification | None = None  # learns from review decisions (issue 14)
    repeats: RepeatOffenders | None = None  # links repeat offences to their history (issue 14)

    def close(self) -> None:
        """Stop background evidence work; with S3, upload what is spooled if the server answers."""
        self.recorder.close()  # previews still being made are stored first
        if self.evidence is not None:
            self.evidence.close()

    @classmethod
    def create(cls, cfg: Config, detector: FrameDetector | None = None, *, live: bool = False) -> "Runtime":
        """``live``: a long-running service (serve, bench); it keeps no incident after its evidence is out."""
        repository, root = open_records(cfg)
        evidence = build_evidence_backend(cfg.storage)
        embedder = load_incident_embedder(cfg.learning)
        verification = attach_verification(repository, cfg.learning) if embedder is not None else None
        repeats = attach_repeat_offenders(repository, cfg.learning) if embedder is not None else None
        return cls(cfg, detector or load_detector(cfg), repository, root,
                   IncidentRecorder(evidence.store, repository, cfg.evidence, keep_recorded=not live,
                                    embedder=embedder), evidence, verification, repeats)
