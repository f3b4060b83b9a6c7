"""Turns rule events into evidence and records: snapshot now, clip once the post-roll has arrived."""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from api.record_sink import RecordSink
from api.schemas import EvidenceItemIn, IncidentCreate
from detectors.incidents import Incident, IncidentEvent
from detectors.timed_shots import TimedShot
from evidence.clip import write_clip
from evidence.preview import CONTENT_TYPE as PREVIEW_CONTENT_TYPE
from evidence.preview import PreviewInfo, PreviewMaker, needs_preview
from evidence.snapshot import annotate, decode_jpeg, encode_jpeg
from evidence.store import EvidenceStore, StoredObject, incident_key_prefix, write_manifest
from streams.packets import PacketRing
from streetsight.config import EvidenceConfig
from streetsight.incident_embedding import EmbeddingWriter, IncidentEmbedder
from streetsight.shop_evidence import ShopEvidence
from streetsight.vehicle_evidence import VehicleEvidence

log = logging.getLogger(__name__)

SEEN_EVERY_S = 5.0  # wall seconds between two "still seen" records of one open incident


@dataclass
class _PendingClip:
    incident: Incident
    prefix: str
    start_s: float
    end_s: float
    items: list[StoredObject] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)  # object metadata shared by the incident's evidence


@dataclass
class _PendingPreview:
    """A clip whose H.264 preview is being made; its manifest waits for the preview."""

    clip: _PendingClip
    future: Future[PreviewInfo]
    workdir: Path  # holds the clip copy and the preview until they are stored


@dataclass
class RecordedIncident:
    """What `analyze` prints: the incident plus where its evidence lies."""

    incident: Incident
    evidence: dict[str, StoredObject] = field(default_factory=dict)
    snapshots: list[tuple[float, StoredObject]] = field(default_factory=list)  # (media s, picture), oldest first


