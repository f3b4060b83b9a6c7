"""The review page in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The real app (auth, SSE, cases) is served by uvicorn on 127.0.0.1 with a free port over a real SQLite
file, seeded with incidents whose clip is a real H.264 MP4 and whose snapshots are JPEGs. The tests
drive the page with the keyboard as a reviewer does. Screenshots go to tmp_path and
var/test-artifacts/ (see tests/browser.py).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from api import EvidenceItemIn, IncidentCreate, IncidentRepository, create_app, create_engine_for, init_db
from api import make_session_factory
from api.settings import ApiSettings, DispatchRule, DispatchSettings, SourceInfo
from streetsight.case_wiring import event_type_labels
from streetsight.config import Config
from tests.browser import PageLog, UvicornThread, chromium, needs_chromium, screenshot
from tests.conftest import free_port
from tests.media import encode_h264

pytestmark = needs_chromium

REVIEWER, PASSWORD = "li.wei", "correct-horse-42"
TRAINER = "trainer1"
PARKED = "inc_00000000000000a1"
BOX = (250, 200, 420, 290)
ZONE = [(0.3, 0.5), (0.8, 0.5), (0.8, 0.95), (0.3, 0.95)]
LABELS = {"category": "05", "category_zh": "街面秩序", "category_en": "street order", "local_code": "0502",
          "zh": "机动车乱停放", "en": "illegal parking"}
# the page's own fetches answered 401 before sign-in are expected console errors
LOGIN_NOISE = ("401", "Unauthorized")



def snapshot_jpeg(annotated: bool) -> bytes:
    """A grey street with a light "car"; no red anywhere unless annotated."""
    img = np.full((360, 640, 3), 95, np.uint8)
    img[180:, :] = 60
    cv2.rectangle(img, BOX[:2], BOX[2:], (200, 200, 200), -1)
    if annotated:
        cv2.rectangle(img, BOX[:2], BOX[2:], (0, 0, 255), 3)
        cv2.putText(img, "car 0.91", (250, 192), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


@dataclass
class Served:
    url: str
    repo: IncidentRepository
    app: object
    root: Path
    n: int = 0

    def add(self, incident_id: str | None = None, **fields) -> str:
        """A pending incident, detected a moment after the previous one (the queue is newest first)."""
        self.n += 1
        incident_id = incident_id or f"inc_{self.n:016x}"
        record = {
            "id": incident_id, "type": "street_vending", "source": "cam-market-03", "zone": "market-kerb",
            "started_at": 3.0 + self.n, "confirmed_at": 63.0 + self.n, "class": "person",
            "box": [10, 10, 50, 90], "score": 0.66, "frame_size": [640, 360],
            "detected_wall": datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc) + timedelta(minutes=self.n),
        }
        record.update(fields)
        self.repo.add(IncidentCreate.model_validate(record))
        return incident_id

    def attach(self, incident_id: str, kind: str, data: bytes, content_type: str, suffix: str) -> None:
        key = f"2025/05/01/{incident_id}/{kind}{suffix}"
        (self.root / key).parent.mkdir(parents=True, exist_ok=True)
        (self.root / key).write_bytes(data)
        self.repo.attach_evidence(incident_id, EvidenceItemIn(
            kind=kind, key=key, sha256=hashlib.sha256(data).hexdigest(), size=len(data), content_type=content_type,
        ))

    def audit_actions(self) -> list[tuple[str, str, str | None]]:
        from sqlalchemy import select

        from api.db import AuditRecord

        with self.repo.sessions() as s:
            return [(r.actor, r.action, r.incident_id) for r in s.scalars(select(AuditRecord).order_by(AuditRecord.id))]


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[Served]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'db' / 'streetsight.db'}")
    init_db(engine)
    repo = IncidentRepository(make_session_factory(engine))
    root = tmp_path / "evidence"
    settings = ApiSettings(dispatch=DispatchSettings(rules=[
        # illegal parking in the east district goes straight to dispatch; everything else waits for a person
        DispatchRule(department="东城区城管执法队", event_types=["illegal_parking"], areas=["east"]),
    ]))
    places = {
        "cam-gate-01": SourceInfo(address="东门路 12 号", grid="EG-0101", area="east", lng=116.40, lat=39.91),
        "cam-market-03": SourceInfo(address="菜市场北口", grid="WG-0307", area="west"),
    }
    app = create_app(repo, root, settings=settings, source_info=places, run_workers=False,
                     event_types=event_type_labels(Config()))  # the registry's labels, as `serve` wires them
    app.state.auth.add_user(REVIEWER, PASSWORD, "reviewer")
    app.state.auth.add_user(TRAINER, PASSWORD, "trainer")
    app.state.events_heartbeat_s = 1.0  # a closed page is noticed quickly, so the server stops quickly

    served = Served("", repo, app, root)
    served.add(
        PARKED, type="illegal_parking", source="cam-gate-01", zone="no-parking-gate", started_at=12.4,
        confirmed_at=42.4, **{"class": "car"}, box=list(BOX), score=0.91, track_id=17, zone_polygon=ZONE,
        labels=LABELS,
    )
    clip = encode_h264(tmp_path / "clip.mp4", seconds=4, fps=25, size=(640, 360), gop=25)
    served.attach(PARKED, "clip", clip.read_bytes(), "video/mp4", ".mp4")
    served.attach(PARKED, "snapshot", snapshot_jpeg(annotated=True), "image/jpeg", ".jpg")
    served.attach(PARKED, "snapshot_raw", snapshot_jpeg(annotated=False), "image/jpeg", ".jpg")

    server = UvicornThread(app, free_port()).start()
    served.url = server.url
    yield served
    server.stop()
    engine.dispose()


def sign_in(page, base: str, username: str = REVIEWER, password: str = PASSWORD) -> None:
    page.goto(base + "/")
    page.locator("#login-form").wait_for()
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.locator("#review-view").wait_for()


def wait_live(page, mode: str = "sse") -> None:
    page.wait_for_function(f"() => document.getElementById('live').dataset.mode === '{mode}'")


def picker_index(page, text: str) -> str:
    """The number key of the picker entry whose text contains ``text``."""
    items = page.locator("#picker-list li")
    for i in range(items.count()):
        if text in items.nth(i).inner_text():
            return str(i + 1)
    raise AssertionError(f"{text!r} not in the picker: {page.locator('#picker-list').inner_text()}")


def red_pixels(png: bytes, x: float, y: float, radius: int = 3) -> int:
    """Strongly red pixels of a screenshot around (x, y) in CSS pixels (device scale 1)."""
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(int)
    b, g, r = (img[int(y) - radius:int(y) + radius + 1, int(x) - radius:int(x) + radius + 1, c] for c in range(3))
    return int(((r > 180) & (g < 110) & (b < 110)).sum())


def test_sign_in_review_with_keys_overlay_and_live_updates(served: Served, tmp_path: Path) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 860})
        log = PageLog(page)

        # the page loads without a session and shows the sign-in form; a wrong password is refused
        page.goto(served.url + "/")
        page.locator("#login-form").wait_for()
        assert page.locator("#review-view").is_hidden()
        page.fill("#login-username", REVIEWER)
        page.fill("#login-password", "wrong-password")
        page.click("#login-submit")
        page.locator("#login-error").wait_for()
        assert "Wrong username or password" in page.locator("#login-error").inner_text()
        screenshot(page, tmp_path, "review-login.png")
        sign_in(page, served.url)
        assert REVIEWER in page.locator("#user").inner_text()

        # the queue lists the incident, selected, with its Chinese label and codes; the stream is live
        item = page.locator(f'#queue-list li[data-id="{PARKED}"]')
        item.wait_for()
        assert "机动车乱停放" in item.inner_text() and "cam-gate-01" in item.inner_text()
        assert page.locator("#d-id").inner_text() == PARKED
        assert "国标 05" in page.locator("#d-codes").inner_text() and "本地 0502" in page.locator("#d-codes").inner_text()
        wait_live(page)

        # the annotated snapshot loads; the clip (with its pre- and post-roll) plays
        page.wait_for_function("() => { const i = document.getElementById('d-snapshot');"
                               " return i.complete && i.naturalWidth === 640; }")
        page.wait_for_function("() => { const v = document.getElementById('d-clip');"
                               " return v.error !== null || (v.readyState >= 2 && v.currentTime > 0.2); }")
        video = page.evaluate("(() => { const v = document.getElementById('d-clip');"
                              " return {error: v.error && v.error.code, w: v.videoWidth, d: v.duration}; })()")
        assert video["error"] is None and video["w"] == 640 and video["d"] > 3.5, video

        # "v": the raw snapshot with the box and zone drawn over it, where the frame has them
        page.keyboard.press("v")
        page.wait_for_function("() => { const i = document.getElementById('d-snapshot');"
                               " return i.src.includes('snapshot_raw') && i.complete && i.naturalWidth > 0; }")
        assert page.locator("#d-overlay").is_visible()
        rect = page.locator("#d-overlay rect.box")
        assert [float(rect.get_attribute(a)) for a in ("x", "y", "width", "height")] == [250, 200, 170, 90]
        points = page.locator("#d-overlay polygon.zone").get_attribute("points")
        drawn = [float(v) for p in points.split() for v in p.split(",")]
        assert drawn == pytest.approx([v for x, y in ZONE for v in (x * 640, y * 360)])
        assert page.locator("#d-overlay text").text_content() == "car 0.91"
        # the red box is on screen where the car is in the picture (the raw JPEG has no red at all)
        img_box = page.locator("#d-snapshot").bounding_box()
        scale = img_box["width"] / 640
        shot = page.screenshot()
        left_edge = (img_box["x"] + BOX[0] * scale, img_box["y"] + (BOX[1] + BOX[3]) / 2 * scale)
        inside = (img_box["x"] + 335 * scale, img_box["y"] + 245 * scale)
        assert red_pixels(shot, *left_edge) > 0, "the box overlay is not drawn at the box's left edge"
        assert red_pixels(shot, *inside) == 0, "the overlay box is filled or misplaced"
        screenshot(page, tmp_path, "review-overlay.png")

        # a new incident arrives by server-sent events, without reload and without polling
        page.evaluate("window.__sameDocument = true")
        first_new = served.add(type="illegal_parking", source="cam-market-03", **{"class": "car"}, score=0.72)
        page.locator(f'#queue-list li[data-id="{first_new}"]').wait_for()
        assert page.evaluate("window.__sameDocument") is True
        assert page.locator("#live").get_attribute("data-mode") == "sse"

        # "r" then a number key: rejected with that reason
        page.locator(f'#queue-list li[data-id="{first_new}"]').click()
        page.keyboard.press("r")
        page.locator("#picker").wait_for()
        screenshot(page, tmp_path, "review-reject-reasons.png")
        page.keyboard.press(picker_index(page, "Not a violation"))
        page.locator(f'#queue-list li[data-id="{first_new}"]').wait_for(state="detached")
        rejected = served.repo.get(first_new)
        assert rejected.status == "rejected" and rejected.review.reason == "not_a_violation"
        assert rejected.review.reviewer == REVIEWER

        # "t" then a number key: confirmed as the corrected type
        vending = served.add(type="street_vending", source="cam-market-03")
        page.locator(f'#queue-list li[data-id="{vending}"]').wait_for()
        page.locator(f'#queue-list li[data-id="{vending}"]').click()
        page.keyboard.press("t")
        page.locator("#picker").wait_for()
        assert "占道经营" not in page.locator("#picker-list").inner_text()  # not its own type
        page.keyboard.press(picker_index(page, "非机动车乱停放"))
        page.locator(f'#queue-list li[data-id="{vending}"]').wait_for(state="detached")
        corrected = served.repo.get(vending)
        assert corrected.status == "confirmed" and corrected.review.corrected_type == "non_motor_parking"

        # Esc closes the picker without a decision
        page.keyboard.press("r")
        page.locator("#picker").wait_for()
        page.keyboard.press("Escape")
        page.locator("#picker").wait_for(state="hidden")
        assert served.repo.get(PARKED).status == "pending"

        # batch: "x" marks the current one, j moves, "x" again; Shift+C confirms both
        batch = [served.add(type="debris_spill", source="cam-market-03", **{"class": "bottle"}) for _ in range(2)]
        for incident_id in batch:
            page.locator(f'#queue-list li[data-id="{incident_id}"]').wait_for()
        page.locator(f'#queue-list li[data-id="{batch[1]}"]').click()  # newest first: batch[1] is on top
        page.keyboard.press("x")
        page.keyboard.press("j")
        assert page.locator("#queue-list li.selected").get_attribute("data-id") == batch[0]
        page.keyboard.press("x")
        assert "已选 2" in page.locator("#batch-count").inner_text()
        assert page.locator("#queue-list li.checked").count() == 2
        screenshot(page, tmp_path, "review-batch.png")
        page.keyboard.press("Shift+C")
        for incident_id in batch:
            page.locator(f'#queue-list li[data-id="{incident_id}"]').wait_for(state="detached")
        assert [served.repo.get(i).status for i in batch] == ["confirmed", "confirmed"]
        assert page.locator("#batch-count").inner_text() == ""

        # "c" confirms the parked car; the queue is empty
        page.locator(f'#queue-list li[data-id="{PARKED}"]').click()
        page.keyboard.press("c")
        page.locator("#queue-empty").wait_for(state="visible")
        assert "暂无待审核事件" in page.locator("#queue-empty").inner_text()
        assert served.repo.get(PARKED).status == "confirmed"
        screenshot(page, tmp_path, "review-empty.png")

        # the audit log names the reviewer for every decision
        reviewed = {i for actor, action, i in served.audit_actions() if actor == REVIEWER}
        assert {first_new, vending, *batch, PARKED} <= reviewed

        # "All" lists the reviewed ones; j / k move the selection; a reviewed one cannot be decided again
        page.select_option("#filter-status", "")
        page.locator(f'#queue-list li[data-id="{PARKED}"]').wait_for()
        assert page.locator("#queue-list li").count() == 5
        page.locator(f'#queue-list li[data-id="{PARKED}"]').click()
        page.keyboard.press("k")
        assert page.locator("#d-id").inner_text() == first_new
        assert page.locator("#btn-confirm").is_disabled()
        assert "Not a violation" in page.locator("#d-review").inner_text()

        # signing out returns to the form
        page.click("#btn-logout")
        page.locator("#login-form").wait_for()
        page.close()
    assert log.unexpected(*LOGIN_NOISE) == []


def test_cases_view_assigns_from_the_manual_queue(served: Served, tmp_path: Path) -> None:
    # a confirmed vending incident in the west matches no dispatch rule: it waits for manual assignment
    vending = served.add(type="street_vending", source="cam-market-03", labels={"zh": "占道经营", "en": "street vending",
                                                                                "category": "05"})
    served.repo.review(vending, "confirm", reviewer="someone")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 760})
        log = PageLog(page)
        sign_in(page, served.url)
        wait_live(page)
        page.click(".tab[data-view=cases]")
        row = page.locator("#cases-body tr")
        row.first.wait_for()
        assert row.count() == 1
        text = row.inner_text()
        assert "占道经营" in text and "菜市场北口" in text and "WG-0307" in text and "no dispatch rule" in text
        assert page.locator("#cases-count").inner_text() == "1"

        # a case created meanwhile (the parked car, east: routed by rule) does not enter the manual queue
        served.repo.review(PARKED, "confirm", reviewer="someone")
        page.wait_for_timeout(300)
        assert row.count() == 1
        screenshot(page, tmp_path, "cases-manual.png")

        page.fill("#cases-body tr input.department", "西城区市场监管所")
        page.click("#cases-body tr button.assign")
        page.locator("#cases-empty").wait_for(state="visible")
        case = served.app.state.cases.get_for_incident(vending)
        assert case.status == "queued" and case.department == "西城区市场监管所"
        assert (REVIEWER, "case.assigned", vending) in served.audit_actions()

        # all cases: both, the routed one with its department
        page.select_option("#cases-queue", "")
        page.locator("#cases-body tr").nth(1).wait_for()
        assert "东城区城管执法队" in page.locator("#cases-body").inner_text()
        assert page.locator("#cases-body button.assign").count() == 0  # neither waits for assignment now
        screenshot(page, tmp_path, "cases-all.png")
        page.close()
    assert log.unexpected(*LOGIN_NOISE) == []


def test_filters_narrow_the_queue(served: Served) -> None:
    east = PARKED  # detected 08:01 UTC, camera in the east
    west = served.add(type="street_vending", source="cam-market-03")  # 08:02, west
    bins = served.add(type="overflowing_bin", source="cam-market-03", **{"class": "bin"})  # 08:03, west
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 760})
        log = PageLog(page)
        sign_in(page, served.url)

        def expect_shown(*ids: str) -> None:
            page.wait_for_function(
                "ids => { const shown = [...document.querySelectorAll('#queue-list li')].map(li => li.dataset.id);"
                " return shown.length === ids.length && ids.every(id => shown.includes(id)); }",
                arg=list(ids),
            )

        expect_shown(east, west, bins)
        page.select_option("#filter-type", "overflowing_bin")
        expect_shown(bins)
        page.select_option("#filter-type", "")
        page.select_option("#filter-source", "cam-gate-01")
        expect_shown(east)
        page.select_option("#filter-source", "")
        page.fill("#filter-area", "west")
        page.locator("#filter-area").press("Enter")
        expect_shown(west, bins)
        assert "2 待审核" in page.locator("#count").inner_text()
        # the time range is in the reviewer's local time: [08:02, 08:03) UTC leaves only the vendor
        local = ("m => { const d = new Date(Date.UTC(2025, 4, 1, 8, m));"
                 " d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16); }")
        page.fill("#filter-since", page.evaluate(local, 2))
        expect_shown(west, bins)
        page.fill("#filter-until", page.evaluate(local, 3))
        expect_shown(west)
        page.click("#btn-clear-filters")
        expect_shown(east, west, bins)
        page.close()
    assert log.unexpected(*LOGIN_NOISE) == []


def test_stream_down_falls_back_to_polling_and_comes_back(served: Served, tmp_path: Path) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 760})
        log = PageLog(page)
        page.route("**/api/v1/events", lambda route: route.abort())  # the stream cannot be opened
        sign_in(page, served.url)
        wait_live(page, "polling")
        screenshot(page, tmp_path, "review-polling.png")
        late = served.add(type="debris_spill", source="cam-market-03", **{"class": "bottle"})
        page.locator(f'#queue-list li[data-id="{late}"]').wait_for(timeout=20000)  # by polling
        page.unroute("**/api/v1/events")
        wait_live(page, "sse")  # reconnected with backoff
        later = served.add(type="debris_spill", source="cam-market-03", **{"class": "bottle"})
        page.locator(f'#queue-list li[data-id="{later}"]').wait_for()
        page.close()
    assert log.unexpected(*LOGIN_NOISE, "ERR_FAILED") == []


def test_expired_session_returns_to_sign_in_and_roles_are_enforced(served: Served) -> None:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1366, "height": 760})
        page = context.new_page()
        log = PageLog(page)
        sign_in(page, served.url)
        page.locator(f'#queue-list li[data-id="{PARKED}"]').wait_for()
        context.clear_cookies()  # the session is gone (expired, revoked)
        page.keyboard.press("c")
        page.locator("#login-form").wait_for()
        assert "Session expired" in page.locator("#login-error").inner_text()
        assert served.repo.get(PARKED).status == "pending"

        # a trainer may read the queue but not decide: the page says so and nothing changes
        sign_in(page, served.url, TRAINER)
        page.locator(f'#queue-list li[data-id="{PARKED}"]').wait_for()
        page.keyboard.press("c")
        page.locator("#toast.error").wait_for()
        assert "may not" in page.locator("#toast").inner_text()
        assert served.repo.get(PARKED).status == "pending"
        context.close()
    assert log.unexpected(*LOGIN_NOISE, "403", "Forbidden") == []


def test_cases_view_shows_the_timeline_and_overdue_cases(served: Served, tmp_path: Path) -> None:
    from sqlalchemy import select

    from api.db import CaseRecord, CaseStageRecord
    from api.dispatch_outbox import Outbox

    served.repo.review(PARKED, "confirm", reviewer="someone")  # routed by rule, queued for dispatch
    outbox = Outbox(served.repo.sessions)
    [message] = outbox.claim(10, 30)
    outbox.mark_delivered(message, also=served.app.state.cases.delivered(message))  # delivered: dispatched
    with served.repo.sessions() as s:  # ... long ago: its deadline has passed
        record = s.get(CaseRecord, message.case_id)
        record.deadline_at = datetime.now(timezone.utc) - timedelta(hours=1)
        [stage] = s.scalars(select(CaseStageRecord).where(CaseStageRecord.case_id == record.id,
                                                          CaseStageRecord.stage == "dispatched"))
        stage.detail = {**stage.detail, "deadline_at": record.deadline_at.isoformat()}
        s.commit()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 760})
        log = PageLog(page)
        sign_in(page, served.url)
        wait_live(page)
        page.click(".tab[data-view=cases]")
        page.select_option("#cases-queue", "overdue")
        row = page.locator("#cases-body tr.overdue")
        row.first.wait_for()
        assert row.count() == 1 and "超期 Overdue" in row.inner_text()
        row.locator("details.timeline summary").click()
        stages = row.locator("details.timeline li")
        assert [stages.nth(i).get_attribute("data-stage") for i in range(stages.count())] == ["filed", "dispatched"]
        assert "东城区城管执法队" in stages.nth(1).inner_text()
        # department performance of the period: one case received, late (open past its deadline)
        stats = page.locator("#dept-stats-body tr[data-department='东城区城管执法队']")
        stats.wait_for()
        assert stats.locator("td").nth(1).inner_text() == "1" and stats.locator("td").nth(2).inner_text() == "0.0%"
        csv = page.evaluate("fetch(document.getElementById('stats-csv').href).then(r => r.text())")
        assert csv.splitlines()[1].startswith("东城区城管执法队,,1,0,0,1,0.0,")
        screenshot(page, tmp_path, "cases-overdue-timeline.png")
        page.close()
    assert log.unexpected(*LOGIN_NOISE) == []


def test_suppressed_incidents_are_listed_with_their_match_and_can_be_put_back(served: Served) -> None:
    served.repo.review(PARKED, "reject", reviewer=REVIEWER, reason="false_detection")
    again = served.add(type="illegal_parking", source="cam-gate-01", **{"class": "car"}, box=list(BOX))
    assert served.repo.suppress(again, PARKED, 0.93) is not None  # what the verifier does on a look-alike
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 760})
        log = PageLog(page)
        sign_in(page, served.url)
        page.wait_for_function("() => document.querySelectorAll('#queue-list li').length === 0")
        page.select_option("#filter-status", "suppressed")
        page.locator(f"#queue-list li[data-id='{again}']").wait_for()
        page.locator(f"#queue-list li[data-id='{again}']").click()
        page.locator("#d-suppressed").wait_for()
        assert PARKED in page.locator("#d-suppressed-text").inner_text()
        assert "Suppressed" in page.locator("#d-status").inner_text()
        page.click("#btn-unsuppress")
        page.wait_for_function("() => document.querySelectorAll('#queue-list li').length === 0")
        page.select_option("#filter-status", "pending")
        page.locator(f"#queue-list li[data-id='{again}']").wait_for()
        page.close()
    assert log.unexpected(*LOGIN_NOISE) == []
    out = served.repo.get(again)
    assert out is not None and out.status == "pending"
    assert (REVIEWER, "incident.unsuppress", again) in served.audit_actions()


def test_a_repeat_offence_shows_its_history_in_the_detail(served: Served, tmp_path: Path) -> None:
    """What streetsight/repeat_offenders.py stores on a new sighting of a closed offence
    (tests/test_repeat_offenders.py)."""
    again = served.add(type="illegal_parking", source="cam-gate-01", **{"class": "car"}, box=list(BOX))
    first_wall = datetime(2025, 4, 28, 9, 30, tzinfo=timezone.utc)
    served.repo.set_history(again, {"count": 2, "first_wall": first_wall.isoformat(),
                                    "last_wall": "2025-04-30T10:00:00+00:00", "previous": [
        {"incident_id": "inc_old_1", "case_number": "SS-20250428-000003", "case_status": "closed",
         "detected_wall": first_wall.isoformat(), "ended_wall": None, "similarity": None},
        {"incident_id": PARKED, "case_number": "SS-20250430-000001", "case_status": "verified",
         "detected_wall": "2025-04-30T10:00:00+00:00", "ended_wall": None, "similarity": 0.93}]})
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 760})
        log = PageLog(page)
        sign_in(page, served.url)
        page.locator(f"#queue-list li[data-id='{PARKED}']").click()
        assert page.locator("#d-history").is_hidden()  # a first offence says nothing
        page.locator(f"#queue-list li[data-id='{again}']").click()
        page.locator("#d-history").wait_for()
        text = page.locator("#d-history").inner_text()
        assert "Repeat offence, 2 earlier" in text
        assert text.index("SS-20250428-000003") < text.index("SS-20250430-000001")  # oldest first
        screenshot(page, tmp_path, "repeat-offence-history.png")
        page.close()
    assert log.unexpected(*LOGIN_NOISE) == []
