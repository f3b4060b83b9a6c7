"""The review page shows a parking incident's plate (an uncertain read marked for checking, never hidden), the
vehicle close-up and the timed snapshots from first sighting to confirmation, and a handled case's re-check (核查)
picture, in real Chromium."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from datasets.plates import PlateSpec, plate_on_vehicle, vtest_vehicle
from tests.browser import PageLog, chromium, needs_chromium, screenshot
from tests.test_review_ui import LOGIN_NOISE, PARKED, Served, served, sign_in  # noqa: F401 - served: a fixture

pytestmark = needs_chromium

VTEST_FRAME = Path(__file__).parent / "data" / "vtest_frame100.jpg"
SURE, UNSURE = "inc_00000000000000b1", "inc_00000000000000b2"


def jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def add_parked(served: Served, incident_id: str, plate: str, confidence: float, uncertain: bool) -> None:
    shots = [{"at": 12.0 + k * 15.0, "taken_at": f"2025-05-01T08:1{k}:00+00:00", "kind": f"snapshot_{k + 1}",
              "key": f"2025/05/01/{incident_id}/snapshot_{k + 1}.jpg", "sha256": "0" * 64} for k in range(3)]
    served.add(incident_id, type="illegal_parking", source="cam-gate-01", **{"class": "car"}, score=0.9,
               started_at=12.0, confirmed_at=42.0,
               extra={"vehicle": {"plate": plate, "plate_confidence": confidence, "plate_valid": not uncertain,
                                  "plate_uncertain": uncertain, "crop": f"2025/05/01/{incident_id}/vehicle_crop.jpg"},
                      "snapshots": shots})
    crop = plate_on_vehicle(PlateSpec("鄂A5B2C8", "blue"), 32, vtest_vehicle(VTEST_FRAME), np.random.default_rng(1))
    served.attach(incident_id, "vehicle_crop", jpeg(crop), "image/jpeg", ".jpg")
    for k in range(3):
        frame = np.full((180, 320, 3), 60 + 40 * k, np.uint8)
        served.attach(incident_id, f"snapshot_{k + 1}", jpeg(frame), "image/jpeg", ".jpg")


def show(page, incident_id: str) -> None:
    """Click the incident in the queue (a real mouse click) and wait for its detail."""
    page.locator(f'#queue-list li[data-id="{incident_id}"]').click()
    page.wait_for_function(f"() => document.getElementById('d-id').textContent === '{incident_id}'")


def test_plate_close_up_and_timed_snapshots_with_uncertain_reads_marked(served: Served, tmp_path: Path) -> None:
    add_parked(served, SURE, "鄂A5B2C8", 0.97, uncertain=False)
    add_parked(served, UNSURE, "鄂A5B2G8", 0.55, uncertain=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 1000})
        log = PageLog(page)
        sign_in(page, served.url)

        # the queue rows show the plate; the uncertain one marked
        assert page.locator(f'#queue-list li[data-id="{SURE}"] .plate').inner_text() == "鄂A5B2C8"
        unsure_tag = page.locator(f'#queue-list li[data-id="{UNSURE}"] .plate')
        assert unsure_tag.inner_text() == "鄂A5B2G8 ?" and "uncertain" in unsure_tag.get_attribute("class")
        assert page.locator(f'#queue-list li[data-id="{PARKED}"] .plate').count() == 0
        show(page, SURE)
        assert page.locator("#d-plate").inner_text() == "鄂A5B2C8 (0.97)"
        assert page.locator("#d-plate-uncertain").is_hidden()
        thumbs = page.locator("#d-timed figure")
        assert thumbs.count() == 3
        page.wait_for_function("() => [...document.querySelectorAll('#d-timed img, #d-vehicle-crop')]"
                               ".every(i => i.complete && i.naturalWidth > 0)")
        captions = [thumbs.nth(k).locator("figcaption").inner_text() for k in range(3)]
        assert [c.split(" ·")[0] for c in captions] == ["1/3 +0:00.0", "2/3 +0:15.0", "3/3 +0:30.0"]
        assert page.locator("#d-vehicle-crop").is_visible()
        screenshot(page, tmp_path, "review-plate.png")

        # the uncertain read is shown, marked, with its confidence: a person checks it against the close-up
        show(page, UNSURE)
        assert page.locator("#d-plate").inner_text() == "鄂A5B2G8 (0.55)"
        assert page.locator("#d-plate-uncertain").is_visible()
        assert "uncertain" in page.locator("#d-plate").get_attribute("class")
        screenshot(page, tmp_path, "review-plate-uncertain.png")

        # the plate filter narrows the queue to plates containing the typed text (case and separators ignored)
        page.locator("#filter-plate").click()
        page.keyboard.type("a5b2-c")
        page.keyboard.press("Enter")  # the change event
        page.wait_for_function("() => document.querySelectorAll('#queue-list li[data-id]').length === 1")
        assert page.locator("#queue-list li[data-id]").get_attribute("data-id") == SURE
        page.locator("#btn-clear-filters").click()
        page.wait_for_function("() => document.querySelectorAll('#queue-list li[data-id]').length === 3")

        # an incident without a vehicle (the fixture's first) shows neither plate nor strip
        show(page, PARKED)
        assert page.locator("#d-plate-row").is_hidden() and page.locator("#d-evidence-strip").is_hidden()
        assert [e for e in log.errors if not any(n in e for n in LOGIN_NOISE)] == []


def test_the_recheck_picture_shows_in_the_detail(served: Served, tmp_path: Path) -> None:
    """A handled case's re-check stored the spot after its deadline as the incident's ``recheck_snapshot``: the
    reviewer sees it beside the other pictures (before, only the API link and the dispatch message had it)."""
    rechecked = served.add("inc_00000000000000c1", type="illegal_parking", **{"class": "car"})
    spot = np.full((180, 320, 3), 60, np.uint8)
    cv2.rectangle(spot, (200, 40), (280, 120), (250, 250, 250), -1)  # still occupied
    served.attach(rechecked, "recheck_snapshot", jpeg(spot), "image/jpeg", ".jpg")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 1000})
        log = PageLog(page)
        sign_in(page, served.url)
        show(page, rechecked)
        page.wait_for_function("() => { const i = document.getElementById('d-recheck-img');"
                               " return i.complete && i.naturalWidth === 320; }")
        assert page.locator("#d-evidence-strip").is_visible() and page.locator("#d-recheck").is_visible()
        assert "核查 Re-check" in page.locator("#d-recheck figcaption").inner_text()
        href = page.locator("#d-recheck-link").get_attribute("href")
        assert href.startswith(f"/api/v1/incidents/{rechecked}/evidence/recheck_snapshot")
        screenshot(page, tmp_path, "review-recheck.png")
        show(page, PARKED)  # no re-check, no vehicle, no timed pictures: no strip
        assert page.locator("#d-recheck").is_hidden() and page.locator("#d-evidence-strip").is_hidden()
        assert [e for e in log.errors if not any(n in e for n in LOGIN_NOISE)] == []