class IncidentRecorder:
    """Writes each incident's evidence and hands its records to ``repository``, a ``RecordSink`` (the
    database's repository, or the publisher of the cluster's bus).

    ``recorded`` holds every incident with its evidence for callers that print or score them (``analyze``,
    evaluation); a live service (``keep_recorded=False``) drops each once its manifest is written, so a
    worker that runs for months does not keep every incident it ever saw.

    A clip a browser cannot play (not H.264) gets an H.264 ``clip_preview`` made on a worker thread; the
    incident's manifest is written once the preview is stored (collected by ``poll``/``flush`` on the
    analysis thread, which alone touches the store and the records). Call ``close`` at the end."""

    def __init__(self, store: EvidenceStore, repository: RecordSink | None, cfg: EvidenceConfig,
                 *, keep_recorded: bool = True, embedder: IncidentEmbedder | None = None,
                 wall_clock: Callable[[float], datetime] | None = None) -> None:
        self.store = store
        # recorded footage: the wall time of a media time (the recording's start + media s); else now
        self.wall_clock = wall_clock
        self.repository = repository
        self.cfg = cfg
        self.keep_recorded = keep_recorded
        # the incident's appearance, kept with its record for learning (embedded on a thread of its own)
        self.embeddings = EmbeddingWriter(embedder, repository) if embedder and repository is not None else None
        self._pending: dict[str, list[_PendingClip]] = {}
        self._previews: list[_PendingPreview] = []
        self._preview_maker: PreviewMaker | None = None  # started with the first preview
        self.recorded: dict[str, RecordedIncident] = {}
        self._seen: dict[str, tuple[float, float]] = {}  # incident id -> (last_seen_at recorded, wall time)
        self.vehicles = VehicleEvidence(cfg.vehicle)
        self.shops = ShopEvidence(cfg.shop)

    def handle(self, event: IncidentEvent, image: np.ndarray, ring: PacketRing | None) -> None:
        if event.kind == "opened":
            if ring is not None and ring.template_error is not None:
                # analysis goes on without a clip; the record says why there is none
                event.incident.extra["clip_error"] = f"no clip container takes the stream: {ring.template_error}"
            self._opened(event.incident, image, event.shots)
        elif event.kind == "ended":
            inc = event.incident
            self._seen.pop(inc.id, None)
            reason = inc.ended_reason  # interrupted (recovery) or an operator's change (zone_removed, ...)
            if self.repository is not None and inc.ended_at is not None:
                if reason is None:
                    self.repository.mark_ended(inc.id, inc.ended_at)
                else:
                    self.repository.mark_ended(inc.id, inc.ended_at, ended_reason=reason)
        if ring is not None:
            self.poll(event.incident.source_id, ring)

    def poll(self, source_id: str, ring: PacketRing) -> None:
        """Write the clips whose post-roll the ring now holds; store the previews that are ready."""
        latest = ring.latest_time_s
        pending = self._pending.get(source_id, [])
        due = [p for p in pending if latest is not None and latest >= p.end_s]
        for p in due:
            pending.remove(p)
            self._write_clip(p, ring)
        self.collect_previews()

    def seen(self, incidents: list[Incident], force: bool = False) -> None:
        """Record that open ``incidents`` are still seen (at most every ``SEEN_EVERY_S`` per incident unless
        ``force``): the re-check of a handled case and the continuation after a restart rely on it."""
        if self.repository is None:
            return
        now = time.time()
        for inc in incidents:
            last = self._seen.get(inc.id)
            if last is None:  # continued from an earlier owner: the records hold this sighting already
                self._seen[inc.id] = (inc.last_seen_at, now)
                continue
            if last[0] == inc.last_seen_at or not force and now - last[1] < SEEN_EVERY_S:
                continue
            try:
                self.repository.mark_seen(inc.id, inc.last_seen_at)
            except LookupError:  # not stored (yet): the next call tries again
                continue
            self._seen[inc.id] = (inc.last_seen_at, now)

    def forget(self, incidents: list[Incident]) -> None:
        """Stop following ``incidents`` (their source went to another owner)."""
        for inc in incidents:
            self._seen.pop(inc.id, None)

    def flush(self, source_id: str, ring: PacketRing | None) -> None:
        """The source ended: write every pending clip with whatever post-roll exists, and wait for the
        previews of its clips."""
        for p in self._pending.pop(source_id, []):
            if ring is not None:
                self._write_clip(p, ring)
            else:
                self._finish(p)
        self.collect_previews(wait_for=source_id)
        if self.embeddings is not None:
            self.embeddings.drain()

    def collect_previews(self, wait_for: str | None = None) -> None:
        """Store finished previews and write their manifests; ``wait_for``: also wait for that source's
        previews ("*": every source's)."""
        for pp in list(self._previews):
            if pp.future.done() or wait_for in ("*", pp.clip.incident.source_id):
                self._previews.remove(pp)
                self._store_preview(pp)

    def close(self) -> None:
        """Wait for every preview and store it (the end of ``analyze``, a service stopping)."""
        self.collect_previews(wait_for="*")
        if self._preview_maker is not None:
            self._preview_maker.close()
            self._preview_maker = None

    # -- internals -------------------------------------------------------------------------------

    def _opened(self, inc: Incident, image: np.ndarray, shots: list[TimedShot] | None = None) -> None:
        now = datetime.now(timezone.utc)
        prefix = incident_key_prefix(inc.source_id, inc.id, now)
        h, w = image.shape[:2]
        zone_px = [(x * w, y * h) for x, y in inc.zone_polygon]
        label = f"{inc.type} {inc.class_name} {inc.score:.2f}"
        meta = evidence_metadata(inc, now)
        raw = self.store.put_bytes(f"{prefix}/snapshot_raw.jpg", encode_jpeg(image), "image/jpeg", meta)
        annotated = self.store.put_bytes(
            f"{prefix}/snapshot.jpg", encode_jpeg(annotate(image, inc.box, label, zone_px)), "image/jpeg", meta
        )
        self._seen[inc.id] = (float("nan"), 0.0)  # opened here: its first sighting is recorded at once
        rec = RecordedIncident(inc, {"snapshot": annotated, "snapshot_raw": raw})
        self._store_shots(rec, prefix, shots or [], now, meta)
        self._store_vehicle(rec, prefix, image, meta)
        self.shops.attach(inc, image)  # 门前三包: the shop a shop-front incident concerns (extra.shop)
        self.recorded[inc.id] = rec
        if self.repository is not None:
            self.repository.add(IncidentCreate(
                id=inc.id, type=inc.type, source=inc.source_id, zone=inc.zone_id,
                started_at=inc.started_at, confirmed_at=inc.confirmed_at, class_name=inc.class_name,
                box=list(inc.box), score=inc.score, track_id=inc.track_id, frame_size=list(inc.frame_size),
                zone_polygon=inc.zone_polygon,
                detected_wall=self.wall_clock(inc.confirmed_at) if self.wall_clock else now, labels=inc.labels or None,
                extra=inc.extra or None,
            ))
            if self.embeddings is not None:
                self.embeddings.submit(inc.id, image, inc.box)
            for kind, obj in rec.evidence.items():
                self._attach(inc.id, kind, obj)
        pending = _PendingClip(inc, prefix, inc.confirmed_at - self.cfg.pre_roll_s,
                               inc.confirmed_at + self.cfg.post_roll_s,
                               list(rec.evidence.values()), meta)
        self._pending.setdefault(inc.source_id, []).append(pending)
        log.info("incident %s: %s %s in %s/%s at %.1fs (score %.2f)", inc.id, inc.type, inc.class_name,
                 inc.source_id, inc.zone_id, inc.confirmed_at, inc.score)

    def _store_shots(self, rec: RecordedIncident, prefix: str, shots: list[TimedShot], now: datetime,
                     meta: dict[str, str]) -> None:
        """The dwell's timed snapshots (first sighting .. confirmation), each annotated with the object's box
        at its time and the zone: side by side they show the object did not move. Recorded in
        ``extra.snapshots`` with media time and the wall time derived from the confirmation's."""
        inc = rec.incident
        listed = []
        for n, shot in enumerate(shots, start=1):
            image = decode_jpeg(shot.jpeg)
            sx = image.shape[1] / shot.frame_size[0]
            sy = image.shape[0] / shot.frame_size[1]
            box = (shot.box[0] * sx, shot.box[1] * sy, shot.box[2] * sx, shot.box[3] * sy)
            zone_px = [(x * image.shape[1], y * image.shape[0]) for x, y in inc.zone_polygon]
            label = f"{n}/{len(shots)} +{shot.at - inc.started_at:.0f}s {inc.class_name}"
            kind = f"snapshot_{n}"
            obj = self.store.put_bytes(f"{prefix}/{kind}.jpg", encode_jpeg(annotate(image, box, label, zone_px)),
                                       "image/jpeg", meta)
            rec.evidence[kind] = obj
            rec.snapshots.append((shot.at, obj))
            taken = now - timedelta(seconds=max(0.0, inc.confirmed_at - shot.at))
            listed.append({"at": round(shot.at, 3), "taken_at": taken.isoformat(timespec="seconds"),
                           "kind": kind, "key": obj.key, "sha256": obj.sha256})
        if listed:
            inc.extra["snapshots"] = listed

    def _store_vehicle(self, rec: RecordedIncident, prefix: str, image: np.ndarray, meta: dict[str, str]) -> None:
        """A motor vehicle's close-up (``vehicle_crop``) and its plate read, into ``extra.vehicle``."""
        inc = rec.incident
        if not self.vehicles.applies(inc.class_name):
            return
        crop = self.vehicles.crop(image, inc.box)
        obj = self.store.put_bytes(f"{prefix}/vehicle_crop.jpg", encode_jpeg(crop), "image/jpeg", meta)
        rec.evidence["vehicle_crop"] = obj
        vehicle: dict = {"plate": None, "plate_confidence": None, "crop": obj.key}
        try:
            read = self.vehicles.read_plate(crop)
        except Exception as exc:  # the incident and its pictures stand without a plate
            log.exception("incident %s: plate reading failed", inc.id)
            vehicle["plate_error"] = f"{type(exc).__name__}: {exc}"
            read = None
        if read is not None:
            vehicle.update(read.as_dict())
        inc.extra["vehicle"] = vehicle

    def _write_clip(self, p: _PendingClip, ring: PacketRing) -> None:
        window = ring.window(p.start_s, p.end_s)
        if window is None or not window.packets:
            log.warning("incident %s: no packets for the clip %.1f..%.1fs", p.incident.id, p.start_s, p.end_s)
            self._finish(p)
            return
        workdir = Path(tempfile.mkdtemp(prefix="clip-"))
        try:
            info = write_clip(window.packets, window.template, workdir / "clip.mp4")
            obj = self.store.put_file(f"{p.prefix}/{info.path.name}", info.path, info.container.content_type,
                                      p.meta)
            p.items.append(obj)
            self.recorded[p.incident.id].evidence["clip"] = obj
            self._attach(p.incident.id, "clip", obj)
        except Exception as exc:  # a clip that cannot be muxed must not lose the incident
            log.exception("incident %s: clip failed", p.incident.id)
            p.incident.extra["clip_error"] = f"{type(exc).__name__}: {exc}"
            shutil.rmtree(workdir, ignore_errors=True)
            self._finish(p)
            return
        if not (self.cfg.preview and needs_preview(info.codec)):
            shutil.rmtree(workdir, ignore_errors=True)
            self._finish(p)
            return
        if self._preview_maker is None:
            self._preview_maker = PreviewMaker(max_width=self.cfg.preview_max_width,
                                               max_s=self.cfg.pre_roll_s + self.cfg.post_roll_s + 30)
        future = self._preview_maker.submit(info.path, workdir / "clip_preview.mp4")
        self._previews.append(_PendingPreview(p, future, workdir))

    def _store_preview(self, pp: _PendingPreview) -> None:
        p = pp.clip
        try:
            info = pp.future.result()
            obj = self.store.put_file(f"{p.prefix}/clip_preview.mp4", info.path, PREVIEW_CONTENT_TYPE,
                                      p.meta)
            p.items.append(obj)
            self.recorded[p.incident.id].evidence["clip_preview"] = obj
            self._attach(p.incident.id, "clip_preview", obj)
        except Exception as exc:  # the clip is the evidence of record; a missing preview loses nothing
            log.exception("incident %s: clip preview failed", p.incident.id)
            p.incident.extra["clip_preview_error"] = f"{type(exc).__name__}: {exc}"
        finally:
            shutil.rmtree(pp.workdir, ignore_errors=True)
        self._finish(p)

    def _finish(self, p: _PendingClip) -> None:
        inc = p.incident
        manifest = write_manifest(self.store, p.prefix, {
            "id": inc.id, "type": inc.type, "source": inc.source_id, "zone": inc.zone_id,
            "class": inc.class_name, "box": list(inc.box), "score": inc.score,
            "started_at": inc.started_at, "confirmed_at": inc.confirmed_at, "labels": inc.labels,
            **evidence_fields(inc),
        }, p.items, p.meta)
        self.recorded[inc.id].evidence["manifest"] = manifest
        self._attach(inc.id, "manifest", manifest)
        if not self.keep_recorded:
            del self.recorded[inc.id]  # its evidence is complete and stored

    def _attach(self, incident_id: str, kind: str, obj: StoredObject) -> None:
        if self.repository is not None:
            self.repository.attach_evidence(incident_id, EvidenceItemIn(
                kind=kind, key=obj.key, sha256=obj.sha256, size=obj.size, content_type=obj.content_type))


