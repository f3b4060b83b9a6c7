"""From a complete upload to a queued job: the source must be an enforcement device, the file a video, the
track (if any) must cover some of the video's time; the video and track are stored like evidence (SHA-256,
retention under the type ``footage``) and the job recorded. Anything refused raises `FootageRejected` naming
the field, and leaves nothing stored."""
from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from api.footage_jobs import FootageJobCreate, FootageJobOut, FootageJobs, FootageRejected
from api.footage_routes import TrackOut
from api.source_catalog import SourceCatalog
from evidence.store import EvidenceStore, incident_key_prefix
from streetsight.footage.probe import NotVideo, VideoInfo, probe
from streetsight.footage.settings import FootageConfig
from streetsight.footage.tracks import Track, TrackError, detect_format, parse_track

log = logging.getLogger(__name__)

RETENTION_TYPE = "footage"  # storage.retention_days key of uploaded recordings and their tracks
MAX_TRACK_BYTES = 16 * 1024 * 1024
_TRACK_ID = "trk_"


def parse_started_at(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FootageRejected(("metadata", "started_at"), f"{value[:40]!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise FootageRejected(("metadata", "started_at"), "give the time zone (e.g. +08:00 or Z)")
    return when.astimezone(timezone.utc)


class FootageIntake:
    def __init__(self, jobs: FootageJobs, catalog: SourceCatalog, store: EvidenceStore, cfg: FootageConfig,
                 data_dir: str) -> None:
        self.jobs, self.catalog, self.store, self.cfg = jobs, catalog, store, cfg
        self.uploads_dir = cfg.resolved_uploads_dir(data_dir).resolve()
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self.tracks_dir = self.uploads_dir / "tracks"
        self.tracks_dir.mkdir(exist_ok=True)
        self.max_upload_bytes = cfg.max_upload_bytes
        self.expiry_days = cfg.upload_expiry_days

    # -- before the upload ---------------------------------------------------------------------------

    def check(self, source_id: str | None, started_at: str | None, track_id: str | None, size: int | None) -> None:
        """A refused upload takes its staged track with it (the client sends both again)."""
        self._expire_staged()
        track_path = self._track_path(track_id) if track_id is not None else None
        try:
            self._source(source_id)
            if started_at is not None:
                parse_started_at(started_at)
            if size is not None:
                self._room_for(size)
        except FootageRejected:
            if track_path is not None:
                track_path.unlink(missing_ok=True)
            raise

    def stage_track(self, filename: str, data: bytes) -> TrackOut:
        if len(data) > MAX_TRACK_BYTES:
            raise FootageRejected(("body",), f"a track of more than {MAX_TRACK_BYTES} bytes", 413)
        self._expire_staged()
        fmt = detect_format(filename, data)
        try:
            points = parse_track(data, fmt)
        except TrackError as exc:
            raise FootageRejected(("body",), f"{fmt.upper()} track: {exc}") from None
        track_id = _TRACK_ID + secrets.token_hex(12)
        path = self.tracks_dir / f"{track_id}.{fmt}"
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise self._disk_error(exc, ("body",)) from None
        return TrackOut(track_id=track_id, format=fmt, points=len(points), first=points[0].time,
                        last=points[-1].time)

    # -- the complete upload -------------------------------------------------------------------------

    def accept(self, upload: Path, *, job_id: str, filename: str, source_id: str, started_at: str | None,
               track_id: str | None, actor: str) -> FootageJobOut:
        """Whatever the outcome, the staged track is used up (stored with the job, or refused with it)."""
        track_path = self._track_path(track_id) if track_id else None
        try:
            return self._accept(upload, job_id, filename, source_id, started_at, track_path, actor)
        finally:
            if track_path is not None:
                track_path.unlink(missing_ok=True)

    def _accept(self, upload: Path, job_id: str, filename: str, source_id: str, started_at: str | None,
                track_path: Path | None, actor: str) -> FootageJobOut:
        self._source(source_id)
        try:
            info = probe(upload)
        except NotVideo as exc:
            raise FootageRejected(("file",), str(exc)) from None
        start, start_from = self._start(started_at, info)
        points = 0
        if track_path is not None:
            fmt = track_path.suffix.lstrip(".")
            parsed = parse_track(track_path.read_bytes(), fmt)
            track = Track(parsed, self.cfg.track_max_gap_s)
            t0 = start.timestamp()
            if not track.overlaps(t0, t0 + info.duration_s):
                first, last = (datetime.fromtimestamp(t, timezone.utc).isoformat() for t in track.span)  # type: ignore[union-attr]
                raise FootageRejected(("metadata", "track_id"), (
                    f"the track ({first} .. {last}) does not overlap the video "
                    f"({start.isoformat()} .. {(start + timedelta(seconds=info.duration_s)).isoformat()})"))
            points = len(parsed)
        prefix = incident_key_prefix(source_id, f"footage-{job_id}", datetime.now(timezone.utc))
        meta = {"source": source_id, "event_type": RETENTION_TYPE, "footage_job": job_id,
                "started_at": start.isoformat()}
        ext = Path(filename).suffix.lower()[:8] if Path(filename).suffix else ".mp4"
        stored_keys: list[str] = []
        try:
            video = self.store.put_file(f"{prefix}/video{ext}", upload, "video/mp4" if ext == ".mp4"
                                        else "application/octet-stream", meta)
            stored_keys.append(video.key)
            track_key = None
            if track_path is not None:
                obj = self.store.put_file(f"{prefix}/track.{track_path.suffix.lstrip('.')}", track_path,
                                          "application/octet-stream", meta)
                stored_keys.append(track_key := obj.key)
            job = self.jobs.create(FootageJobCreate(
                id=job_id, source=source_id, filename=filename[:255] or f"video{ext}", video_key=video.key,
                video_sha256=video.sha256, video_size=video.size, track_key=track_key,
                track_format=track_path.suffix.lstrip(".") if track_path else None, track_points=points,
                track_from="upload" if track_path is not None else None,
                started_at=start, started_at_from=start_from, duration_s=info.duration_s, created_by=actor))
        except OSError as exc:
            self._discard(stored_keys)
            raise self._disk_error(exc, ("file",)) from None
        except Exception:
            self._discard(stored_keys)
            raise
        log.info("footage job %s: %s from %s, %.1f s of video from %s (%s), track %s", job.id, filename, source_id,
                 info.duration_s, start.isoformat(), start_from, job.track_format or "none")
        return job

    # -- internals -----------------------------------------------------------------------------------

    def _source(self, source_id: str | None) -> None:
        if not source_id:
            raise FootageRejected(("metadata", "source_id"), "required: the enforcement device that recorded it")
        body = self.catalog.get(source_id)
        if body is None:
            raise FootageRejected(("metadata", "source_id"), f"no source {source_id!r}", 404)
        kind = body.get("kind", "cctv") if isinstance(body, dict) else getattr(body, "kind", "cctv")
        if kind != "enforcement":
            raise FootageRejected(("metadata", "source_id"),
                                  f"source {source_id!r} is a fixed camera ({kind}); footage comes from "
                                  "enforcement devices")

    def _start(self, started_at: str | None, info: VideoInfo) -> tuple[datetime, str]:
        if started_at is not None:
            return parse_started_at(started_at), "upload"
        if info.creation_time is not None:
            return info.creation_time, "container creation_time"
        raise FootageRejected(("metadata", "started_at"),
                              "required: the file records no creation time, so its wall time is unknown")

    def _track_path(self, track_id: str) -> Path:
        if not track_id.startswith(_TRACK_ID) or not track_id[len(_TRACK_ID):].isalnum():
            raise FootageRejected(("metadata", "track_id"), f"{track_id[:40]!r} is not a track id")
        found = sorted(self.tracks_dir.glob(f"{track_id}.*"))
        found = [p for p in found if p.suffix != ".tmp"]
        if not found:
            raise FootageRejected(("metadata", "track_id"), f"no track {track_id!r} (send it to "
                                  "POST /api/v1/footage/tracks first)", 404)
        return found[0]

    def _expire_staged(self) -> None:
        """Uploads never finished, and tracks sent for an upload that never came, are dropped after
        ``footage.upload_expiry_days`` (the tus server keeps them otherwise)."""
        cutoff = time.time() - self.expiry_days * 86400
        for info in self.uploads_dir.glob("*.info"):
            try:
                if info.stat().st_mtime < cutoff:
                    info.with_suffix("").unlink(missing_ok=True)
                    info.unlink(missing_ok=True)
            except OSError:
                continue
        for p in self.tracks_dir.iterdir():
            try:
                if p.stat().st_mtime < cutoff:
                    p.unlink(missing_ok=True)
            except OSError:
                continue

    def _room_for(self, size: int) -> None:
        if size > self.max_upload_bytes:
            raise FootageRejected(("header", "Upload-Length"),
                                  f"{size} bytes is more than footage.max_upload_bytes ({self.max_upload_bytes})", 413)
        free = shutil.disk_usage(self.uploads_dir).free
        reserve = int(self.cfg.reserve_free_mb * 1024 * 1024)
        # staged upload + its stored copy (local evidence on the same disk, or the S3 spool)
        if 2 * size + reserve > free:
            raise FootageRejected(("header", "Upload-Length"),
                                  f"not enough disk space: {size} bytes need {2 * size + reserve} free "
                                  f"(with footage.reserve_free_mb), {free} are", 413)

    def _disk_error(self, exc: OSError, loc: tuple[str, ...]) -> FootageRejected:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return FootageRejected(loc, "the disk is full: the upload was not kept", 413)
        raise exc

    def _discard(self, keys: list[str]) -> None:
        delete = getattr(self.store, "delete", None)
        for key in keys:
            try:
                if delete is not None:
                    delete(key)
            except Exception:  # noqa: BLE001 - best effort; the retention sweep removes it later
                log.exception("footage: could not remove %s after a refused upload", key)
