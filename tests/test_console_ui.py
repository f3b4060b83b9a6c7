"""The camera wall, the map (一张图) and the statistics page in a real headless Chromium with 350 cameras in the
records (`streetsight sources import` of a generated catalogue), driven with the mouse and keyboard: filter the
wall, click through from a tile and from map markers to the incident and the case. The wall's load time (page
ready with 350 tiles) is printed, never asserted. Screenshots: var/test-artifacts/console_*.png."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from api.settings import MapSettings, UiSettings

from tests.browser import PageLog, UvicornThread, chromium, needs_chromium, screenshot, sign_in_by_keyboard
from tests.conftest import free_port
from tests.console_env import ADMIN, GOOD, LOW, OPEN, PASSWORD, Console, console_app
from tests.test_sources_cli import N_CAMERAS

pytestmark = needs_chromium
NOISE = ("401", "Unauthorized", "404")  # before sign-in; thumbnails of cameras with no frame yet


class TileServer:
    """The city's GIS tile service: a real HTTP server on 127.0.0.1 answering every /tiles/z/x/y.png with a PNG."""

    def __init__(self) -> None:
        ok, png = cv2.imencode(".png", np.full((256, 256, 3), (200, 230, 210), np.uint8))
        assert ok
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png.tobytes())

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "TileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def signed_in(served: Console) -> Iterator[tuple[object, PageLog, list[str]]]:
    server = UvicornThread(served.app, free_port()).start()
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            log = PageLog(page)
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            sign_in_by_keyboard(page, server.url, ADMIN, PASSWORD)
            yield page, log, requests
    finally:
        server.stop()


@pytest.fixture()
def page_of(tmp_path: Path) -> Iterator[tuple[Console, object, PageLog, list[str]]]:
    with console_app(tmp_path) as served, signed_in(served) as (page, log, requests):
        yield served, page, log, requests


def test_the_wall_shows_350_cameras_filters_and_opens_the_last_incident(page_of, tmp_path: Path) -> None:
    served, page, log, requests = page_of
    requests.clear()
    started = time.perf_counter()
    page.click("#tab-wall")
    page.wait_for_function("n => document.querySelectorAll('#wall-grid-tiles .tile').length === n"
                           " && document.body.dataset.wallLoads === '1'", arg=N_CAMERAS)
    load_ms = (time.perf_counter() - started) * 1000
    in_page = page.evaluate("window.streetsightWall.lastLoadMs")
    print(f"\ncamera wall ready with {N_CAMERAS} tiles in {load_ms:.0f} ms (summary fetch + render {in_page:.0f} ms)")
    screenshot(page, tmp_path, "console_wall.png")

    # one summary request for all tiles; thumbnails for the tiles on screen only (no per-tile storm)
    assert sum("/api/v1/wall" in u for u in requests) == 1
    thumbs = [u for u in requests if "/snapshot?width=320" in u]
    assert 0 < len(thumbs) < N_CAMERAS / 4, len(thumbs)
    assert page.locator(".tile[data-id='cam-0000'] .placeholder").is_visible()  # 404: no frame yet
    assert page.locator("#wall-count").inner_text().startswith(f"{N_CAMERAS} / {N_CAMERAS}")

    # states with their reasons; the flag of the low-confirm-rate camera; no password on the page
    backing = page.locator(".tile[data-id='cam-0003']")
    assert "Backing off" in backing.inner_text() and "connection refused" in backing.inner_text()
    assert "pw3secret" not in page.content()
    assert "确认率低" in page.locator(f".tile[data-id='{LOW}'] .flag").inner_text()

    # filter by area with the keyboard (type-ahead on the focused select): the east band is 8 columns x 14 rows
    page.focus("#wall-area")
    page.keyboard.type("east")
    assert page.locator("#wall-count").inner_text().startswith(f"112 / {N_CAMERAS}")
    assert {page.locator(".tile:not([hidden])").nth(k).get_attribute("data-id") for k in (0, 1)} == {"cam-0017", "cam-0018"}
    page.keyboard.press("Home")  # back to the first option: all areas
    assert page.locator("#wall-count").inner_text().startswith(f"{N_CAMERAS} / {N_CAMERAS}")

    # failed cameras only (35), then type a camera id in the search box
    page.select_option("#wall-state", "failed")
    assert page.locator("#wall-count").inner_text().startswith(f"35 / {N_CAMERAS}")
    assert page.locator(".tile:not([hidden])").first.get_attribute("data-state") == "failed"
    page.select_option("#wall-state", "flagged")
    assert page.locator(".tile:not([hidden])").count() == 1
    page.select_option("#wall-state", "")
    page.click("#wall-search")
    page.keyboard.type(OPEN)
    assert page.locator(".tile:not([hidden])").count() == 1
    screenshot(page, tmp_path, "console_wall_filtered.png")

    # click through to the camera's last incident in the review view
    page.click(f".tile[data-id='{OPEN}'] a.last")
    page.wait_for_selector("#review-view:not([hidden])")
    page.wait_for_function("id => document.getElementById('d-id').textContent === id", arg=served.incidents["open"])
    assert page.locator("#wall-view").is_hidden()
    screenshot(page, tmp_path, "console_wall_clicked_incident.png")
    assert log.unexpected(*NOISE) == []


