"""The statistics page's candidate-model section in real Chromium: a candidate in shadow, judged by reviews,
compared per type and camera; its would-be incidents stay out of the statistics and the review queue.
Screenshot: var/test-artifacts/console_models_compare.png."""
from __future__ import annotations

from pathlib import Path

from api.schemas import IncidentCreate
from tests.browser import needs_chromium, screenshot
from tests.console_env import console_app
from tests.test_console_ui import NOISE, signed_in
from tests.test_review_ui import served  # noqa: F401 - a fixture

pytestmark = needs_chromium


CAMERA = "cam-shadow"


def _add(repo, n: int, box: list[float], status: str = "pending") -> str:
    incident = IncidentCreate.model_validate({
        "id": f"inc_5ad0{n:012x}", "type": "illegal_parking", "source": CAMERA, "zone": "road",
        "started_at": 10.0 + n, "confirmed_at": 25.0 + n, "class": "truck", "box": box, "score": 0.9,
        "frame_size": [768, 576], "extra": {"shadow": {"model": "city-yolo11"}} if status != "pending" else None})
    return repo.add(incident, status=status).id


def test_the_statistics_page_compares_the_candidate_in_shadow(tmp_path: Path) -> None:
    with console_app(tmp_path) as served, signed_in(served) as (page, log, _):
        repo = served.repo
        page.click("#tab-stats")
        page.wait_for_selector("#stats-view[data-ready]")
        before = page.locator("#stats-summary").inner_text()
        # the serving model's van, confirmed; the candidate finds it too, and a thing the reviewers then reject
        repo.review(_add(repo, 0, [440, 250, 558, 342]), "confirm", reviewer="reviewer1")
        _add(repo, 1, [442, 251, 560, 340], "shadow")
        extra = _add(repo, 2, [20, 20, 80, 80], "shadow_queue")
        assert [i.id for i in repo.list(status="pending", limit=1000) if i.source == CAMERA] == []
        repo.review(extra, "reject", reviewer="reviewer1")
        before = page.locator("#stats-summary").inner_text()  # (the confirmed van counts; shadow ones must not)
        page.select_option("#stats-group", "camera")
        page.wait_for_function("b => document.getElementById('stats-summary').innerText !== b", arg=before)
        before = page.locator("#stats-summary").inner_text()

        page.click("#compare-model")
        page.keyboard.type("city-yolo11")
        page.keyboard.press("Enter")
        page.wait_for_selector("#models-compare[data-ready='city-yolo11']")
        text = page.locator("#compare-body").inner_text()
        row = page.locator("#compare-body tr", has_text=CAMERA).inner_text().split("\t")
        # both found the van; precision serving 100%, candidate 50% (the rejected extra); recall 100% each
        assert row[1:] == [CAMERA, "1", "100.0%", "50.0%", "100.0%", "100.0%", "0"]
        assert page.locator("#compare-body tr.flagged").count() == 2 and "合计 All" in text
        assert "Worse: precision 0.500 < 1.000" in page.locator("#compare-summary").inner_text()
        screenshot(page, tmp_path, "console_models_compare.png")

        ready = page.locator("#stats-view").get_attribute("data-ready")
        page.select_option("#stats-group", "type")  # refresh: shadow incidents are not counted as incidents
        page.wait_for_function("r => document.getElementById('stats-view').dataset.ready !== r", arg=ready)
        assert page.locator("#stats-summary").inner_text() == before
        assert log.unexpected(*NOISE) == []


