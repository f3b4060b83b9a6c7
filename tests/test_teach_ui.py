"""Issue 14 items 4-5 in the browser (real Chromium, real mouse events): on the teaching page a reviewer picks a
camera, draws a box on its latest snapshot with the mouse, names the type and the label, saves; the example is a
record and the camera's classifier has it at once; the list shows it and deletes it.

For a state rule (a bin region full / not full) the reviewer marks one snapshot of each state: the per-camera
state classifier is trained from them and judges the bin region at once. The bin is rendered (no footage of
street bins exists in the reachable registries), pasted on the real vtest street."""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import supervision as sv

from api import IncidentRepository, create_app, create_engine_for, init_db, make_session_factory
from api.embeddings import encode_vector
from api.examples import ExampleStore
from api.schemas import EmbeddingIn, IncidentCreate
from detectors.bins import BinParams, BinRule
from detectors.context import FrameContext
from detectors.dwell import DwellParams, DwellRule
from streetsight.case_wiring import event_type_labels
from streetsight.config import Config
from streetsight.frame_views import LocalFrameView
from streetsight.latest_frames import LatestFrames
from streetsight.teaching import RecordExamples, model_id, mount_examples
from tests.browser import PageLog, UvicornThread, chromium, needs_chromium, screenshot
from tests.conftest import free_port
from tests.scenarios.render import bin_image
from tests.teach_scene import BICYCLE, shot_frames
from tests.test_review_ui import PASSWORD, REVIEWER, sign_in
from vision.embedding import object_crop, shared_embedder
from vision.examples import ExampleBook
from vision.zones import Zone

pytestmark = [*needs_chromium, pytest.mark.samples]
STREET = Path(__file__).parent / "data" / "vtest_frame100.jpg"
BIN_AT = (470, 300)  # top-left of the bin pasted on the street (pixels)
BIN_SIZE = (60, 84)


def street_with_bin(full: bool, seed: int, light: float) -> np.ndarray:
    street = cv2.imread(str(STREET), cv2.IMREAD_COLOR)
    x, y = BIN_AT
    w, h = BIN_SIZE
    street[y:y + h, x:x + w] = bin_image(full, seed)
    return np.clip(street.astype(np.float32) * light, 0, 255).astype(np.uint8)


def bin_region(frame: np.ndarray) -> list[float]:
    """The bin's box, normalised, a little larger than the bin (as a reviewer draws it)."""
    fh, fw = frame.shape[:2]
    x, y = BIN_AT
    w, h = BIN_SIZE
    return [(x - 4) / fw, (y - 4) / fh, (x + w + 4) / fw, (y + h + 4) / fh]


@dataclass
class Served:
    url: str
    store: ExampleStore
    book: ExampleBook
    latest: LatestFrames
    repo: IncidentRepository


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[Served]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'db' / 'streetsight.db'}")
    init_db(engine)
    repo = IncidentRepository(make_session_factory(engine))
    cameras = [{"id": "bikes", "name": "parked bicycle"}, {"id": "bins", "name": "street bin"}]
    latest = LatestFrames()
    latest.put("bikes", shot_frames()[43], sv.Detections.empty(), 0.0)
    frames = LocalFrameView(latest)
    app = create_app(repo, tmp_path / "evidence", sources_provider=lambda: cameras, run_workers=False,
                     frame_view=frames, event_types=event_type_labels(Config()))  # as `serve` wires it
    app.state.auth.add_user(REVIEWER, PASSWORD, "reviewer")
    store = ExampleStore(repo.sessions)
    book = ExampleBook()
    RecordExamples(store, book, model_id(shared_embedder())).attach(poll=False)
    mount_examples(app, store, frames, lambda source_id: source_id in ("bikes", "bins"), repo.embedding)
    server = UvicornThread(app, free_port()).start()
    yield Served(server.url, store, book, latest, repo)
    server.stop()
    engine.dispose()


