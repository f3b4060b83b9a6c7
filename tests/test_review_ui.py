"""The review page in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The app is served by uvicorn on 127.0.0.1 with a free port, seeded with one incident whose clip is a
real H.264 MP4 and whose snapshots are JPEGs. Screenshots go to tmp_path and var/test-artifacts/.
"""
from __future__ import annotations

import hashlib
import socket
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest

from api import EvidenceItemIn, IncidentCreate, IncidentRepository, create_app, create_engine_for, init_db
from api import make_session_factory
from tests.media import encode_h264

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "var" / "test-artifacts"
INCIDENT_ID = "inc_00000000000000a1"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium (apt install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install playwright)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot_jpeg(annotated: bool) -> bytes:
    img = np.full((360, 640, 3), 95, np.uint8)
    img[180:, :] = 60
    cv2.rectangle(img, (250, 200), (420, 290), (200, 200, 200), -1)  # the "car"
    if annotated:
        cv2.rectangle(img, (250, 200), (420, 290), (0, 0, 255), 3)
        cv2.putText(img, "car 0.91", (250, 192), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def attach(repo: IncidentRepository, root: Path, kind: str, data: bytes, content_type: str, suffix: str) -> None:
    key = f"2025/05/01/{INCIDENT_ID}/{kind}{suffix}"
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    (root / key).write_bytes(data)
    repo.attach_evidence(INCIDENT_ID, EvidenceItemIn(
        kind=kind, key=key, sha256=hashlib.sha256(data).hexdigest(), size=len(data), content_type=content_type,
    ))


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, IncidentRepository]]:
    import uvicorn

    engine = create_engine_for(f"sqlite:///{tmp_path / 'db' / 'streetsight.db'}")
    init_db(engine)
    repo = IncidentRepository(make_session_factory(engine))
    root = tmp_path / "evidence"
    repo.add(IncidentCreate.model_validate({
        "id": INCIDENT_ID, "type": "illegal_parking", "source": "cam-gate-01", "zone": "no-parking-gate",
        "started_at": 12.4, "confirmed_at": 42.4, "detected_wall": datetime.now(timezone.utc),
        "class": "car", "box": [250, 200, 420, 290], "score": 0.91, "track_id": 17, "frame_size": [640, 360],
        "zone_polygon": [[0.3, 0.5], [0.8, 0.5], [0.8, 0.95], [0.3, 0.95]],
    }))
    clip = encode_h264(tmp_path / "clip.mp4", seconds=4, fps=25, size=(640, 360), gop=25)
    attach(repo, root, "clip", clip.read_bytes(), "video/mp4", ".mp4")
    attach(repo, root, "snapshot", snapshot_jpeg(annotated=True), "image/jpeg", ".jpg")
    attach(repo, root, "snapshot_raw", snapshot_jpeg(annotated=False), "image/jpeg", ".jpg")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(repo, root), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):  # wait for the socket, not for a fixed time
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", repo
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def screenshot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_review_page_shows_plays_and_confirms(served, tmp_path: Path) -> None:
    base, repo = served
    console_errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 860})
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.goto(base + "/")

            # the queue lists the incident, selected, with its Chinese label
            item = page.locator(f'#queue-list li[data-id="{INCIDENT_ID}"]')
            item.wait_for()
            assert "机动车乱停放" in item.inner_text()
            assert "cam-gate-01" in item.inner_text()
            assert page.locator("#d-id").inner_text() == INCIDENT_ID

            # the annotated snapshot loads
            page.wait_for_function(
                "() => { const i = document.getElementById('d-snapshot'); return i.complete && i.naturalWidth > 0; }"
            )
            assert page.evaluate("document.getElementById('d-snapshot').naturalWidth") == 640

            # the H.264 clip plays: decoded data is there and the clock moves, with no media error
            page.wait_for_function(
                "() => { const v = document.getElementById('d-clip');"
                " return v.error !== null || (v.readyState >= 2 && v.currentTime > 0.2); }"
            )
            video = page.evaluate(
                "(() => { const v = document.getElementById('d-clip');"
                " return {error: v.error && v.error.code, readyState: v.readyState, t: v.currentTime,"
                " w: v.videoWidth}; })()"
            )
            assert video["error"] is None, video
            assert video["readyState"] >= 2 and video["t"] > 0.2 and video["w"] == 640, video

            # the raw snapshot on demand, with the zone overlay
            page.keyboard.press("v")
            page.wait_for_function("() => document.getElementById('d-snapshot').src.includes('snapshot_raw')")
            assert page.locator("#d-overlay polygon.zone").count() == 1
            assert page.locator("#d-overlay").is_visible()
            page.wait_for_function(
                "() => { const i = document.getElementById('d-snapshot'); return i.complete && i.naturalWidth > 0; }"
            )
            screenshot(page, tmp_path, "review-pending.png")

            # "c" confirms: the record changes, the queue shows the empty state
            page.keyboard.press("c")
            page.locator("#queue-empty").wait_for(state="visible")
            assert "暂无待审核事件" in page.locator("#queue-empty").inner_text()
            assert "No pending incidents" in page.locator("#queue-empty").inner_text()
            assert page.locator("#queue-list li").count() == 0
            assert repo.get(INCIDENT_ID).status == "confirmed"
            screenshot(page, tmp_path, "review-empty.png")

            # a new incident shows up by polling; "r" rejects it (no evidence yet: placeholders)
            repo.add(IncidentCreate.model_validate({
                "id": "inc_00000000000000b2", "type": "street_vending", "source": "cam-market-03", "zone": None,
                "started_at": 3.0, "confirmed_at": 63.0, "class": "person", "box": [10, 10, 50, 90],
                "score": 0.66, "frame_size": [640, 360],
            }))
            page.locator('#queue-list li[data-id="inc_00000000000000b2"]').wait_for()
            assert "占道经营" in page.locator("#d-type-zh").inner_text()
            assert page.locator("#d-clip-missing").is_visible()
            page.keyboard.press("r")
            page.locator("#queue-empty").wait_for(state="visible")
            assert repo.get("inc_00000000000000b2").status == "rejected"

            # the confirmed filter shows the first one again, reviewed
            page.select_option("#filter-status", "confirmed")
            page.locator(f'#queue-list li[data-id="{INCIDENT_ID}"]').wait_for()
            assert page.locator("#btn-confirm").is_disabled()

            # "All": both, newest first; j / k move the selection
            page.select_option("#filter-status", "")
            page.locator('#queue-list li[data-id="inc_00000000000000b2"]').wait_for()
            assert page.locator("#queue-list li").count() == 2
            assert page.locator("#d-id").inner_text() == "inc_00000000000000b2"
            page.keyboard.press("j")
            assert page.locator("#queue-list li.selected").get_attribute("data-id") == INCIDENT_ID
            assert page.locator("#d-id").inner_text() == INCIDENT_ID
            page.keyboard.press("k")
            assert page.locator("#d-id").inner_text() == "inc_00000000000000b2"
        finally:
            browser.close()
    assert console_errors == []
    assert (tmp_path / "review-pending.png").stat().st_size > 0
