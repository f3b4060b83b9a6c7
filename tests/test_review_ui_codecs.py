"""An H.265 camera's incident in real headless Chromium: the evidence clip (the camera's own H.265 packets,
remuxed by evidence/clip.py) does not play in the browser, its H.264 `clip_preview` (evidence/preview.py)
does, and the page offers the original for download."""
from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np

from evidence.clip import write_clip
from evidence.preview import make_preview
from tests.browser import PageLog, chromium, needs_chromium, screenshot
from tests.test_review_ui import PARKED, Served, served, sign_in  # noqa: F401 - served is a fixture

pytestmark = needs_chromium

HEVC_INCIDENT = "inc_00000000000000c5"


def hevc_camera_clip(tmp_path: Path) -> Path:
    """What the recorder writes for an H.265 camera: its packets remuxed into MP4 without re-encoding."""
    source = tmp_path / "camera.ts"
    with av.open(str(source), "w", format="mpegts") as out:
        stream = out.add_stream("libx265", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"preset": "ultrafast", "x265-params": "keyint=25:bframes=0:log-level=error"}
        for i in range(100):
            img = np.full((360, 640, 3), 80, np.uint8)
            img[150:210, (i * 5) % 580:(i * 5) % 580 + 60] = 230
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(source)) as c:
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
        info = write_clip(packets, c.streams.video[0], tmp_path / "clip.mp4")
    assert info.codec == "hevc" and info.container.format == "mp4"
    return info.path


def video_state(page) -> dict:
    return page.evaluate("(() => { const v = document.getElementById('d-clip');"
                         " return {error: v.error && v.error.code, ready: v.readyState, w: v.videoWidth,"
                         " src: v.getAttribute('src'), kind: v.dataset.kind}; })()")


def wait_video_settled(page) -> None:
    page.wait_for_function("() => { const v = document.getElementById('d-clip');"
                           " return v.error !== null || v.readyState >= 2; }")


def test_an_h265_incident_plays_its_h264_preview_and_offers_the_original(served: Served, tmp_path: Path) -> None:
    clip = hevc_camera_clip(tmp_path)
    preview = make_preview(clip, tmp_path / "clip_preview.mp4").path
    served.add(HEVC_INCIDENT, type="illegal_parking", source="cam-gate-01", zone="no-parking-gate",
               **{"class": "truck"}, box=[100, 150, 220, 210], score=0.8, frame_size=[640, 360])
    served.attach(HEVC_INCIDENT, "clip", clip.read_bytes(), "video/mp4", ".mp4")

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 860})
        log = PageLog(page)
        sign_in(page, served.url)
        page.locator(f'#queue-list li[data-id="{HEVC_INCIDENT}"]').click()
        page.wait_for_function(f"() => document.getElementById('d-id').textContent === '{HEVC_INCIDENT}'")

        # without a preview: the H.265 clip does not play in Chromium; the page says so and offers it
        wait_video_settled(page)
        state = video_state(page)
        assert state["error"] is not None and state["kind"] == "clip", state
        assert page.locator("#d-clip-error").is_visible()
        assert page.locator("#d-clip-original").is_visible()

        # the preview arrives (the page re-reads while the manifest is missing): it plays
        served.attach(HEVC_INCIDENT, "clip_preview", preview.read_bytes(), "video/mp4", ".mp4")
        page.wait_for_function("() => document.getElementById('d-clip').dataset.kind === 'clip_preview'",
                               timeout=30_000)
        page.wait_for_function("() => { const v = document.getElementById('d-clip');"
                               " return v.error !== null || (v.readyState >= 2 && v.currentTime > 0.2); }")
        state = video_state(page)
        assert state["error"] is None and state["ready"] >= 2 and state["w"] == 640, state
        assert "/evidence/clip_preview" in state["src"]
        assert page.locator("#d-clip-error").is_hidden()
        screenshot(page, tmp_path, "review-hevc-preview.png")

        # the original stays one click away, byte for byte the evidence of record
        link = page.locator("#d-clip-original")
        assert link.is_visible() and "/evidence/clip" in link.get_attribute("href")
        assert "/evidence/clip_preview" not in link.get_attribute("href")
        with page.expect_download() as download:
            link.click()
        downloaded = Path(download.value.path()).read_bytes()
        assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(clip.read_bytes()).hexdigest()
        assert not log.unexpected("401", "Unauthorized", "Failed to load resource", "MEDIA_ERR", "DEMUXER"), log.errors


def test_an_h264_incident_plays_its_clip_without_a_download_link(served: Served) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 860})
        sign_in(page, served.url)
        page.locator(f'#queue-list li[data-id="{PARKED}"]').click()
        page.wait_for_function(f"() => document.getElementById('d-id').textContent === '{PARKED}'")
        wait_video_settled(page)
        state = video_state(page)
        assert state["error"] is None and state["kind"] == "clip", state
        assert page.locator("#d-clip-original").is_hidden()