def draw(page, box: list[float]) -> None:
    """Drag the mouse over the snapshot from the box's top-left to its bottom-right corner."""
    r = page.locator("#t-snapshot").bounding_box()
    x1, y1 = r["x"] + box[0] * r["width"], r["y"] + box[1] * r["height"]
    x2, y2 = r["x"] + box[2] * r["width"], r["y"] + box[3] * r["height"]
    page.mouse.move(x1, y1)
    page.mouse.down()
    for k in range(1, 6):  # a real drag passes through points on the way
        page.mouse.move(x1 + (x2 - x1) * k / 5, y1 + (y2 - y1) * k / 5)
    page.mouse.up()


def snapshot_loaded(page) -> None:
    page.wait_for_function("() => { const i = document.getElementById('t-snapshot');"
                           " return i.complete && i.naturalWidth > 0; }")


def test_a_box_drawn_with_the_mouse_becomes_the_cameras_example_and_can_be_deleted(served: Served,
                                                                                  tmp_path: Path) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        log = PageLog(page)
        sign_in(page, served.url)
        page.goto(served.url + "/teach")
        page.locator("#teach").wait_for()
        assert page.locator("#t-source").input_value() == "bikes"
        snapshot_loaded(page)
        assert page.locator("#t-empty").is_visible()
        assert page.locator("#t-save").is_disabled()  # nothing drawn yet

        page.select_option("#t-type", "non_motor_parking")
        draw(page, list(BICYCLE))
        assert page.locator("#t-box").is_visible() and page.locator("#t-save").is_enabled()
        screenshot(page, tmp_path, "teach-drawn.png")
        page.click("#t-save")
        page.locator("#t-examples li").first.wait_for()
        assert "Saved" in page.locator("#t-status").inner_text()
        screenshot(page, tmp_path, "teach-saved.png")

        stored = served.store.list("bikes")
        assert [(e.event_type, e.label, e.created_by) for e in stored] == [("non_motor_parking", "positive", REVIEWER)]
        assert np.allclose(stored[0].box, BICYCLE, atol=0.01)  # the drawn box, normalised to the snapshot
        assert served.book.camera("bikes").teaches("non_motor_parking")  # the running camera has it now
        item = page.locator("#t-examples li").first
        assert "非机动车乱停放" in item.inner_text()
        page.wait_for_function("() => document.querySelector('#t-examples li img').naturalWidth > 0")

        item.locator("button").click()
        page.locator("#t-empty").wait_for()
        assert served.store.list("bikes") == []
        assert not served.book.camera("bikes").teaches("non_motor_parking")

        page.select_option("#t-source", "bins")  # no frame yet: the page says so
        page.locator("#t-missing").wait_for()
        assert log.unexpected("404", "401") == []  # 401: the sign-in page before signing in


