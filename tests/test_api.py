"""The incidents API over a real SQLite file and a real PostgreSQL: records, filters, evidence download,
review, metrics. The client is signed in as a reviewer (authentication itself: tests/test_auth.py)."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from sqlalchemy import func, select

from api import (
    EvidenceItemIn,
    IncidentCreate,
    IncidentRepository,
    ReviewConflict,
    create_app,
    create_engine_for,
    init_db,
    make_session_factory,
)
from api.db import EvidenceRecord, IncidentRecord
from api.settings import ApiSettings
from tests.media import encode_h264

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc)
JSON_KEYS = {
    "id", "type", "source", "zone", "status", "started_at", "confirmed_at", "ended_at", "class", "box",
    "score", "track_id", "frame_size", "zone_polygon", "detected_wall", "evidence", "review", "labels",
    "ended_reason", "last_seen_at", "last_seen_wall", "ended_wall", "evidence_missing", "suppressed_by", "priority",
    "history",  # issue 14: earlier closed offences of the same object at the same place
    "position", "footage_job",  # moving cameras: where the device was; the uploaded footage's job (issue 18)
    "vehicle", "snapshots", "shop",  # issue 15: plate read and close-up, timed pictures, the shop (门前三包)
    "shadow_model",  # issue 19: the candidate model that found a shadow incident
}
PASSWORD = "correct horse battery"


def signed_in_client(app, username: str = "wang", role: str = "reviewer") -> TestClient:
    """A client with a session cookie of a new user ``username``."""
    app.state.auth.add_user(username, PASSWORD, role)
    client = TestClient(app)
    r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client


class Env:
    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.url = database_url
        self.db_path = tmp_path / "db" / "streetsight.db"  # the SQLite case: database_url points here
        self.engine = create_engine_for(database_url)
        init_db(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.repo = IncidentRepository(self.sessions)
        self.root = tmp_path / "evidence"
        self.root.mkdir()
        self.sources: list[dict] = []
        self.client = signed_in_client(create_app(self.repo, self.root, lambda: self.sources,
                                                  settings=ApiSettings(auth={"metrics_public": True})))

    def store(self, incident_id: str, kind: str, data: bytes, content_type: str, suffix: str) -> EvidenceItemIn:
        key = f"{incident_id}/{kind}{suffix}"
        (self.root / key).parent.mkdir(parents=True, exist_ok=True)
        (self.root / key).write_bytes(data)
        item = EvidenceItemIn(
            kind=kind, key=key, sha256=hashlib.sha256(data).hexdigest(), size=len(data), content_type=content_type
        )
        self.repo.attach_evidence(incident_id, item)
        return item

    def metric(self, name: str, **labels: str) -> float:
        text = self.client.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
        raise KeyError(f"{name}{labels} not in /metrics")


@pytest.fixture()
def env(tmp_path: Path, database_url: str) -> Env:
    e = Env(tmp_path, database_url)
    yield e
    e.client.close()
    e.engine.dispose()


def incident(n: int, **overrides) -> IncidentCreate:
    fields = {
        "id": f"inc_{n:016x}",
        "type": "illegal_parking",
        "source": "cam-01",
        "zone": "gate",
        "started_at": 10.0 + n,
        "confirmed_at": 40.0 + n,
        "detected_wall": T0 + timedelta(minutes=n),
        "class": "car",
        "box": [10, 20, 110, 90],
        "score": 0.87,
        "track_id": 7,
        "frame_size": [320, 240],
        "zone_polygon": [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]],
        "labels": {"category": "05"},
    }
    fields.update(overrides)
    return IncidentCreate.model_validate(fields)


def jpeg(width: int = 320, height: int = 240) -> bytes:
    img = np.full((height, width, 3), 80, np.uint8)
    cv2.rectangle(img, (10, 20), (110, 90), (0, 0, 255), 2)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def test_engine_makes_folder_and_sets_sqlite_pragmas(env: Env) -> None:
    if not env.url.startswith("sqlite"):
        pytest.skip("SQLite only")
    assert env.db_path.is_file()
    with env.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_add_list_filters_get(env: Env) -> None:
    env.repo.add(incident(1))
    env.repo.add(incident(2, type="street_vending", source="cam-02", zone=None, track_id=None))
    env.repo.add(incident(3, source="cam-02"))

    r = env.client.get("/api/v1/incidents")
    assert r.status_code == 200
    assert [i["id"] for i in r.json()] == [f"inc_{n:016x}" for n in (3, 2, 1)]  # newest first
    assert r.headers["X-Total-Count"] == "3"

    def ids(**params) -> list[str]:
        res = env.client.get("/api/v1/incidents", params=params)
        assert res.status_code == 200, res.text
        return [i["id"][-1] for i in res.json()]

    assert ids(type="illegal_parking") == ["3", "1"]
    assert ids(source="cam-02") == ["3", "2"]
    assert ids(source="cam-02", type="illegal_parking") == ["3"]
    assert ids(status="pending") == ["3", "2", "1"]
    assert ids(status="confirmed") == []
    assert ids(limit=1, offset=1) == ["2"]
    assert env.client.get("/api/v1/incidents", params={"status": "bogus"}).status_code == 422
    assert env.client.get("/api/v1/incidents", params={"limit": 0}).status_code == 422

    body = env.client.get(f"/api/v1/incidents/inc_{1:016x}").json()
    assert set(body) == JSON_KEYS
    assert body["class"] == "car"
    assert body["status"] == "pending"
    assert body["box"] == [10, 20, 110, 90]
    assert body["frame_size"] == [320, 240]
    assert body["zone_polygon"][0] == [0.1, 0.5]
    assert body["evidence"] == {} and body["review"] is None
    assert datetime.fromisoformat(body["detected_wall"]) == T0 + timedelta(minutes=1)


def test_unknown_incident_is_404(env: Env) -> None:
    assert env.client.get("/api/v1/incidents/inc_nope").status_code == 404
    assert env.client.get("/api/v1/incidents/inc_nope/evidence/clip").status_code == 404
    r = env.client.post("/api/v1/incidents/inc_nope/review", json={"decision": "confirm"})
    assert r.status_code == 404


def test_readding_same_id_does_not_duplicate(env: Env) -> None:
    first = env.repo.add(incident(1))
    again = env.repo.add(incident(1, score=0.5, source="elsewhere"))
    assert again == first  # the stored record, unchanged
    assert len(env.client.get("/api/v1/incidents").json()) == 1
    assert env.metric("streetsight_incidents_recorded_total", type="illegal_parking", source="cam-01") == 1


def test_concurrent_adds_from_threads_keep_one_record_per_id(env: Env) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for n in range(30):
                env.repo.add(incident(n))  # all threads race on the same ids
                env.repo.add(incident(1000 + k * 100 + n))  # and each adds its own
                env.repo.list(limit=5)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert env.repo.count() == 30 + 4 * 30
    assert env.metric("streetsight_incidents_recorded_total", type="illegal_parking", source="cam-01") == 150


def test_evidence_download_and_range(env: Env, tmp_path: Path) -> None:
    inc = env.repo.add(incident(1))
    clip_bytes = encode_h264(tmp_path / "clip.mp4", seconds=2, fps=25, size=(320, 240), gop=25).read_bytes()
    clip = env.store(inc.id, "clip", clip_bytes, "video/mp4", ".mp4")
    snap = env.store(inc.id, "snapshot", jpeg(), "image/jpeg", ".jpg")

    body = env.client.get(f"/api/v1/incidents/{inc.id}").json()
    assert body["evidence"]["clip"] == {
        "url": f"/api/v1/incidents/{inc.id}/evidence/clip",
        "sha256": clip.sha256,
        "size": len(clip_bytes),
        "content_type": "video/mp4",
    }

    r = env.client.get(body["evidence"]["clip"]["url"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes"
    assert hashlib.sha256(r.content).hexdigest() == clip.sha256

    r = env.client.get(body["evidence"]["clip"]["url"], headers={"Range": "bytes=100-1099"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes 100-1099/{len(clip_bytes)}"
    assert r.content == clip_bytes[100:1100]

    head = env.client.head(body["evidence"]["clip"]["url"])
    assert head.status_code == 200 and head.headers["content-length"] == str(len(clip_bytes))

    r = env.client.get(body["evidence"]["snapshot"]["url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(r.content).hexdigest() == snap.sha256
    assert env.client.get(f"/api/v1/incidents/{inc.id}/evidence/manifest").status_code == 404


def test_attach_evidence_upserts_by_kind(env: Env) -> None:
    inc = env.repo.add(incident(1))
    env.store(inc.id, "clip", b"first", "video/mp4", ".mp4")
    second = EvidenceItemIn(
        kind="clip", key=f"{inc.id}/clip-v2.mp4", sha256=hashlib.sha256(b"second").hexdigest(),
        size=6, content_type="video/mp4",
    )
    (env.root / second.key).write_bytes(b"second")
    out = env.repo.attach_evidence(inc.id, second)
    assert out.evidence["clip"].sha256 == second.sha256
    with env.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EvidenceRecord)) == 1
    assert env.client.get(f"/api/v1/incidents/{inc.id}/evidence/clip").content == b"second"


def test_evidence_keys_cannot_escape_the_store(env: Env, tmp_path: Path) -> None:
    for bad in ("../secret.txt", "/etc/passwd", "a/../../secret.txt", "C:/x"):
        with pytest.raises(ValidationError):
            EvidenceItemIn(kind="clip", key=bad, sha256="0" * 64, size=1, content_type="video/mp4")
    # a key written behind the schema's back is still refused by the app
    (tmp_path / "secret.txt").write_text("secret")
    inc = env.repo.add(incident(1))
    with env.sessions() as s:
        s.add(EvidenceRecord(incident_id=inc.id, kind="clip", key="../secret.txt", sha256="0" * 64,
                             size=6, content_type="text/plain"))
        s.commit()
    r = env.client.get(f"/api/v1/incidents/{inc.id}/evidence/clip")
    assert r.status_code == 403
    assert "secret" not in r.text


def test_evidence_file_missing_from_store_is_404(env: Env) -> None:
    inc = env.repo.add(incident(1))
    env.repo.attach_evidence(inc.id, EvidenceItemIn(kind="clip", key="gone.mp4", sha256="0" * 64, size=1,
                                                    content_type="video/mp4"))
    assert env.client.get(f"/api/v1/incidents/{inc.id}/evidence/clip").status_code == 404


def test_evidence_for_unknown_incident_is_refused_by_foreign_key(env: Env) -> None:
    from api import IncidentNotFound

    with pytest.raises(IncidentNotFound):
        env.repo.attach_evidence("inc_nope", EvidenceItemIn(kind="clip", key="x.mp4", sha256="0" * 64, size=1,
                                                            content_type="video/mp4"))
    with env.sessions() as s:  # the database itself enforces it too (foreign keys on)
        s.add(EvidenceRecord(incident_id="inc_nope", kind="clip", key="x", sha256="0" * 64, size=1,
                             content_type="video/mp4"))
        with pytest.raises(Exception, match="(?i)foreign key"):
            s.commit()


def test_review_confirm_changes_status_and_counts(env: Env) -> None:
    a = env.repo.add(incident(1))
    b = env.repo.add(incident(2))
    assert env.metric("streetsight_reviews_total", decision="confirm") == 0
    assert env.metric("streetsight_incidents_pending") == 2

    r = env.client.post(f"/api/v1/incidents/{a.id}/review", json={"decision": "confirm", "note": "plate visible"},
                        headers={"X-Reviewer": "wang"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "confirmed"
    assert body["review"]["decision"] == "confirm"
    assert body["review"]["note"] == "plate visible"
    assert body["review"]["reviewer"] == "wang"
    assert env.repo.get(a.id).status == "confirmed"
    assert [i["id"] for i in env.client.get("/api/v1/incidents", params={"status": "pending"}).json()] == [b.id]
    assert [i["id"] for i in env.client.get("/api/v1/incidents", params={"status": "confirmed"}).json()] == [a.id]

    # the same decision again is a safe retry: 200, unchanged, not counted twice
    again = env.client.post(f"/api/v1/incidents/{a.id}/review", json={"decision": "confirm", "note": "dup"})
    assert again.status_code == 200
    assert again.json()["review"] == body["review"]
    # the opposite decision is a conflict
    assert env.client.post(f"/api/v1/incidents/{a.id}/review", json={"decision": "reject"}).status_code == 409
    with pytest.raises(ReviewConflict):
        env.repo.review(a.id, "reject")

    assert env.client.post(f"/api/v1/incidents/{b.id}/review", json={"decision": "reject"}).json()["status"] == "rejected"
    assert env.metric("streetsight_reviews_total", decision="confirm") == 1
    assert env.metric("streetsight_reviews_total", decision="reject") == 1
    assert env.metric("streetsight_incidents_pending") == 0


def test_racing_reviewers_one_decision_wins(env: Env) -> None:
    inc = env.repo.add(incident(1))
    outcomes: list[str] = []

    def reviewer(k: int) -> None:
        decision = "confirm" if k % 2 else "reject"
        try:
            out = env.repo.review(inc.id, decision, reviewer=f"r{k}")
            outcomes.append(out.review.decision)
        except ReviewConflict as exc:
            outcomes.append("conflict:" + exc.incident.review.decision)

    threads = [threading.Thread(target=reviewer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = env.repo.get(inc.id).review.decision
    assert sorted(outcomes) == sorted([final] * 4 + [f"conflict:{final}"] * 4)
    assert env.metric("streetsight_reviews_total", decision=final) == 1
    other = "reject" if final == "confirm" else "confirm"
    assert env.metric("streetsight_reviews_total", decision=other) == 0


def test_unknown_decision_is_422(env: Env) -> None:
    inc = env.repo.add(incident(1))
    for body in ({"decision": "approve"}, {}, {"decision": "confirm", "note": 5}, {"decision": "confirm", "x": 1}):
        assert env.client.post(f"/api/v1/incidents/{inc.id}/review", json=body).status_code == 422, body
    assert env.repo.get(inc.id).status == "pending"


def test_mark_ended(env: Env) -> None:
    inc = env.repo.add(incident(1))
    assert inc.ended_at is None
    env.repo.mark_ended(inc.id, 99.5)
    assert env.client.get(f"/api/v1/incidents/{inc.id}").json()["ended_at"] == 99.5


def test_model_dump_says_class(env: Env) -> None:
    out = env.repo.add(incident(1))
    assert out.model_dump()["class"] == "car"
    assert '"class":"car"' in out.model_dump_json()


def test_health_sources_docs_and_page(env: Env) -> None:
    assert env.client.get("/healthz").json() == {"status": "ok"}
    assert env.client.get("/api/v1/sources").json() == []
    env.sources.append({"id": "cam-01", "url": "rtsp://admin:hunter2@10.0.0.5/stream1", "kind": "cctv"})
    sources = env.client.get("/api/v1/sources").json()
    assert sources[0]["id"] == "cam-01" and "hunter2" not in str(sources)
    # a password holding "@" is masked whole (FFmpeg reads the userinfo up to the last "@"), in any field
    env.sources[:] = [{"id": "cam-02", "url": "rtsp://admin:p@ssw0rd-Leak@10.0.0.6/s1",
                       "health": {"last_error": "open rtsp://admin:p@ssw0rd-Leak@10.0.0.6/s1: refused"}}]
    sources = env.client.get("/api/v1/sources").json()
    assert "ssw0rd-Leak" not in str(sources)
    assert sources[0]["url"] == "rtsp://admin:***@10.0.0.6/s1"
    assert sources[0]["health"]["last_error"] == "open rtsp://admin:***@10.0.0.6/s1: refused"
    assert env.client.get("/docs").status_code == 200
    paths = env.client.get("/openapi.json").json()["paths"]
    assert "/api/v1/incidents/{incident_id}/review" in paths
    page = env.client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    js = env.client.get("/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]


def test_sources_without_provider_is_empty(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'x.db'}")
    init_db(engine)
    client = signed_in_client(create_app(IncidentRepository(make_session_factory(engine)), tmp_path))
    assert client.get("/api/v1/sources").json() == []
    engine.dispose()


def test_healthz_reports_unreachable_database(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'x.db'}")  # no tables is fine for SELECT 1
    repo = IncidentRepository(make_session_factory(engine))
    client = TestClient(create_app(repo, tmp_path))
    assert client.get("/healthz").status_code == 200
    repo.ping = lambda: (_ for _ in ()).throw(RuntimeError("down"))  # type: ignore[method-assign]
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "error"
    engine.dispose()


def test_api_imports_no_analysis_package() -> None:
    # streams.urls (standard library only) is the one credential masking, shared with the readers
    code = (
        "import sys, api, api.app; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('streams', 'vision', 'models', 'detectors', 'evidence', 'training', 'datasets', 'torch', 'ultralytics', "
        "'av', 'cv2') and m not in ('streams', 'streams.urls')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_records_table_rows(env: Env) -> None:
    env.repo.add(incident(1, labels={"category": "05", "local": "A12"}, extra={"plate": None}))
    with env.sessions() as s:
        rec = s.scalars(select(IncidentRecord)).one()
        assert rec.labels == {"category": "05", "local": "A12"}
        assert rec.extra == {"plate": None}
        assert rec.detected_wall == T0 + timedelta(minutes=1)
