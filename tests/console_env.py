"""A served app with 350 cameras in the records (loaded by `streetsight sources import` of a generated
catalogue), their live health as a wiring reports it, and reviewed incidents and cases: the operator console's
wall, map and statistics read all of it."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from api import IncidentCreate, IncidentRepository, create_app, create_engine_for, make_session_factory
from api.db import CaseRecord, CaseStageRecord
from api.settings import ApiSettings, HttpSettings, UiSettings
from api.source_catalog import SourceCatalog
from streetsight.cli import main
from streetsight.source_records import validate_source_body
from tests.test_sources_cli import N_CAMERAS, write_csv

ADMIN, PASSWORD = "ops.admin", "correct-horse-42"
FLOOR, MIN_REVIEWS = 0.5, 3
LOW = "cam-0001"  # its illegal_parking detections are mostly rejected: flagged
GOOD = "cam-0002"  # confirmed, one case closed
OPEN = "cam-0005"  # a pending incident, no case


COLUMNS = 25  # the cameras stand on a 25 x 14 lattice of streets, 400 m x 330 m apart


def catalogue_rows(n: int = N_CAMERAS) -> list[dict[str, str]]:
    """A platform's catalogue: areas are bands of columns, grids 5 x 3 blocks; every other camera has a password."""
    rows = []
    for i in range(n):
        row, col = divmod(i, COLUMNS)
        url = f"rtsp://admin:pw{i}secret@10.1.{i // 250}.{i % 250 + 1}:554/live" if i % 2 else f"rtsp://10.2.0.{i % 250 + 1}/live"
        rows.append({"id": f"cam-{i:04d}", "name": f"监控点 {i} 号", "url": url,
                     "lng": f"{120.10 + col * 0.004:.6f}", "lat": f"{30.20 + row * 0.003:.6f}",
                     "address": f"人民路 {i} 号", "grid": f"G-{row // 3:02d}{col // 5:02d}",
                     "area": "west" if col < 8 else "central" if col < 17 else "east"})
    return rows


def health(i: int) -> dict[str, Any]:
    """Every tenth camera from the third backs off (with a password in its error), every tenth from the
    seventh has failed; the rest stream on one of two workers."""
    h: dict[str, Any] = {"id": f"cam-{i:04d}", "state": "streaming", "decoder": "h264", "analysed_fps": 2.0,
                         "worker": ("node-a", "node-b")[i % 2], "last_error": None}
    if i % 10 == 3:
        h.update(state="backing_off", analysed_fps=0.0,
                 last_error=f"connection refused: rtsp://admin:pw{i}secret@10.1.0.{i % 250 + 1}:554/live")
    elif i % 10 == 7:
        h.update(state="failed", analysed_fps=0.0, last_error="401 Unauthorized")
    return h


@dataclass
class Console:
    app: Any
    repo: IncidentRepository
    incidents: dict[str, str]  # name -> incident id
    case_id: int


def _incident(repo: IncidentRepository, n: int, source: str, type: str, at: datetime, **extra: Any) -> str:
    incident_id = f"inc_{n:016x}"
    repo.add(IncidentCreate.model_validate({
        "id": incident_id, "type": type, "source": source, "zone": "kerb", "started_at": 1.0, "confirmed_at": 31.0,
        "class": "car", "box": [10, 10, 50, 50], "score": 0.8, "frame_size": [640, 360], "detected_wall": at,
        **extra}))
    return incident_id


@contextmanager
def console_app(tmp_path: Path, ui: UiSettings | None = None, media_origins: tuple[str, ...] = ()) -> Iterator[Console]:
    """``media_origins``: image origins the page's CSP allows besides its own (the wiring adds the tile service's)."""
    url = f"sqlite:///{tmp_path / 'console.db'}"
    catalogue = write_csv(tmp_path / "catalogue.csv", catalogue_rows())
    assert main(["sources", "import", str(catalogue), "--database-url", url]) == 0
    engine = create_engine_for(url)
    sessions = make_session_factory(engine)
    repo = IncidentRepository(sessions)
    catalog = SourceCatalog(sessions, validate_source_body)
    settings = ApiSettings(ui=ui or UiSettings(confirm_rate_floor=FLOOR, confirm_rate_min_reviews=MIN_REVIEWS),
                           http=HttpSettings(media_origins=list(media_origins)))
    app = create_app(repo, tmp_path / "evidence", sources_provider=lambda: [health(i) for i in range(N_CAMERAS)],
                     settings=settings, source_catalog=catalog, run_workers=False)
    app.state.auth.add_user(ADMIN, PASSWORD, "admin")
    app.state.events_heartbeat_s = 1.0

    now = datetime.now(timezone.utc).replace(microsecond=0)
    ids: dict[str, str] = {}
    n = 0
    # cam-0001: 4 parking detections, 1 confirmed, 3 rejected -> 25 % < 50 %: flagged
    for k, (decision, reason) in enumerate([("confirm", None), ("reject", "false_detection"),
                                            ("reject", "false_detection"), ("reject", "not_stationary")]):
        n += 1
        iid = _incident(repo, n, LOW, "illegal_parking", now - timedelta(hours=5 - k), ended_at=40.0)
        repo.review(iid, decision, reviewer=ADMIN, reason=reason)  # type: ignore[arg-type]
    # cam-0002: 3 confirmed vending detections -> 100 %
    for k in range(3):
        n += 1
        iid = _incident(repo, n, GOOD, "street_vending", now - timedelta(days=1, hours=k), ended_at=40.0)
        repo.review(iid, "confirm", reviewer=ADMIN)
        ids[f"good{k}"] = iid
    n += 1
    ids["open"] = _incident(repo, n, OPEN, "non_motor_parking", now - timedelta(minutes=10))
    with repo.sessions() as s:
        case = s.query(CaseRecord).filter(CaseRecord.incident_id == ids["good0"]).one()
        case_id = case.id
        s.add(CaseStageRecord(case_id=case.id, stage="closed", at=case.created_at + timedelta(hours=2), round=0))
        case.status = "closed"
        s.commit()
    yield Console(app, repo, ids, case_id)
    engine.dispose()