def test_the_map_plots_cameras_incidents_and_cases_and_clicks_through(page_of, tmp_path: Path) -> None:
    served, page, log, _ = page_of
    page.click("#tab-map")
    page.wait_for_selector("#map[data-ready='1']")
    assert page.locator("#map").get_attribute("data-crs") == "plain"  # no tile service configured
    assert page.locator("path.mk-camera").count() == N_CAMERAS
    assert page.locator("path.mk-incident").count() == 1
    assert page.locator("path.mk-case").count() == 3
    assert page.locator(".map-label.area", has_text="east").count() == 1  # area labels on the plain plot
    assert "350 点位 cameras" in page.locator("#map-count").inner_text()
    screenshot(page, tmp_path, "console_map.png")

    # the open incident's marker -> popup -> the review view with that incident (the other layers hidden with
    # the mouse: at this zoom cam-0002's case ring overlaps cam-0005)
    page.click("#map-show-cases")
    page.click("#map-show-cameras")
    assert page.locator("path.mk-case").count() == 0 and page.locator("path.mk-camera").count() == 0
    page.locator(f"path.mk-id-{served.incidents['open']}").click()
    page.locator(".leaflet-popup a.map-open").click()
    page.wait_for_function("id => document.getElementById('d-id').textContent === id", arg=served.incidents["open"])

    # a case marker -> the cases view with the case marked
    page.click("#tab-map")
    page.wait_for_selector("#map[data-ready='1']")
    page.click("#map-show-incidents")
    page.click("#map-show-cases")
    assert page.locator("path.mk-incident").count() == 0 and page.locator("path.mk-case").count() == 3
    case_marker = page.locator("path.mk-case").last  # drawn last: on top of the overlapping rings
    case_marker.click()
    # the case's popup (under load the incident's earlier popup may still be fading out beside it)
    popup = page.locator(".leaflet-popup", has_text="案件 Case")
    number = popup.locator("strong").inner_text().split(" · ")[1]
    screenshot(page, tmp_path, "console_map_popup.png")
    popup.locator("a.map-open").click()
    page.wait_for_selector("#cases-view:not([hidden])")
    highlighted = page.locator("#cases-body tr.highlight")
    highlighted.wait_for()
    assert number in highlighted.inner_text()
    screenshot(page, tmp_path, "console_map_clicked_case.png")
    assert log.unexpected(*NOISE) == []


def test_the_statistics_page_charts_flags_and_exports(page_of, tmp_path: Path) -> None:
    served, page, log, _ = page_of
    page.click("#tab-stats")
    page.wait_for_selector("#stats-view[data-ready]")
    assert page.locator("#stats-chart-days .uplot").count() == 1 and page.locator("#stats-chart-groups .uplot").count() == 1
    rows = page.locator("#stats-body tr")
    assert rows.count() == 3  # three types
    assert "确认率低于 50.0%" in page.locator("#stats-flags").inner_text()
    assert LOW in page.locator("#stats-flags").inner_text()

    ready = page.locator("#stats-view").get_attribute("data-ready")
    page.select_option("#stats-group", "camera,type")
    page.wait_for_function("r => document.getElementById('stats-view').dataset.ready !== r", arg=ready)
    flagged = page.locator("#stats-body tr.flagged")
    assert flagged.count() == 1 and LOW in flagged.inner_text() and "25.0%" in flagged.inner_text()
    screenshot(page, tmp_path, "console_stats.png")

    # a camera typed in the filter narrows everything to it
    ready = page.locator("#stats-view").get_attribute("data-ready")
    page.click("#stats-camera")
    page.keyboard.type(GOOD)
    page.keyboard.press("Tab")
    page.wait_for_function("r => document.getElementById('stats-view').dataset.ready !== r", arg=ready)
    assert page.locator("#stats-body tr").count() == 1 and "100.0%" in page.locator("#stats-body").inner_text()

    href = page.locator("#stats-export").get_attribute("href")
    assert "format=csv" in href and f"camera={GOOD}" in href
    csv_text = page.evaluate("href => fetch(href).then(r => r.text())", href)
    assert csv_text.splitlines()[0].startswith("camera,type,incidents") and GOOD in csv_text
    screenshot(page, tmp_path, "console_stats_camera.png")
    assert log.unexpected(*NOISE) == []


def test_the_map_draws_the_configured_city_tiles(tmp_path: Path) -> None:
    with TileServer() as tiles:
        ui = UiSettings(map=MapSettings(tile_url=f"{tiles.origin}/tiles/{{z}}/{{x}}/{{y}}.png",
                                        attribution="© 市测绘院 City survey"))
        with console_app(tmp_path, ui=ui, media_origins=(tiles.origin,)) as served, \
                signed_in(served) as (page, log, _):
            page.click("#tab-map")
            page.wait_for_selector("#map[data-ready='1']")
            assert page.locator("#map").get_attribute("data-crs") == "tiles"
            page.wait_for_selector("img.leaflet-tile-loaded")
            assert "City survey" in page.locator(".leaflet-control-attribution").inner_text()
            assert page.locator("path.mk-camera").count() == N_CAMERAS
            screenshot(page, tmp_path, "console_map_tiles.png")
            assert log.unexpected(*NOISE) == []  # the CSP let the tiles in
    z, x, y = tiles.requests[0].removeprefix("/tiles/").removesuffix(".png").split("/")
    assert int(z) >= 10 and int(x) > 0 and int(y) > 0  # zoomed onto the cameras, in web-mercator tiles
