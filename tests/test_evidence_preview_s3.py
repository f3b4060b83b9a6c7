"""An H.265 camera's evidence in S3 (SeaweedFS): the clip of record (the camera's packets, MP4 tagged hvc1) and
its H.264 clip_preview are objects like every other, each listed in the manifest with its SHA-256."""
from __future__ import annotations

import json
from pathlib import Path

import av

from evidence.store import EvidenceStore
from streetsight.config import EvidenceConfig
from streetsight.recorder import IncidentRecorder
from tests.evidence_helpers import filled_ring, object_sha256, record_incidents
from tests.s3_server import SeaweedS3
from tests.test_evidence_s3 import make_store
from tests.test_streams_codecs import encode


def test_hevc_clip_and_its_preview_go_to_s3_with_hashes_in_the_manifest(s3_server: SeaweedS3, tmp_path: Path):
    video = encode(tmp_path / "camera.ts", "libx265", "mpegts", seconds=6, gop=10)
    ring, image = filled_ring(video)
    store = make_store(s3_server)
    store.ensure_bucket()
    recorder = IncidentRecorder(store, None, EvidenceConfig(pre_roll_s=2, post_roll_s=2))
    [incident] = record_incidents(recorder, ring, image, 1, confirmed_at=3.0)
    recorder.close()  # waits for the preview

    evidence = recorder.recorded[incident.id].evidence
    assert {"clip", "clip_preview", "manifest"} <= set(evidence)
    manifest = json.loads(_read(store, evidence["manifest"].key))
    listed = {o["key"]: o for o in manifest["objects"]}
    for kind, content_type in (("clip", "video/mp4"), ("clip_preview", "video/mp4")):
        obj = evidence[kind]
        assert listed[obj.key]["sha256"] == obj.sha256 == object_sha256(store.client, store.bucket, obj.key)
        assert listed[obj.key]["content_type"] == content_type
    preview = tmp_path / "preview.mp4"
    preview.write_bytes(_read(store, evidence["clip_preview"].key))
    with av.open(str(preview)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(_read(store, evidence["clip"].key))
    with av.open(str(clip)) as c:
        assert c.streams.video[0].codec_context.name == "hevc" and c.streams.video[0].codec_tag == "hvc1"


def _read(store: EvidenceStore, key: str) -> bytes:
    with store.open(key) as f:
        return f.read()
