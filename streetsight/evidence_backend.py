"""Builds the evidence backend from the ``storage`` config: the local disk (default) or S3 behind a
spool, the retention sweeper, expiring links, protection and the shared (optionally blurred) copies.

The API gets ``locate(key)``: a local file to serve, or a presigned URL to redirect to. Cases call
``protect(prefix_or_keys)`` and ``sharer().share(key)``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from evidence.redact import FindPeople
from evidence.retention import RetentionPolicy, RetentionSweeper, SweepReport, sweep
from evidence.s3 import S3EvidenceStore, S3Settings
from evidence.sharing import EvidenceSharer
from evidence.signing import UrlSigner, load_or_create_secret
from evidence.spool import DrainResult, SpoolingEvidenceStore
from evidence.store import LocalEvidenceStore, ManagedEvidenceStore, validate_key
from streetsight.config import StorageConfig

log = logging.getLogger(__name__)

SIGNING_KEY_FILE = ".evidence-signing-key"


@dataclass
class EvidenceBackend:
    store: ManagedEvidenceStore  # what the recorder writes to
    backend: str  # "local" | "s3"
    policy: RetentionPolicy
    presign_expiry_s: int
    sweep_interval_s: float
    blur_faces_in_shared: bool = False
    local: LocalEvidenceStore | None = None
    spooling: SpoolingEvidenceStore | None = None
    signer: UrlSigner | None = None  # local links; the API checks them
    _sweeper: RetentionSweeper | None = field(default=None, repr=False)

    def start(self, sweep: bool = True) -> None:
        """Background work for `serve`: the spool's upload loop, the retention sweeper (``sweep``: one
        process of a deployment sweeps, the API; workers only upload)."""
        if self.spooling is not None:
            self.spooling.start()
        if not sweep:
            return
        if self._sweeper is None:
            self._sweeper = RetentionSweeper(self.store, self.policy, self.sweep_interval_s)
        self._sweeper.start()

    def close(self, drain_timeout_s: float = 10.0) -> DrainResult | None:
        """Stop the background work; with S3, try to empty the spool first (what stays is uploaded by
        the next process or `streetsight evidence drain`)."""
        if self._sweeper is not None:
            self._sweeper.stop()
        if self.spooling is None:
            return None
        self.spooling.stop()
        result = self.spooling.drain(drain_timeout_s) if self.spooling.pending() else DrainResult()
        if result.remaining:
            log.warning("%d evidence objects stay spooled in %s for the next run (%s)", result.remaining,
                        self.spooling.spool.root, result.error or "object storage unavailable")
        return result

    def locate(self, key: str) -> Path | str | None:
        """For the API: the local file of ``key``, else a presigned URL; None when not found."""
        key = validate_key(key)
        if self.local is not None:
            path = self.local.path_for(key)
            return path if path.is_file() else None
        assert self.spooling is not None
        spooled = self.spooling.path_for(key)
        if spooled is not None and spooled.is_file():
            return spooled
        return self.store.presign(key, self.presign_expiry_s)

    def presign(self, key: str, expires_s: float | None = None) -> str:
        # only None means the default: 0 is a mistake for the store to refuse, not the default in disguise
        return self.store.presign(key, self.presign_expiry_s if expires_s is None else expires_s)

    def protect(self, keys_or_prefix: str | Iterable[str]) -> list[str]:
        """Keep a case's evidence from retention (legal hold on S3 with object lock, else a flag)."""
        return self.store.protect(keys_or_prefix)

    def unprotect(self, keys_or_prefix: str | Iterable[str]) -> list[str]:
        return self.store.unprotect(keys_or_prefix)

    def sweep(self, dry_run: bool = False) -> SweepReport:
        return sweep(self.store, self.policy, dry_run=dry_run)

    def sharer(self, find_people: FindPeople | None = None) -> EvidenceSharer:
        """Links fit for dispatch; heads blurred when ``blur_faces_in_shared`` (needs ``find_people``)."""
        return EvidenceSharer(self.store, blur_faces=self.blur_faces_in_shared, find_people=find_people,
                              expires_s=self.presign_expiry_s)

    def uri(self, key: str) -> str:
        """Where ``key`` lies, for people: a file path, or s3://bucket/key."""
        if self.local is not None:
            return str(self.local.path_for(key))
        remote = self.spooling.remote if self.spooling is not None else None
        return remote.uri(key) if isinstance(remote, S3EvidenceStore) else key

    def health(self) -> dict:
        out: dict = {"backend": self.backend}
        if self.spooling is not None:
            out.update(self.spooling.health())
        return out


def build_evidence_backend(storage: StorageConfig) -> EvidenceBackend:
    policy = RetentionPolicy.from_days(storage.retention_days)
    common = dict(policy=policy, presign_expiry_s=storage.presign_expiry_s,
                  sweep_interval_s=storage.sweep_interval_s, blur_faces_in_shared=storage.blur_faces_in_shared)
    if storage.backend == "s3":
        s3 = storage.s3
        assert s3 is not None  # the config validator requires it
        settings = S3Settings(
            endpoint=s3.endpoint, bucket=s3.bucket, access_key=s3.access_key.get_secret_value(),
            secret_key=s3.secret_key.get_secret_value(), secure=s3.secure, region=s3.region,
            public_endpoint=s3.public_endpoint, object_lock=s3.object_lock,
            connect_timeout_s=s3.connect_timeout_s, read_timeout_s=s3.read_timeout_s)
        spooling = SpoolingEvidenceStore(S3EvidenceStore.from_settings(settings), storage.resolved_spool_dir())
        log.info("evidence in S3 bucket %s at %s (spool %s)", s3.bucket, s3.endpoint, spooling.spool.root)
        return EvidenceBackend(store=spooling, backend="s3", spooling=spooling, **common)
    root = storage.resolved_evidence_dir()
    secret = (storage.signing_key.get_secret_value().encode("utf-8") if storage.signing_key
              else load_or_create_secret(Path(storage.data_dir) / SIGNING_KEY_FILE))
    signer = UrlSigner(secret, base_url=storage.public_url)
    local = LocalEvidenceStore(root, signer=signer)
    return EvidenceBackend(store=local, backend="local", local=local, signer=signer, **common)


def people_finder(detector, class_name: str = "person", min_score: float = 0.3) -> FindPeople:
    """``find_people`` for face blurring from the pipeline's detector (a vision.FrameDetector)."""

    def find(image: np.ndarray) -> list[list[float]]:
        dets = detector.detect([image])[0]
        names = dets.data.get("class_name", [])
        return [list(map(float, box)) for box, name, score in zip(dets.xyxy, names, dets.confidence)
                if name == class_name and score >= min_score]

    return find

