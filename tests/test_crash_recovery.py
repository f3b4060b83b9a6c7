"""Crash recovery with real processes (issue 12): `serve` is killed with SIGKILL mid-incident and restarted
over the same street, stopped with SIGTERM and restarted, killed again and restarted over a street where the
van has gone. Nothing stays pending without an end or a reason, no spot gets a second incident, and the
re-check (核查) of a handled case does not re-open it on an end the crash made unknowable."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from api import IncidentRepository, create_engine_for, make_session_factory
from api.cases import CaseService
from api.db import AuditRecord, CaseRecord
from streetsight.recovery import CLIP_LOST
from streetsight.cli import main as cli
from tests.cluster_procs import ApiClient, ServeProcess, write_config
from tests.conftest import RtspServer, free_port, rtsp_server_unavailable
from tests.media import encode_h264
from tests.real_parts import missing_real_part

pytestmark = [pytest.mark.rtsp, pytest.mark.samples]

KERB = [[0.82, 0.05], [0.97, 0.05], [0.97, 0.20], [0.82, 0.20]]  # where the van in vtest stands
FPS = 2
DWELL_S = 4
LEAVE_S = 5


def wait_for(what: str, predicate, timeout_s: float, proc: ServeProcess, interval_s: float = 0.5):
    """Poll ``predicate`` until it returns something truthy; a generous bound, not a speed goal."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        assert proc.alive, f"{proc.name} died:\n{proc.log_tail()}"
        try:
            last = predicate()
        except Exception as exc:  # noqa: BLE001 - a restarting server answers with errors for a while
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{proc.log_tail(4000)}")


@pytest.fixture
def streets(tmp_path: Path):
    """The street with the parked van (vtest) and the same street empty (no vehicle at all)."""
    if (reason := rtsp_server_unavailable()) is not None:
        missing_real_part(reason)
    from datasets.samples import fetch_samples

    vtest = fetch_samples(Path("var/samples"), bikes=False)["vtest.mp4"]
    empty = encode_h264(tmp_path / "empty.mp4", seconds=90, fps=10, size=(320, 240), gop=20)
    server = RtspServer({"street": vtest, "empty": empty}).start()
    try:
        yield server
    finally:
        server.stop()


