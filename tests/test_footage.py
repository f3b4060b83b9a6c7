"""Recorded footage of enforcement devices (issue 18) through a real `serve` process: the vtest recording with a
GPX patrol becomes a done job whose van incident has its wall time and interpolated position and waits in the
review queue; an upload interrupted half-way resumes; bad input gets a clear 4xx naming the field and leaves
nothing behind; roles."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from streetsight.commands.footage import UPLOADS_PATH, _Fingerprint
from streetsight.footage.tracks import Track, TrackPoint
from tests.browser import PageLog, chromium, screenshot
from tests.cluster_procs import ADMIN_PASSWORD, ServeProcess
from tests.footage_helpers import STARTED_AT, Service, footage_config, last_json, login_token, patrol_gpx, sha256
from tests.media import encode_h264
from tests.pg_server import free_port
from tests.real_parts import missing_real_part

pytestmark = [pytest.mark.samples, pytest.mark.browser]


@pytest.fixture(scope="module")
def vtest() -> Path:
    from datasets.samples import fetch_samples

    try:
        return fetch_samples(Path("var/samples"), bikes=False)["vtest.mp4"]
    except Exception as exc:  # noqa: BLE001 - the sample comes from the opencv-python package
        missing_real_part(f"sample footage (python -m datasets.samples): {exc}")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("footage")
    port = free_port()
    config = footage_config(root / "config.yaml", root / "data", port)
    proc = ServeProcess("serve", config, [], root).start()
    try:
        svc = Service(proc, port, login_token(port, ADMIN_PASSWORD))
        svc.root, svc.data = root, root / "data"  # type: ignore[attr-defined]
        yield svc
    finally:
        proc.stop()


def upload(service: Service, *args: str, state: Path, token: str | None = None) -> subprocess.CompletedProcess:
    """`streetsight footage upload` as a user runs it (its own process)."""
    return subprocess.run(
        [sys.executable, "-m", "streetsight", "footage", "upload", *args, "--server", service.url,
         f"--token={token or service.token}", "--state", str(state)],
        capture_output=True, text=True, timeout=900, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def upload_process(service: Service, *args: str, state: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "streetsight", "footage", "upload", *args, "--server", service.url,
         f"--token={service.token}", "--state", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def leftovers(service: Service) -> list[Path]:
    """Files of uploads on the server: staged uploads, and stored footage."""
    staged = [p for p in (service.data / "footage-uploads").rglob("*") if p.is_file()]  # type: ignore[attr-defined]
    stored = [p for p in (service.data / "evidence").rglob("*") if p.is_file() and "footage-" in str(p)]  # type: ignore[attr-defined]
    return sorted(staged + stored)


def test_vtest_with_a_gpx_track_becomes_a_done_job_with_positioned_incidents_in_the_queue(service, vtest, tmp_path):
    """The done-when test, watched in the UI: the jobs page's bar moves with the live events, and the van
    incident shows its position in the review queue."""
    points = patrol_gpx(tmp_path / "patrol.gpx")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 860})
        log = PageLog(page)
        page.goto(service.url + "/")
        page.fill("#login-username", "admin")
        page.fill("#login-password", ADMIN_PASSWORD)
        page.click("#login-submit")
        page.locator("#review-view").wait_for()
        page.click("#tab-jobs")
        page.locator("#jobs-view").wait_for()
        page.wait_for_function("() => document.getElementById('live').dataset.mode === 'sse'")

        cli = upload_process(service, str(vtest), "--source", "bodycam-1", "--started-at",
                             "2026-11-30T09:00:00+08:00", "--track", str(tmp_path / "patrol.gpx"), "--json", "--wait",
                             state=tmp_path / "state.json")
        row = page.locator("#jobs-body tr").first
        row.wait_for(timeout=120_000)  # the job appears through the event stream, no reload
        page.wait_for_function("() => { const p = document.querySelector('#jobs-body tr progress');"
                               " return p && p.value > 0.2 && p.value < 1; }", timeout=300_000)
        assert "分析中 Running" in row.inner_text() and "ETA" in row.inner_text()
        screenshot(page, tmp_path, "footage-jobs-running.png")
        stdout, stderr = cli.communicate(timeout=900)
        assert cli.returncode == 0, stderr + service.proc.log_tail()
        job = last_json(stdout)
        page.wait_for_function("() => document.querySelector('#jobs-body tr progress').value === 1")
        assert "完成 Done" in row.inner_text() and job["id"] in row.inner_text() and "GPX" in row.inner_text()
        screenshot(page, tmp_path, "footage-jobs-done.png")

        assert job["status"] == "done" and job["progress"] == 1.0 and job["error"] is None
        assert job["video_sha256"] == sha256(vtest) and job["video_size"] == vtest.stat().st_size
        assert job["started_at"] == "2026-11-30T01:00:00Z" and job["started_at_from"] == "upload"
        assert job["track_format"] == "gpx" and job["track_points"] == len(points)
        assert job["frames_analysed"] > 100 and job["unpositioned_frames"] == 0
        assert "%" in stderr  # the CLI's progress bar

        incidents = service.job_incidents(job["id"])
        assert job["incidents"] == len(incidents) >= 1
        van = min(incidents, key=lambda i: i["confirmed_at"])  # parked at the kerb from the first frame
        assert van["class"] in ("truck", "car", "bus") and van["confirmed_at"] < 5 and van["zone"] == "kerb"
        wall = datetime.fromisoformat(van["detected_wall"].replace("Z", "+00:00"))
        assert wall == STARTED_AT + timedelta(seconds=van["confirmed_at"])
        expected = Track([TrackPoint(t, lng, lat) for t, lat, lng in points]).at(wall.timestamp())
        assert van["position"] == pytest.approx(expected)
        assert (van["position"]["lng"], van["position"]["lat"]) not in [(lng, lat) for _, lat, lng in points]
        assert {"snapshot", "clip", "manifest"} <= set(van["evidence"])
        queue = service.http.get("/api/v1/incidents", params={"status": "pending", "limit": 500}).json()
        assert van["id"] in {i["id"] for i in queue}
        # what stays: the stored video and track (with their metadata sidecars), nothing staged
        assert [p.name for p in leftovers(service) if job["id"] in str(p)] == ["track.gpx.json", "video.mp4.json",
                                                                               "track.gpx", "video.mp4"]

        # the review queue shows the van with where the device was
        page.click('.tab[data-view="review"]')
        item = page.locator(f'#queue-list li[data-id="{van["id"]}"]')
        item.click()
        page.wait_for_function(f"() => document.getElementById('d-id').textContent === '{van['id']}'")
        assert page.locator("#d-position").inner_text() == f"{expected['lng']:.6f}, {expected['lat']:.6f}"
        screenshot(page, tmp_path, "footage-incident-position.png")

        # and on the map (一张图) at the device's position, where the body camera itself has no place
        placed = service.http.get("/api/v1/map").json()
        assert [(p["lng"], p["lat"]) for p in placed["incidents"] if p["id"] == van["id"]] == \
            [pytest.approx((expected["lng"], expected["lat"]))]
        page.click("#tab-map")
        page.wait_for_selector("#map[data-ready='1']")
        page.locator(f"path.mk-id-{van['id']}").click()
        page.locator(".leaflet-popup a.map-open").wait_for()
        screenshot(page, tmp_path, "footage-incident-map.png")
        assert log.unexpected("401") == []  # 401: the page asks who is signed in before the login
    done = datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00"))
    created = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00"))
    print(f"analysis speed: {job['duration_s'] / (done - created).total_seconds():.2f} media s per wall s "
          f"({job['frames_analysed']} frames)")


def test_an_upload_interrupted_half_way_resumes_where_it_stopped(service, tmp_path):
    from tusclient import client as tus
    from tusclient.storage.filestorage import FileStorage

    video = encode_h264(tmp_path / "patrol.mp4", seconds=20, fps=10, size=(640, 480), gop=10)
    size = video.stat().st_size
    started = "2026-11-30T10:00:00+08:00"
    state = tmp_path / "state.json"
    # what the CLI would have sent before the connection dropped: the first half, then nothing
    fingerprint = _Fingerprint(f"{service.url}|bodycam-1|{started}|")
    first = tus.TusClient(service.url + UPLOADS_PATH, headers={"Authorization": f"Bearer {service.token}"}).uploader(
        str(video), chunk_size=64 * 1024, store_url=True, url_storage=FileStorage(str(state)),
        fingerprinter=fingerprint,
        metadata={"filename": video.name, "filetype": "video/mp4", "source_id": "bodycam-1", "started_at": started})
    first.upload(stop_at=size // 2)
    upload_id = first.url.rsplit("/", 1)[-1]
    head = httpx.head(first.url, headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {service.token}"})
    offset = int(head.headers["Upload-Offset"])
    assert size // 2 <= offset < size
    assert service.http.get(f"/api/v1/footage/{upload_id}").status_code == 404  # not a job until complete

    result = upload(service, str(video), "--source", "bodycam-1", "--started-at", started, "--json",
                    state=state)
    assert result.returncode == 0, result.stderr
    assert last_json(result.stdout) == {"job_id": upload_id}  # the same upload, continued
    job = service.wait_job(upload_id)
    assert job["status"] == "done" and job["video_size"] == size and job["video_sha256"] == sha256(video)


def test_bad_input_is_refused_naming_the_field_and_leaves_nothing(service, tmp_path):
    before = leftovers(service)
    state = tmp_path / "state.json"
    not_video = tmp_path / "clip.mp4"
    not_video.write_bytes(b"\x00\x01 this is not a video " * 50_000)  # > 1 MiB: two chunks
    r = upload(service, str(not_video), "--source", "bodycam-1", "--started-at", "2026-11-30T09:00:00Z",
               state=state)
    assert r.returncode == 2 and "file: not a video file" in r.stderr, r.stderr

    video = encode_h264(tmp_path / "short.mp4", seconds=4, fps=10)
    r = upload(service, str(video), "--source", "nope", "--started-at", "2026-11-30T09:00:00Z", state=state)
    assert r.returncode == 2 and "404 metadata.source_id: no source 'nope'" in r.stderr, r.stderr
    r = upload(service, str(video), "--source", "street-cam", "--started-at", "2026-11-30T09:00:00Z", state=state)
    assert r.returncode == 2 and "metadata.source_id: source 'street-cam' is a fixed camera" in r.stderr, r.stderr
    r = upload(service, str(video), "--source", "bodycam-1", "--started-at", "yesterday morning", state=state)
    assert r.returncode == 2 and "metadata.started_at" in r.stderr, r.stderr
    r = upload(service, str(video), "--source", "bodycam-1", state=state)  # no time given, none in the file
    assert r.returncode == 2 and "metadata.started_at: required" in r.stderr, r.stderr

    patrol_gpx(tmp_path / "yesterday.gpx", start=STARTED_AT - timedelta(days=1))
    r = upload(service, str(video), "--source", "bodycam-1", "--started-at", "2026-11-30T09:00:00+08:00",
               "--track", str(tmp_path / "yesterday.gpx"), state=state)
    assert r.returncode == 2 and "metadata.track_id: the track (2026-11-29" in r.stderr, r.stderr
    assert "does not overlap the video (2026-11-30T01:00:00+00:00" in r.stderr
    bad_track = tmp_path / "track.csv"
    bad_track.write_text("time,lng,lat\n2026-11-30T01:00:00Z,120.0\n")
    r = upload(service, str(video), "--source", "bodycam-1", "--started-at", "2026-11-30T09:00:00Z",
               "--track", str(bad_track), state=state)
    assert r.returncode == 2 and "body: CSV track: CSV line 2: expected time,lng,lat" in r.stderr, r.stderr

    assert leftovers(service) == before  # nothing staged, nothing stored
    assert all(j["source"] != "street-cam" for j in service.http.get("/api/v1/footage").json())


def test_roles_reviewers_admins_and_docking_stations_upload_trainers_do_not(service, tmp_path):
    database = f"sqlite:///{service.data}/streetsight.db"  # type: ignore[attr-defined]
    tokens = {}
    for name, role in (("dock-7", "docking-station"), ("trainer-1", "trainer")):
        env = dict(os.environ, STREETSIGHT_PASSWORD="a-long-password-1")
        subprocess.run([sys.executable, "-m", "streetsight", "users", "add", name, "--role", role,
                        "--database-url", database], env=env, check=True, capture_output=True)
        out = subprocess.run([sys.executable, "-m", "streetsight", "users", "token", name, "--days", "1",
                              "--database-url", database], check=True, capture_output=True, text=True).stdout
        tokens[role] = out.strip().splitlines()[-1]
    video = encode_h264(tmp_path / "dock.mp4", seconds=4, fps=10)
    r = upload(service, str(video), "--source", "bodycam-1", "--started-at", "2026-11-30T11:00:00+08:00",
               "--json", state=tmp_path / "s.json", token=tokens["trainer"])
    assert r.returncode == 2 and "403" in r.stderr and "footage:upload" in r.stderr, r.stderr
    r = upload(service, str(video), "--source", "bodycam-1", "--started-at", "2026-11-30T11:00:00+08:00",
               "--json", state=tmp_path / "s.json", token=tokens["docking-station"])
    assert r.returncode == 0, r.stderr
    job = service.job(last_json(r.stdout)["job_id"])
    assert job["created_by"] == "dock-7"
    trainer = httpx.get(f"{service.url}/api/v1/footage", headers={"Authorization": f"Bearer {tokens['trainer']}"})
    assert trainer.status_code == 403
