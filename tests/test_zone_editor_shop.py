"""Issue 13/15: the zone editor's form carries a shop-front zone's ``shop`` (门前三包), in real Chromium with real
mouse and keyboard events. A zone imported with a shop keeps it when the zone is edited and saved (the old form
dropped it); a name typed into the field is saved and shown again after a reload; an emptied field removes it
(the sign above the zone is read again)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import supervision as sv

from streetsight.case_wiring import event_type_labels
from streetsight.config import Config
from api import IncidentRepository, create_app, create_engine_for, init_db, make_session_factory
from api.source_catalog import SourceCatalog
from streetsight.frame_views import LocalFrameView
from streetsight.latest_frames import LatestFrames
from streetsight.source_records import validate_source_body
from tests.browser import PageLog, UvicornThread, chromium, needs_chromium, screenshot
from tests.conftest import free_port

pytestmark = needs_chromium
ADMIN, PASSWORD = "ops.admin", "correct-horse-42"
STREET = Path(__file__).parent / "data" / "vtest_frame100.jpg"
FRONT = [[0.1, 0.5], [0.45, 0.5], [0.45, 0.8], [0.1, 0.8]]


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, SourceCatalog]]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'db' / 'streetsight.db'}")
    init_db(engine)
    sessions = make_session_factory(engine)
    catalog = SourceCatalog(sessions, validate_source_body)
    catalog.create({"id": "shop-cam", "url": "rtsp://10.0.0.9/live", "name": "小吃街", "zones": [
        {"id": "front", "events": ["outside_shop_business"], "polygon": FRONT, "shop": "李记小吃"}]}, "import")
    latest = LatestFrames()
    latest.put("shop-cam", cv2.imread(str(STREET), cv2.IMREAD_COLOR), sv.Detections.empty(), 0.0)
    app = create_app(IncidentRepository(sessions), tmp_path / "evidence", sources_provider=lambda: [{"id": "shop-cam"}],
                     source_catalog=catalog, run_workers=False, frame_view=LocalFrameView(latest),
                     event_types=event_type_labels(Config()))  # the registry's labels, as `serve` wires them
    app.state.auth.add_user(ADMIN, PASSWORD, "admin")
    server = UvicornThread(app, free_port()).start()
    yield server.url, catalog
    server.stop()
    engine.dispose()


def open_editor(page, url: str) -> None:
    page.goto(url + "/#zones")
    page.locator("#zones-view").wait_for()
    page.wait_for_function("() => document.getElementById('ze-zone-shop') !== null"
                           " && document.getElementById('ze-zone-id').value === 'front'")


def save(page) -> None:
    page.locator("#ze-status").evaluate("el => { el.textContent = ''; }")
    page.click("#ze-save")
    page.wait_for_function("() => document.getElementById('ze-status').textContent.includes('Saved')")


def test_the_zone_form_keeps_and_saves_the_shop(served, tmp_path: Path) -> None:
    url, catalog = served
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        log = PageLog(page)
        page.goto(url + "/#zones")
        page.click("#login-username")
        page.keyboard.type(ADMIN)
        page.click("#login-password")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        open_editor(page, url)
        assert page.locator("#ze-zone-shop").input_value() == "李记小吃"

        # another event type on the zone, saved: the shop stays
        page.click("#ze-events input[value=illegal_umbrella]")
        save(page)
        [zone] = catalog.get("shop-cam")["zones"]
        assert zone["events"] == ["outside_shop_business", "illegal_umbrella"] and zone["shop"] == "李记小吃"

        # a new name, typed
        page.click("#ze-zone-shop", click_count=3)
        page.keyboard.press("Backspace")
        page.keyboard.type("张记水果店")
        save(page)
        assert catalog.get("shop-cam")["zones"][0]["shop"] == "张记水果店"
        page.reload()
        open_editor(page, url)
        assert page.locator("#ze-zone-shop").input_value() == "张记水果店"
        screenshot(page, tmp_path, "zone-editor-shop.png")

        # emptied: no shop (the shop-sign reader names it from then on)
        page.click("#ze-zone-shop", click_count=3)
        page.keyboard.press("Backspace")
        save(page)
        assert "shop" not in catalog.get("shop-cam")["zones"][0]
        assert log.unexpected("401") == []