def _config(path: Path, url: str, data_dir: Path, port: int, **more) -> Path:
    return write_config(path, {
        "sources": [{"id": "street-cam", "url": url, "analysis_fps": FPS,
                     "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB}]}],
        "rules": {"illegal_parking": {"min_dwell_s": DWELL_S, "leave_after_s": LEAVE_S}},
        # a post-roll longer than the process lives: the clip is still pending when it is killed
        "evidence": {"pre_roll_s": 2, "post_roll_s": 120, "buffer_s": 130},
        "model": {"threads": 1},
        "streams": {"open_timeout_s": 3, "read_timeout_s": 3, "backoff_initial_s": 0.3, "backoff_max_s": 2},
        "storage": {"data_dir": str(data_dir)},
        "api": {"port": port},
        "dispatch": {"recheck_poll_s": 1, "recheck_stale_s": 1},
        **more,
    })


def _analysed_past_the_dwell(client: ApiClient):
    """True once the run has analysed more than a dwell time plus the grace of the street."""
    sources = client.sources()
    return sources and sources[0]["frames_analysed"] >= (DWELL_S + LEAVE_S + 3) * FPS


def test_serve_killed_mid_incident_continues_it_and_never_reopens_a_handled_case(tmp_path, streets):
    port = free_port()
    data = tmp_path / "data"
    street = _config(tmp_path / "street.yaml", streets.url("street"), data, port)
    logs = tmp_path / "logs"
    logs.mkdir()
    runs: list[ServeProcess] = []

    def start(config: Path) -> tuple[ServeProcess, ApiClient]:
        proc = ServeProcess(f"serve{len(runs) + 1}", config, [], logs).start()
        runs.append(proc)
        return proc, ApiClient(port).wait_ready(proc, timeout_s=90)

    try:
        # 1. the van is judged parked; the process dies (SIGKILL) before the clip's post-roll
        proc, client = start(street)
        (van,) = wait_for("the van's incident", client.incidents, 120, proc)
        assert van["ended_at"] is None and "clip" not in van["evidence"]
        wait_for("a sighting recorded", lambda: client.incidents()[0]["last_seen_wall"], 30, proc)
        proc.kill()
        client.close()

        # 2. restarted over the same street: the same incident goes on, no second one for the van
        proc, client = start(street)
        wait_for("the restart analysing past a dwell time", lambda: _analysed_past_the_dwell(client), 90, proc)
        (same,) = client.incidents()
        assert same["id"] == van["id"] and same["ended_at"] is None and same["ended_reason"] is None
        assert same["evidence_missing"] == {"clip": CLIP_LOST}  # never pending without a reason
        assert "manifest" in same["evidence"] and "clip" not in same["evidence"]
        assert same["last_seen_wall"] > van["detected_wall"]  # the restart keeps seeing it
        # its age keeps the wall time: its clock went on past the new stream's (which restarted at 0)
        assert same["last_seen_at"] > van["confirmed_at"]

        # 3. a clean stop (SIGTERM) and a restart: still the one incident, still open
        assert proc.stop() == 0, proc.log_tail()
        client.close()
        proc, client = start(street)
        wait_for("the clean restart analysing past a dwell time", lambda: _analysed_past_the_dwell(client), 90, proc)
        (same,) = client.incidents()
        assert same["id"] == van["id"] and same["ended_at"] is None
        proc.kill()
        client.close()
        killed = datetime.now(timezone.utc)

        # 4. while it is down: the incident is confirmed and dispatch reports the case handled
        engine = create_engine_for(f"sqlite:///{data / 'streetsight.db'}")
        sessions = make_session_factory(engine)
        IncidentRepository(sessions).review(van["id"], "confirm", reviewer="wang")
        cases = CaseService(sessions)
        number = cases.create_for_incident(van["id"]).number
        time.sleep(2.0)  # the last sighting is older than recheck_stale_s at the deadline
        with sessions() as s:
            record = s.scalars(select(CaseRecord).where(CaseRecord.number == number)).one()
            record.status, record.recheck_due_at = "handled", datetime.now(timezone.utc)
            s.commit()

        # 5. restarted over the street where the van has gone: it ended while nobody watched. The cameras are
        # records after the first start, so the operator points the camera at the empty street with the CLI.
        empty = _config(tmp_path / "empty.yaml", streets.url("empty"), data, port)
        assert cli(["sources", "import", str(empty), "--config", str(empty)]) == 0
        proc, client = start(empty)

        def interrupted():
            (inc,) = client.incidents()
            return inc if inc["ended_reason"] == "interrupted" else None

        ended = wait_for("the van's incident ended as interrupted", interrupted, 90, proc)
        assert ended["id"] == van["id"] and ended["ended_at"] is not None
        assert ended["evidence_missing"] == {"clip": CLIP_LOST}
        wait_for("the re-check of the handled case", lambda: cases.get_by_number(number).recheck_due_at is None,
                 30, proc)
        case = cases.get_by_number(number)
        assert case.status == "handled" and case.reopen_count == 0, case  # not re-opened, not sent again
        with sessions() as s:
            actions = list(s.scalars(select(AuditRecord.action).where(AuditRecord.case_id == case.id)))
        assert "case.recheck_skipped" in actions and "case.reopened" not in actions
        assert [i["id"] for i in client.incidents()] == [van["id"]]
        print(f"\nkill -9 -> restart: incident {van['id']} continued; SIGTERM -> restart: continued; "
              f"kill -9 -> empty street: ended interrupted {ended['ended_wall']} (killed {killed.isoformat()})")
        engine.dispose()
    finally:
        for p in runs:
            p.stop()


def test_cluster_worker_killed_mid_incident_continues_it_or_ends_it_interrupted(tmp_path, streets, redis_server):
    port = free_port()
    data = tmp_path / "data"
    cluster = {"cluster": {"redis_url": redis_server.url, "lease_s": 3, "heartbeat_s": 1, "claim_idle_s": 5}}
    street = _config(tmp_path / "street.yaml", streets.url("street"), data, port, **cluster)
    empty = _config(tmp_path / "empty.yaml", streets.url("empty"), data, port, **cluster)
    logs = tmp_path / "logs"
    logs.mkdir()
    api = ServeProcess("api", street, ["--role", "api"], logs).start()
    workers: list[ServeProcess] = []

    def worker(config: Path) -> ServeProcess:
        proc = ServeProcess(f"w1-run{len(workers) + 1}", config, ["--role", "worker", "--worker-id", "w1"], logs)
        workers.append(proc.start())
        return proc

    try:
        client = ApiClient(port).wait_ready(api, timeout_s=90)
        w = worker(street)
        (van,) = wait_for("the van's incident", client.incidents, 120, w)
        w.kill()  # before the clip's post-roll

        # the same worker id back over the same street: the van's incident goes on, not a second one
        w = worker(street)
        wait_for("the restarted worker streaming", lambda: client.sources()[0]["worker"] == "w1"
                 and client.sources()[0]["state"] == "streaming", 60, w)
        start_frames = client.sources()[0]["frames_analysed"]
        wait_for("the restart analysing past a dwell time", lambda: client.sources()[0]["frames_analysed"]
                 >= start_frames + (DWELL_S + LEAVE_S + 3) * FPS, 90, w)
        (same,) = client.incidents()
        assert same["id"] == van["id"] and same["ended_at"] is None
        assert same["evidence_missing"] == {"clip": CLIP_LOST}
        w.kill()

        # back over the street where the van has gone: the incident ends interrupted, nothing new opens. The
        # camera is a record: while the worker is down the operator points it at the empty street (API PUT).
        body = client.http.get("/api/v1/sources/street-cam").json()
        body["url"] = streets.url("empty")
        r = client.http.put("/api/v1/sources/street-cam", json=body)
        assert r.status_code == 200, r.text
        w = worker(empty)

        def interrupted():
            (inc,) = client.incidents()
            return inc if inc["ended_reason"] == "interrupted" else None

        ended = wait_for("the van's incident ended as interrupted", interrupted, 90, w)
        assert ended["id"] == van["id"] and ended["evidence_missing"] == {"clip": CLIP_LOST}
    finally:
        for p in [*workers, api]:
            p.stop()