def evidence_metadata(inc: Incident, detected: datetime) -> dict[str, str]:
    """Object metadata of every evidence file of ``inc`` (S3 x-amz-meta-*): who, what, when.
    ``started_at``/``confirmed_at`` are media seconds; ``detected_at`` is the UTC wall time."""
    return {"source": inc.source_id, "event_type": inc.type, "incident": inc.id,
            "started_at": f"{inc.started_at:.3f}", "confirmed_at": f"{inc.confirmed_at:.3f}",
            "detected_at": detected.isoformat(timespec="seconds")}


EVIDENCE_EXTRA = ("snapshots", "vehicle")  # keys of Incident.extra that the recorder writes


def evidence_fields(inc: Incident) -> dict:
    """The manifest's view of ``inc.extra``: timed snapshots under ``evidence.snapshots`` as ``{at, snapshot}``
    (media s, key), the vehicle (close-up key, plate read) under ``vehicle``, the rest under ``extra``."""
    out: dict = {}
    rest = {k: v for k, v in inc.extra.items() if k not in EVIDENCE_EXTRA}
    if rest:
        out["extra"] = rest
    if inc.extra.get("snapshots"):
        out["evidence"] = {"snapshots": [{"at": s["at"], "taken_at": s["taken_at"], "snapshot": s["key"]}
                                         for s in inc.extra["snapshots"]]}
    if inc.extra.get("vehicle"):
        out["vehicle"] = inc.extra["vehicle"]
    return out