def test_the_zone_editor_sets_the_cameras_model_and_class_map(tmp_path: Path, monkeypatch) -> None:
    """Typed into the camera form of the zone editor, saved with the source PUT; a bad entry is refused."""
    from types import SimpleNamespace

    from api.db import create_engine_for, init_db, make_session_factory
    from api.source_catalog import SourceCatalog
    from models.registry import ENV_DIRS
    from streetsight.source_records import validate_source_body
    from tests.api_env import ApiEnv
    from tests.console_env import ADMIN, PASSWORD
    from tests.test_shadow_mode import _register

    monkeypatch.setenv(ENV_DIRS, str(tmp_path / "models" / "registry"))
    _register(tmp_path / "models", "city-model", [(10, 10, 50, 50)])
    url = f"sqlite:///{tmp_path / 'records.db'}"
    engine = create_engine_for(url)
    init_db(engine)
    catalog = SourceCatalog(make_session_factory(engine), validate_source_body)
    env = ApiEnv(tmp_path, url, source_catalog=catalog)
    env.auth.add_user(ADMIN, PASSWORD, "admin")
    catalog.create({"id": "cam-9", "url": "rtsp://10.0.0.9/h264", "zones": []}, actor="test")
    with signed_in(SimpleNamespace(app=env.app)) as (page, log, _):
        page.click("#tab-zones")
        page.wait_for_function("() => document.getElementById('ze-source')?.value === 'cam-9'")
        page.click("#ze-model")
        page.keyboard.type("no-such-model")
        page.click("#ze-class-map")
        page.keyboard.type("tricycle non_motor_parking")  # no "=": refused before it is sent
        page.click("#ze-save")
        page.wait_for_function("() => document.getElementById('ze-error').textContent.includes('class_map')")
        page.fill("#ze-class-map", "")
        page.click("#ze-class-map")
        page.keyboard.type("tricycle=non_motor_parking")
        page.click("#ze-save")  # the server refuses the unknown model, naming the field
        page.wait_for_function("() => document.getElementById('ze-error').textContent.includes('model: no registered')")
        assert "model" not in catalog.get("cam-9")
        page.fill("#ze-model", "")
        page.click("#ze-model")
        page.keyboard.type("city-model")
        page.click("#ze-save")
        page.wait_for_function("() => document.getElementById('ze-status').textContent.includes('Saved')")
        saved = catalog.get("cam-9")
        assert (saved["model"], saved["class_map"]) == ("city-model", {"tricycle": "non_motor_parking"})
        screenshot(page, tmp_path, "zone_editor_camera_model.png")
        assert log.unexpected(*NOISE, "422") == []
    env.close()
    engine.dispose()


def test_the_shadow_review_queue_is_decided_with_the_same_keys_and_makes_no_case(served) -> None:  # noqa: F811
    from datetime import datetime, timezone

    from tests.browser import PageLog, chromium
    from tests.test_review_ui import LOGIN_NOISE, REVIEWER, picker_index, sign_in

    record = {"id": "inc_5ad00000000000aa", "type": "illegal_parking", "source": "cam-gate-01", "zone": "kerb",
              "started_at": 3.0, "confirmed_at": 18.0, "class": "tricycle", "box": [10, 10, 50, 90], "score": 0.7,
              "frame_size": [640, 360], "detected_wall": datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc),
              "extra": {"shadow": {"model": "city-yolo11"}}}
    served.repo.add(IncidentCreate.model_validate(record), status="shadow_queue")
    real = {**record, "id": "inc_5ad00000000000bb", "box": [200, 100, 260, 180]}
    served.repo.add(IncidentCreate.model_validate(real), status="shadow_queue")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 760})
        log = PageLog(page)
        sign_in(page, served.url)
        item = page.locator(f"#queue-list li[data-id='{record['id']}']")
        assert item.count() == 0  # never in the review queue
        page.select_option("#filter-status", "shadow_queue")
        item.wait_for()
        assert "Shadow review" in item.inner_text()
        item.click()
        page.keyboard.press("r")
        page.locator("#picker").wait_for()
        page.keyboard.press(picker_index(page, "Not a violation"))
        item.wait_for(state="detached")
        other = page.locator(f"#queue-list li[data-id='{real['id']}']")
        other.click()
        page.keyboard.press("c")  # a real violation the serving model missed: counts for the candidate
        other.wait_for(state="detached")
        page.close()
    assert log.unexpected(*LOGIN_NOISE) == []
    out = served.repo.get(record["id"])
    assert (out.status, out.review.decision, out.review.reviewer, out.shadow_model) == (
        "shadow", "reject", REVIEWER, "city-yolo11")
    assert served.repo.get(real["id"]).review.decision == "confirm"
    assert served.app.state.cases.count_by_status() == {}  # a decided shadow incident never becomes a case