def test_bin_states_marked_on_snapshots_train_the_cameras_state_classifier_at_once(served: Served,
                                                                                   tmp_path: Path) -> None:
    zone_frame = street_with_bin(True, seed=1, light=1.0)
    region = bin_region(zone_frame)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        sign_in(page, served.url)
        page.goto(served.url + "/teach")
        page.locator("#teach").wait_for()
        page.select_option("#t-source", "bins")
        for full, seed, light in ((True, 1, 1.0), (False, 2, 0.8)):  # the camera at two moments
            served.latest.put("bins", street_with_bin(full, seed, light), sv.Detections.empty(), 0.0)
            page.click("#t-reload")
            snapshot_loaded(page)
            page.select_option("#t-type", "overflowing_bin")
            assert page.locator("#t-pos-text").inner_text() == "满溢 Full"
            page.check(f"input[name=label][value={'positive' if full else 'negative'}]")
            draw(page, region)
            page.click("#t-save")
            page.wait_for_function(f"() => document.querySelectorAll('#t-examples li').length === {1 if full else 2}")
        screenshot(page, tmp_path, "teach-bin-states.png")
        assert "未满 Not full" in page.locator("#t-examples").inner_text()

    camera = served.book.camera("bins")
    t0 = time.perf_counter()
    clf = camera.state_classifier("overflowing_bin")
    print(f"state classifier trained from 2 examples in {time.perf_counter() - t0:.3f} s")
    assert clf is not None

    # the camera's bin rule judges its region with it at once, on frames it was not taught with
    fh, fw = zone_frame.shape[:2]
    x1, y1, x2, y2 = region
    zone = Zone.from_points("bin", ["overflowing_bin"], [[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
    rule = BinRule(DwellRule("overflowing_bin", "bins", [zone], DwellParams(classes=None)),
                   BinParams(classes=(), occluder_classes=("person",)), {}, camera)
    judged = {}
    for full, seed, light in ((True, 11, 0.9), (False, 12, 1.1), (True, 13, 0.7), (False, 14, 1.0)):
        rule.observe(FrameContext(0.0, fw, fh, image=street_with_bin(full, seed, light)), sv.Detections.empty())
        judged[(full, seed)] = rule.last_probabilities["bin"]
    assert all((p > 0.5) == full for (full, _), p in judged.items()), judged


def test_an_incident_becomes_an_example_through_the_api_and_bad_input_names_the_field(served: Served) -> None:
    """A bin incident judged full wrongly is marked "not full" from the incident: its stored crop embedding and
    box are taken (no snapshot needed)."""
    frame = street_with_bin(False, seed=3, light=1.0)
    fh, fw = frame.shape[:2]
    x1, y1, x2, y2 = (v * s for v, s in zip(bin_region(frame), (fw, fh, fw, fh)))
    vector = shared_embedder().embed([object_crop(frame, (x1, y1, x2, y2))])[0]
    served.repo.add(IncidentCreate(
        id="inc_bin", type="overflowing_bin", source="bins", zone="bin", started_at=1.0, confirmed_at=31.0,
        class_name="bin_full", box=(x1, y1, x2, y2), score=0.7, frame_size=(fw, fh),
        embedding=EmbeddingIn(model=model_id(shared_embedder()), dim=len(vector), crop=encode_vector(vector))))
    with httpx.Client(base_url=served.url, timeout=30) as client:
        assert client.post("/api/v1/auth/login", json={"username": REVIEWER, "password": PASSWORD}).status_code == 200
        r = client.post("/api/v1/sources/bins/examples",
                        json={"event_type": "overflowing_bin", "incident_id": "inc_bin", "label": "negative"})
        assert r.status_code == 201, r.text
        assert np.allclose(r.json()["box"], bin_region(frame), atol=1e-4) and r.json()["frame_size"] == [fw, fh]
        taught = served.book.camera("bins").examples("overflowing_bin")
        assert [e.label for e in taught] == ["negative"] and float(taught[0].crop @ vector) > 0.999

        r = client.post("/api/v1/sources/bikes/examples",  # another camera's incident
                        json={"event_type": "overflowing_bin", "incident_id": "inc_bin", "label": "negative"})
        assert r.status_code == 422 and "incident_id" in r.text
        r = client.post("/api/v1/sources/bins/examples", json={"event_type": "overflowing_bin", "label": "positive"})
        assert r.status_code == 422 and "box" in r.text
        r = client.post("/api/v1/sources/bins/examples",
                        json={"event_type": "overflowing_bin", "box": [0.1, 0.1, 0.2, 1.2]})
        assert r.status_code == 422 and "box" in r.text and "0..1" in r.text
        r = client.post("/api/v1/sources/bins/examples",  # no frame from that camera yet
                        json={"event_type": "overflowing_bin", "box": [0.1, 0.1, 0.2, 0.2]})
        assert r.status_code == 404 and "no analysed frame" in r.text
        assert client.get("/api/v1/sources/bins/snapshot").status_code == 404
        served.latest.put("bins", frame, sv.Detections.empty(), 0.0)
        snap = client.get("/api/v1/sources/bins/snapshot", params={"width": 320})
        assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(snap.content, np.uint8), cv2.IMREAD_COLOR).shape[1] == 320
    with httpx.Client(base_url=served.url, timeout=30) as anonymous:
        assert anonymous.get("/api/v1/sources/bins/examples").status_code == 401
