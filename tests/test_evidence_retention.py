"""Retention per event type: the sweeper deletes expired evidence and keeps what a case protects, on S3
(legal hold with object lock, a tag without) and on the local disk."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from minio.error import S3Error

from evidence.retention import RetentionPolicy, sweep
from evidence.s3 import S3EvidenceStore, S3Settings
from evidence.store import LocalEvidenceStore, incident_key_prefix
from streetsight.cli import main
from tests.s3_server import SeaweedS3, new_bucket_name

NOW = datetime.now(timezone.utc)
POLICY = RetentionPolicy.from_days({"default": 30, "illegal_parking": 90})


def put_incident(store, incident: str, event_type: str, age_days: float) -> list[str]:
    """Snapshot, clip and manifest of an incident made ``age_days`` ago."""
    made = NOW - timedelta(days=age_days)
    prefix = incident_key_prefix("cam-1", incident, made)
    meta = {"source": "cam-1", "event_type": event_type, "incident": incident,
            "created_at": made.isoformat(timespec="seconds")}
    keys = []
    for name, ctype in (("snapshot.jpg", "image/jpeg"), ("clip.mp4", "video/mp4"), ("manifest.json", "application/json")):
        keys.append(store.put_bytes(f"{prefix}/{name}", f"{incident}/{name}".encode(), ctype, meta).key)
    return keys


def s3_store(server: SeaweedS3, object_lock: bool) -> S3EvidenceStore:
    return S3EvidenceStore.from_settings(S3Settings(
        endpoint=server.endpoint, bucket=new_bucket_name("ret"), access_key=server.access_key,
        secret_key=server.secret_key, secure=False, object_lock=object_lock))


@pytest.fixture(params=["s3-tag", "s3-legal-hold", "local"])
def store(request, tmp_path: Path):
    if request.param == "local":
        return LocalEvidenceStore(tmp_path / "evidence")
    server = request.getfixturevalue("s3_server")
    return s3_store(server, object_lock=request.param == "s3-legal-hold")


def test_sweep_deletes_expired_unprotected_and_keeps_protected_and_young(store) -> None:
    old_parking = put_incident(store, "inc_old_parking", "illegal_parking", 100)  # > 90 days: goes
    case_parking = put_incident(store, "inc_case", "illegal_parking", 100)  # > 90 days, but a case
    mid_parking = put_incident(store, "inc_mid_parking", "illegal_parking", 50)  # < 90 days: stays
    mid_debris = put_incident(store, "inc_mid_debris", "debris_spill", 50)  # default 30 days: goes
    new_debris = put_incident(store, "inc_new_debris", "debris_spill", 1)  # stays
    assert sorted(store.protect(case_parking[0].rpartition("/")[0])) == sorted(case_parking)
    assert all(store.is_protected(k) for k in case_parking)
    assert not store.is_protected(old_parking[0])

    dry = sweep(store, POLICY, dry_run=True)
    assert sorted(dry.deleted) == sorted(old_parking + mid_debris)
    assert all(store.exists(k) for k in old_parking)  # a dry run deletes nothing

    report = sweep(store, POLICY)
    assert sorted(report.deleted) == sorted(old_parking + mid_debris)
    assert sorted(report.protected) == sorted(case_parking)
    assert report.kept == len(mid_parking + new_debris) and not report.errors
    remaining = {e.key for e in store.list_objects()}
    assert remaining == set(case_parking + mid_parking + new_debris)

    # a case closed long ago: protection lifted, the next sweep removes the evidence
    store.unprotect(case_parking)
    assert sorted(sweep(store, POLICY).deleted) == sorted(case_parking)


def test_a_legal_hold_is_enforced_by_the_server_itself(s3_server: SeaweedS3) -> None:
    store = s3_store(s3_server, object_lock=True)
    [key, *_] = put_incident(store, "inc_held", "illegal_parking", 100)
    store.protect([key])
    with pytest.raises(S3Error) as refused:
        store.delete(key)  # even a buggy sweeper cannot remove evidence under legal hold
    assert refused.value.code == "AccessDenied"
    with store.open(key) as f:
        assert f.read() == b"inc_held/snapshot.jpg"


def test_no_retention_configured_keeps_everything(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path / "evidence")
    keys = put_incident(store, "inc_ancient", "illegal_parking", 3000)
    report = sweep(store, RetentionPolicy.from_days({}))
    assert report.deleted == [] and all(store.exists(k) for k in keys)


def test_cli_sweep_on_s3_config(s3_server: SeaweedS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RET_TEST_SECRET", s3_server.secret_key)
    store = s3_store(s3_server, object_lock=False)
    old = put_incident(store, "inc_old", "illegal_parking", 10)
    young = put_incident(store, "inc_young", "illegal_parking", 2)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"storage": {
        "data_dir": str(tmp_path / "data"), "backend": "s3", "retention_days": {"illegal_parking": 7},
        "s3": {"endpoint": s3_server.endpoint, "bucket": store.bucket, "secure": False,
               "access_key": s3_server.access_key, "secret_key": "${RET_TEST_SECRET}"}}}))
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["evidence", "sweep", "--config", str(config)]) == 0
    report = json.loads(out.getvalue())
    assert sorted(report["deleted_keys"]) == sorted(old) and report["deleted"] == 3
    assert {e.key for e in store.list_objects()} == set(young)
    assert s3_server.secret_key not in out.getvalue()
