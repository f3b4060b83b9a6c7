"""Evidence in object storage, against a real S3 server (SeaweedFS): round trip with metadata, bucket
set-up, presigned links that expire, the spool that loses nothing while S3 is down (across a restart),
protection, and the wiring into the API and the CLI."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from evidence.s3 import PROTECT_TAG, S3EvidenceStore, S3Settings
from evidence.signing import UrlSigner
from evidence.spool import SpoolingEvidenceStore
from evidence.store import LocalEvidenceStore, incident_key_prefix
from streetsight.cli import main
from streetsight.config import ConfigError, parse_config
from streetsight.runtime import Runtime
from streetsight.evidence_backend import build_evidence_backend
from tests.evidence_helpers import (
    S3_ACCESS_ENV,
    S3_SECRET_ENV,
    filled_ring,
    object_sha256,
    record_incidents,
    s3_config,
)
from tests.media import encode_h264
from tests.s3_server import SeaweedS3, new_bucket_name

NO_DETECTOR = object()  # the recorder tests feed incidents directly: no model needed


def make_store(server: SeaweedS3, bucket: str | None = None, object_lock: bool = False) -> S3EvidenceStore:
    settings = S3Settings(endpoint=server.endpoint, bucket=bucket or new_bucket_name(),
                          access_key=server.access_key, secret_key=server.secret_key, secure=False,
                          object_lock=object_lock, connect_timeout_s=1)
    return S3EvidenceStore.from_settings(settings)


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def test_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_h264(tmp_path_factory.mktemp("video") / "street.mp4", seconds=10, fps=10, gop=10)


# -- the store -------------------------------------------------------------------------------------

def test_round_trip_keeps_bytes_metadata_and_sha256(s3_server: SeaweedS3, tmp_path: Path) -> None:
    store = make_store(s3_server)
    prefix = incident_key_prefix("cam-1", "inc_0001", date(2026, 5, 1))
    meta = {"source": "cam-1", "event_type": "illegal_parking", "started_at": "12.500"}
    snap = store.put_bytes(f"{prefix}/snapshot.jpg", b"\xff\xd8jpeg-bytes", "image/jpeg", meta)
    clip_file = tmp_path / "clip.mp4"
    clip_file.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    clip = store.put_file(f"{prefix}/clip.mp4", clip_file, "video/mp4", meta)

    assert snap.sha256 == hashlib.sha256(b"\xff\xd8jpeg-bytes").hexdigest()
    assert clip.sha256 == hashlib.sha256(clip_file.read_bytes()).hexdigest() and clip.size == 1 << 20
    assert store.stat(clip.key) == clip
    got = store.metadata(clip.key)
    assert {k: got[k] for k in meta} == meta
    assert got["sha256"] == clip.sha256 and "created_at" in got
    with store.open(clip.key) as f:
        assert f.read() == clip_file.read_bytes()
    # the key layout: date/source/incident, seen raw through S3
    stat = s3_server.client().stat_object(store.bucket, clip.key)
    assert stat.metadata["x-amz-meta-sha256"] == clip.sha256
    assert sorted(e.key for e in store.list_objects("2026/05/01/cam-1/")) == sorted([snap.key, clip.key])
    assert store.exists(snap.key) and not store.exists(f"{prefix}/nothing.jpg")
    with pytest.raises(FileNotFoundError):
        store.open(f"{prefix}/nothing.jpg")


def test_an_existing_bucket_is_used_and_object_lock_is_detected(s3_server: SeaweedS3) -> None:
    bucket = new_bucket_name()
    s3_server.client().make_bucket(bucket)  # made by someone else before we start
    store = make_store(s3_server, bucket)
    store.ensure_bucket()  # SeaweedFS answers BucketAlreadyOwnedByYou / BucketAlreadyExists: accepted
    assert store.put_bytes("a/b.txt", b"x", "text/plain").size == 1
    assert not store.legal_hold
    locked = make_store(s3_server, object_lock=True)
    locked.ensure_bucket()
    assert locked.legal_hold and locked.versioned
    make_store(s3_server, locked.bucket, object_lock=True).ensure_bucket()  # a second process: fine


def test_metadata_must_be_ascii_and_keys_safe(s3_server: SeaweedS3) -> None:
    store = make_store(s3_server)
    with pytest.raises(ValueError, match="ASCII"):
        store.put_bytes("a/b.jpg", b"x", "image/jpeg", {"label": "占道经营"})
    with pytest.raises(ValueError, match=r"\.\."):
        store.put_bytes("a/../b.jpg", b"x", "image/jpeg")


def test_presigned_url_serves_the_object_then_expires(s3_server: SeaweedS3) -> None:
    store = make_store(s3_server)
    obj = store.put_bytes("2026/05/01/cam-1/inc_1/snapshot.jpg", b"evidence", "image/jpeg")
    # Signed in the past, so expiry is seen without a short URL racing a busy machine.
    ten_min_ago = datetime.now(timezone.utc) - timedelta(minutes=10)
    long_url = store.presign(obj.key, 3600, signed_at=ten_min_ago)  # 50 min left
    expired_url = store.presign(obj.key, 300, signed_at=ten_min_ago)  # ran out 5 min ago
    assert http_get(long_url) == (200, b"evidence")
    status, body = http_get(expired_url)
    assert status == 403, body
    assert http_get(store.presign(obj.key, 600))[0] == 200
    with pytest.raises(ValueError, match="expires_s"):
        store.presign(obj.key, 8 * 24 * 3600)  # beyond S3's 7-day limit
    bad = long_url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert http_get(bad)[0] == 403


def test_local_signed_links_are_checked_by_the_api(tmp_path: Path) -> None:
    from api.signed_evidence import mount_signed_evidence

    signer = UrlSigner(b"k" * 32)
    store = LocalEvidenceStore(tmp_path / "evidence", signer=signer)
    obj = store.put_bytes("2026/05/01/cam-1/inc_1/snapshot.jpg", b"jpeg!", "image/jpeg")
    app = FastAPI()
    mount_signed_evidence(app, lambda k: store.path_for(k) if store.exists(k) else None, signer.verify)
    client = TestClient(app)
    url = store.presign(obj.key, 60)
    assert url.startswith("/api/v1/evidence/signed/2026/05/01/cam-1/inc_1/snapshot.jpg?")
    r = client.get(url)
    assert r.status_code == 200 and r.content == b"jpeg!" and r.headers["content-type"] == "image/jpeg"
    assert client.get(url.replace("snapshot.jpg", "snapshot_raw.jpg")).status_code == 403  # other key
    assert client.get(url[:-1] + ("0" if url[-1] != "0" else "1")).status_code == 403  # forged
    expired = signer.url(obj.key, 1, now=time.time() - 5)
    assert client.get(expired).status_code == 403
    other = UrlSigner(b"x" * 32)
    assert client.get(other.url(obj.key, 60)).status_code == 403  # another deployment's secret


# -- nothing lost ----------------------------------------------------------------------------------

def test_s3_outage_spools_evidence_and_nothing_is_lost_across_a_restart(
        s3_server_factory, tmp_path: Path, test_video: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    server = s3_server_factory()
    bucket = new_bucket_name("outage")
    cfg = s3_config(tmp_path, server, bucket, monkeypatch)
    ring, image = filled_ring(test_video)

    rt = Runtime.create(cfg, detector=NO_DETECTOR)
    before = record_incidents(rt.recorder, ring, image, 2)  # S3 up: straight to the bucket
    assert rt.evidence.spooling.pending() == 0

    server.stop()
    n = 20
    spooling = rt.evidence.spooling
    spooling.backoff.min_s = 0.0  # first every write tries S3 and fails over to the spool ...
    during = record_incidents(rt.recorder, ring, image, n // 2)
    spooling.backoff.min_s = 1.0  # ... then writes skip S3 while the backoff runs
    during += record_incidents(rt.recorder, ring, image, n - n // 2)
    spooled = rt.evidence.spooling.pending()
    assert spooled == 5 * n  # snapshot, raw snapshot, vehicle close-up (a car), clip, manifest per incident
    # the records point at the final keys already, whether the bytes are in S3 or in the spool
    for inc in during:
        for kind, obj in rt.recorder.recorded[inc.id].evidence.items():
            assert rt.repository.evidence_item(inc.id, kind).key == obj.key
            assert rt.evidence.store.stat(obj.key).sha256 == obj.sha256  # readable from the spool
    recorded = {obj.key: obj.sha256 for inc in before + during
                for obj in rt.recorder.recorded[inc.id].evidence.values()}
    del rt  # the process ends with S3 still down (no clean shutdown)

    server.start()
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump({"storage": {
        "data_dir": cfg.storage.data_dir, "backend": "s3",
        "s3": {"endpoint": server.endpoint, "bucket": bucket, "secure": False,
               "access_key": "${%s}" % S3_ACCESS_ENV, "secret_key": "${%s}" % S3_SECRET_ENV}}}))
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    assert main(["evidence", "drain", "--config", str(config_file), "--timeout", "120"]) == 0  # a new process's view
    drain_s, drain_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    report = json.loads(capsys.readouterr().out)
    assert report["uploaded"] == spooled and report["remaining"] == 0

    # every object of every incident is in the bucket, with the hash recorded when it was made
    client = server.client()
    in_bucket = {o.object_name for o in client.list_objects(bucket, recursive=True)}
    assert in_bucket == set(recorded)
    assert len(recorded) == 5 * (n + 2)
    for key, sha256 in recorded.items():
        assert object_sha256(client, bucket, key) == sha256, key
        meta = client.stat_object(bucket, key).metadata
        assert meta["x-amz-meta-sha256"] == sha256
        assert meta["x-amz-meta-event_type"] == "illegal_parking" and meta["x-amz-meta-source"] == "cam-1"
    assert not list(Path(cfg.storage.resolved_spool_dir()).glob("*.json"))  # the spool is empty
    print(f"\nFIGURE spool drain: {spooled} objects ({n} incidents) in {drain_s:.2f} s wall, "
          f"{drain_cpu:.2f} s CPU")


def test_spool_reupload_is_idempotent_and_a_corrupt_entry_is_kept_aside(s3_server: SeaweedS3,
                                                                          tmp_path: Path) -> None:
    remote = make_store(s3_server)
    spooling = SpoolingEvidenceStore(remote, tmp_path / "spool")
    key = "2026/05/01/cam-1/inc_1/snapshot.jpg"
    entry = spooling.spool.add(key, io.BytesIO(b"first"), "image/jpeg", {"source": "cam-1"})
    spooling.spool.add(key, io.BytesIO(b"second"), "image/jpeg", {"source": "cam-1"})  # same key: one entry
    assert len(spooling.spool) == 1 and entry.data_path.read_bytes() == b"second"
    assert spooling.drain_once().uploaded == 1
    remote.put_bytes(key, b"second", "image/jpeg", {"source": "cam-1"})  # a crash before the entry's
    assert remote.stat(key).sha256 == hashlib.sha256(b"second").hexdigest()  # removal: same result
    with remote.open(key) as f:
        assert f.read() == b"second"

    bad = spooling.spool.add("2026/05/01/cam-1/inc_2/clip.mp4", io.BytesIO(b"video"), "video/mp4", {})
    bad.data_path.write_bytes(b"vidEo")  # a disk fault after spooling
    result = spooling.drain_once()
    assert result.uploaded == 0 and result.remaining == 0
    assert not remote.exists(bad.key)  # never upload bytes that do not match their recorded hash
    assert (spooling.spool.corrupt_dir / bad.data_path.name).read_bytes() == b"vidEo"  # kept, not deleted


def test_protection_asked_for_while_s3_is_down_is_applied_after_the_drain(s3_server_factory,
                                                                         tmp_path: Path) -> None:
    server = s3_server_factory()
    remote = make_store(server)
    spooling = SpoolingEvidenceStore(remote, tmp_path / "spool", min_backoff_s=0.05, max_backoff_s=0.2)
    uploaded = spooling.put_bytes("2026/05/01/cam-1/inc_1/snapshot.jpg", b"a", "image/jpeg")
    server.stop()
    spooled = spooling.put_bytes("2026/05/01/cam-1/inc_1/clip.mp4", b"b", "video/mp4")
    assert spooling.pending() == 1
    spooling.protect("2026/05/01/cam-1/inc_1")  # a case is created while S3 is down
    assert spooling.is_protected(spooled.key)
    server.start()
    spooling.start()  # the background loop uploads and then applies the protection
    try:
        deadline = time.monotonic() + 60
        while spooling.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        spooling.stop()
    assert spooling.pending() == 0
    assert remote.is_protected(uploaded.key) and remote.is_protected(spooled.key)
    tags = server.client().get_object_tags(remote.bucket, spooled.key)
    assert tags[PROTECT_TAG] == "true"


# -- wiring ----------------------------------------------------------------------------------------

def test_api_redirects_to_a_presigned_url_when_evidence_is_in_s3(s3_server: SeaweedS3, tmp_path: Path,
                                                                test_video: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from streetsight.server import build

    cfg = s3_config(tmp_path, s3_server, new_bucket_name(), monkeypatch, presign_expiry_s=120)
    rt, _pipeline, app = build(cfg)
    ring, image = filled_ring(test_video)
    [inc] = record_incidents(rt.recorder, ring, image, 1)
    app.state.auth.add_user("reviewer1", "a-long-password", "reviewer")
    client = TestClient(app, headers={"Authorization": f"Bearer {app.state.auth.issue_token('reviewer1')}"})
    r = client.get(f"/api/v1/incidents/{inc.id}/evidence/clip", follow_redirects=False)
    assert r.status_code == 307
    url = r.headers["location"]
    assert url.startswith(f"http://{s3_server.endpoint}/") and "X-Amz-Expires=120" in url
    status, body = http_get(url)
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == rt.repository.evidence_item(inc.id, "clip").sha256
    rt.close()


def test_s3_config_errors_name_the_field_and_secrets_stay_out_of_logs(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base = {"endpoint": "127.0.0.1:1", "bucket": "evidence", "access_key": "AKIDEXAMPLE",
            "secret_key": "very-secret-value-123", "secure": False, "connect_timeout_s": 0.2}
    with pytest.raises(ConfigError, match=r"storage\.s3\.endpoint: .*without scheme"):
        parse_config({"storage": {"backend": "s3", "s3": {**base, "endpoint": "http://minio:9000"}}})
    with pytest.raises(ConfigError, match=r"storage: backend is s3 but the s3 section"):
        parse_config({"storage": {"backend": "s3"}})
    with pytest.raises(ConfigError, match=r"storage\.retention_days: unknown event type"):
        parse_config({"storage": {"retention_days": {"parking": 3}}})
    cfg = parse_config({"storage": {"backend": "s3", "s3": base, "data_dir": str(tmp_path)}})
    assert "very-secret-value-123" not in repr(cfg) + cfg.model_dump_json()
    backend = build_evidence_backend(cfg.storage)
    assert "very-secret-value-123" not in repr(backend) + repr(backend.store)
    with caplog.at_level(logging.DEBUG):
        stored = backend.store.put_bytes("2026/05/01/cam-1/inc_1/snapshot.jpg", b"x", "image/jpeg")
        backend.close(drain_timeout_s=0.5)  # nothing listens on port 1: the evidence stays spooled
    assert stored.size == 1 and backend.spooling.pending() == 1
    assert "spooled" in caplog.text
    assert "very-secret-value-123" not in caplog.text


def test_local_backend_serves_signed_links_without_login_through_serve_wiring(
        tmp_path: Path, test_video: Path) -> None:
    from streetsight.server import build

    cfg = parse_config({"evidence": {"pre_roll_s": 2, "post_roll_s": 2},
                        "storage": {"data_dir": str(tmp_path / "data"), "presign_expiry_s": 60}})
    rt, _pipeline, app = build(cfg)
    ring, image = filled_ring(test_video)
    [inc] = record_incidents(rt.recorder, ring, image, 1)
    clip = rt.repository.evidence_item(inc.id, "clip")  # what serve keeps: the record, not the recorder's copy
    assert rt.recorder.recorded == {}
    client = TestClient(app)
    assert client.get(f"/api/v1/incidents/{inc.id}/evidence/clip").status_code == 401  # needs a login
    r = client.get(rt.evidence.presign(clip.key))  # the link is the credential
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == clip.sha256
    assert client.get(rt.evidence.presign(clip.key).replace("sig=", "sig=f")).status_code == 403
    # restarted server, same data_dir: the key file keeps links valid
    rt2, _p2, app2 = build(cfg)
    assert TestClient(app2).get(rt.evidence.presign(clip.key)).status_code == 200
    rt.close()
    rt2.close()
