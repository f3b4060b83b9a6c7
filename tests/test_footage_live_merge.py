"""Issue 18: "cross-device merging with live sightings of the same place and time", when the footage is analysed
hours later (as it is: devices upload when docked). The live merger holds a finding only while live frames come
within ``merge_window_s`` of it, so it had forgotten the live sighting by then and the same parked van was
recorded twice, live and from the recording. A job now merges with the records (streetsight/footage/merging.py).

Real parts: OpenCV's vtest recording (the van at the kerb) analysed by the job runner with NanoDet, records in
SQLite; the live incident is stored as a live enforcement device's would be."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from api.repository import IncidentRepository
from api.schemas import IncidentCreate
from tests.footage_helpers import KERB, runner_parts
from tests.media import first_seconds

pytestmark = pytest.mark.samples

START = datetime(2026, 11, 30, 1, 0, 0, tzinfo=timezone.utc)
LNG, LAT = 120.1551, 30.2741  # where the device stood while recording
ZONE = {"id": "kerb", "events": ["illegal_parking"], "polygon": KERB}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datasets.samples import fetch_samples

    vtest = fetch_samples(Path("var/samples"), bikes=False)["vtest.mp4"]
    return first_seconds(vtest, tmp_path_factory.mktemp("rec") / "patrol.mp4", 20)


@pytest.fixture
def parts(tmp_path: Path):
    sources = [{"id": "bodycam-1", "kind": "enforcement", "url": "rtsp://127.0.0.1:9/a", "analysis_fps": 2,
                "zones": [ZONE]},
               {"id": "bodycam-2", "kind": "enforcement", "url": "rtsp://127.0.0.1:9/b", "zones": [ZONE]}]
    with runner_parts(tmp_path, sources) as p:
        yield p.jobs, p.intake, p.runner, p.repository


def live_incident(repository: IncidentRepository, *, metres_east: float = 0.0, hours_before: float = 0.0,
                  incident_id: str = "inc_live000000000001") -> str:
    """What a live enforcement device (bodycam-2, streaming) recorded of a vehicle at the kerb: found 5 s into
    the recording's time, seen for the next minute."""
    found = START + timedelta(seconds=5) - timedelta(hours=hours_before)
    lng = LNG + metres_east / (111_320 * 0.8645)  # cos(30.27°)
    out = repository.add(IncidentCreate.model_validate({
        "id": incident_id, "type": "illegal_parking", "source": "bodycam-2", "zone": "kerb",
        "started_at": 100.0, "confirmed_at": 103.0, "detected_wall": found, "class": "truck",
        "box": [650, 20, 740, 110], "score": 0.6, "frame_size": [768, 576], "labels": {},
        "extra": {"position": {"lng": lng, "lat": LAT, "timestamp": found.timestamp()}, "devices": ["bodycam-2"]}}))
    repository.mark_seen(out.id, 163.0, found + timedelta(seconds=60))
    repository.mark_ended(out.id, 163.0)
    return out.id


def submit(intake, recording: Path, job_id: str, device: str) -> None:
    """The recording uploaded from ``device`` with its track: the device stood at (LNG, LAT) throughout."""
    track = "time,lng,lat\n" + "\n".join(f"{(START + timedelta(seconds=s)).isoformat()},{LNG},{LAT}"
                                         for s in range(0, 21, 2))
    upload = intake.uploads_dir / job_id
    upload.write_bytes(recording.read_bytes())
    intake.accept(upload, job_id=job_id, filename="patrol.mp4", source_id=device,
                  started_at=START.isoformat(), track_id=intake.stage_track("t.csv", track.encode()).track_id,
                  actor="dock-7")


def run_recording(parts, recording: Path, job_id: str = "job-1", device: str = "bodycam-1") -> list:
    jobs, intake, runner, repository = parts
    submit(intake, recording, job_id, device)
    runner.run_job(jobs.claim_next())
    assert jobs.get(job_id).status == "done", jobs.get(job_id).error
    return [i for i in repository.list(limit=100) if i.footage_job == job_id]


def test_without_a_live_sighting_the_recording_reports_the_van(parts, recording) -> None:
    found = run_recording(parts, recording)
    assert [(i.type, i.zone) for i in found] == [("illegal_parking", "kerb")]


def test_the_van_seen_live_hours_before_the_upload_is_not_recorded_again_from_the_footage(parts, recording) -> None:
    live = live_incident(parts[3])
    assert run_recording(parts, recording) == []
    assert [i.id for i in parts[3].list(limit=100)] == [live]  # one incident: the live one


@pytest.mark.parametrize("where", [{"metres_east": 200.0}, {"hours_before": 3.0}])
def test_a_live_sighting_elsewhere_or_at_another_time_does_not_swallow_the_recordings_van(parts, recording,
                                                                                           where) -> None:
    live_incident(parts[3], **where)
    found = run_recording(parts, recording)
    assert [(i.type, i.zone) for i in found] == [("illegal_parking", "kerb")]


def test_two_devices_recordings_of_the_same_van_at_the_same_time_are_one_incident(parts, recording) -> None:
    """The second device's recording is uploaded after the first's job ended: it joins the first's incident (the
    first one's sightings are held at the recording's time, not at when its job ran)."""
    first = run_recording(parts, recording, "job-1", "bodycam-1")
    assert len(first) == 1
    assert run_recording(parts, recording, "job-2", "bodycam-2") == []


def test_in_a_cluster_the_api_sends_the_recorded_incidents_with_the_job_and_the_worker_merges_with_them(
        parts, recording, redis_server) -> None:
    """A worker reads no records: the API's `FootageJobBoard` attaches the incidents of the recording's time to
    the job it publishes (real Redis); the worker's `JobState` hands them to its runner, which then records
    nothing for the van seen live. (The runner here writes to the records as a worker's bus publisher would.)"""
    import json

    from redis import Redis

    from streetsight.cluster.footage import FootageJobBoard, JobState
    from streetsight.config import ClusterConfig
    from streetsight.footage.runner import FootageRunner

    jobs, intake, runner, repository = parts
    live = live_incident(repository)
    live_incident(repository, hours_before=30.0, incident_id="inc_live000000000002")  # another day: not sent
    client = Redis.from_url(redis_server.url)
    cluster = ClusterConfig(redis_url=redis_server.url)
    board = FootageJobBoard(client, cluster, jobs, runner.positions, 2.0, repository=repository)
    submit(intake, recording, "job-c", "bodycam-1")
    board.publish(jobs.get("job-c"))
    entry = json.loads(client.hget(cluster.key("footage", "jobs"), "job-c"))
    assert [i["id"] for i in entry["recorded_near"]] == [live]

    job = jobs.claim_next()
    state = JobState(client, cluster, job, sink=repository, recorded=entry["recorded_near"])
    worker = FootageRunner(runner.cfg, state, runner.catalog, repository, runner.store, runner.detector,
                           incidents=state)  # type: ignore[arg-type]
    worker.run_job(job)
    assert (state.job.status, state.job.frames_analysed) == ("done", 40)  # 20 s at analysis_fps 2
    assert sorted(i.id for i in repository.list(limit=100)) == sorted([live, "inc_live000000000002"])
