"""Issue 16's re-check picture: at a handled case's deadline the camera's latest frame is stored as evidence
(real local evidence store), attached to the incident, and sent to dispatch with ``case.reopened``; a camera with
no recent frame gives no picture and the verdict still stands."""
from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import supervision as sv
from sqlalchemy import select

from api.case_schemas import CallbackIn
from api.db import IncidentRecord, OutboxRecord
from evidence.store import LocalEvidenceStore
from streetsight.frame_views import LocalFrameView
from streetsight.latest_frames import LatestFrames
from streetsight.recheck_snapshots import RecheckSnapshots
from tests.api_env import ApiEnv, incident
from tests.test_dispatch_lifecycle import Clock, lifecycle_settings
from tests.test_dispatch_lifecycle import _deliver_all as deliver_all


def test_the_recheck_sends_the_spot_at_the_deadline_as_stored_evidence(tmp_path: Path, database_url: str) -> None:
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    clock = Clock(t0)
    clock.freeze(t0)
    latest = LatestFrames()
    hook: dict = {}
    env = ApiEnv(tmp_path, database_url, lifecycle_settings("http://127.0.0.1:9/cases"), clock=clock,
                 recheck_snapshot=lambda *args: hook["take"](*args))
    store = LocalEvidenceStore(env.root)
    protected: list[str] = []
    hook["take"] = RecheckSnapshots(LocalFrameView(latest), store, env.repo, protect=protected.extend)
    try:
        reviewer = env.client()
        numbers = []
        for n in (1, 2):
            env.repo.add(incident(n))
            reviewer.post(f"/api/v1/incidents/inc_{n:016x}/review", json={"decision": "confirm"})
            numbers.append(env.cases.get_for_incident(f"inc_{n:016x}").number)
        deliver_all(env)

        for number in numbers:
            env.cases.apply_callback(CallbackIn(event_id=f"{number}-handled", case_number=number, status="handled"),
                                     "city-dispatch")
        deadline = t0 + timedelta(seconds=600)  # recheck_after_s
        with env.sessions() as s:  # both violations still there after the deadline
            for n in (1, 2):
                s.get(IncidentRecord, f"inc_{n:016x}").ended_wall = deadline + timedelta(minutes=5)
            s.commit()
        source = incident(1).source
        assert incident(2).source == source
        frame = np.full((360, 640, 3), 60, dtype=np.uint8)
        cv2.rectangle(frame, (400, 40), (560, 140), (250, 250, 250), -1)  # still occupied
        latest.put(source, frame, sv.Detections.empty(), 5.0, wall_time=(deadline + timedelta(seconds=3)).timestamp())

        outcomes = env.cases.recheck_due(now=deadline + timedelta(seconds=5), limit=1)  # case 1 only
        assert [o.verdict for o in outcomes] == ["reopened"]
        with env.sessions() as s:
            reopen = s.scalars(select(OutboxRecord).where(OutboxRecord.key == f"{numbers[0]}.reopen-1")).one().payload
        [sent] = reopen["recheck"]["evidence"]
        item = env.repo.evidence_item("inc_0000000000000001", "recheck_snapshot")
        stored = store.path_for(item.key).read_bytes()
        assert sent["kind"] == "recheck_snapshot" and sent["sha256"] == hashlib.sha256(stored).hexdigest() == item.sha256
        # when it was taken travels with it: the re-check may run after the deadline (here 3 s after it)
        assert datetime.fromisoformat(sent["taken_at"].replace("Z", "+00:00")) == deadline + timedelta(seconds=3)
        assert item.key.endswith(f"/{source}/inc_0000000000000001/recheck-{deadline:%Y%m%dT%H%M%S}.jpg")
        assert protected == [item.key]  # kept with the case's evidence
        picture = cv2.imdecode(np.frombuffer(stored, np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == (360, 640, 3) and picture[90, 480].mean() > 200  # the frame at the deadline
        shown = reviewer.get("/api/v1/incidents/inc_0000000000000001/evidence/recheck_snapshot")
        assert shown.status_code == 200 and shown.content == stored

        # the camera went silent long before the deadline: no picture, the verdict stands without it
        latest.put(source, frame, sv.Detections.empty(), 6.0, wall_time=(deadline - timedelta(minutes=5)).timestamp())
        assert [o.verdict for o in env.cases.recheck_due(now=deadline + timedelta(seconds=6))] == ["reopened"]
        with env.sessions() as s:
            reopen = s.scalars(select(OutboxRecord).where(OutboxRecord.key == f"{numbers[1]}.reopen-1")).one().payload
        assert reopen["recheck"]["evidence"] == []
        assert env.repo.evidence_item("inc_0000000000000002", "recheck_snapshot") is None
    finally:
        env.close()
