"""Crash recovery without processes: what `resume` hands the rules from the records, the evidence it
completes, and the re-check (核查) of an incident whose end was lost to a crash."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import supervision as sv

from api.db import CaseRecord
from detectors.context import FrameContext
from api.schemas import EvidenceItemIn
from evidence.store import LocalEvidenceStore
from streetsight.config import parse_config
from streetsight.pipeline import SourceAnalysis
from streetsight.recovery import CLIP_LOST, resume
from tests.api_env import ApiEnv, incident

KERB = [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]  # the zone "gate" of tests.api_env.incident


def _analysis(cooldown_s: float = 600) -> SourceAnalysis:
    cfg = parse_config({
        "sources": [{"id": "cam-01", "url": "rtsp://127.0.0.1:9/x",
                     "zones": [{"id": "gate", "events": ["illegal_parking"], "polygon": KERB}]}],
        "rules": {"illegal_parking": {"min_dwell_s": 5, "leave_after_s": 10, "cooldown_s": cooldown_s}},
    })
    return SourceAnalysis.create(cfg.sources[0], cfg)


def _with_snapshot(env: ApiEnv, store: LocalEvidenceStore, n: int, **overrides) -> str:
    created = env.repo.add(incident(n, **overrides))
    obj = store.put_bytes(f"cam-01/{created.id}/snapshot.jpg", b"jpeg", "image/jpeg")
    env.repo.attach_evidence(created.id, EvidenceItemIn(kind="snapshot", key=obj.key, sha256=obj.sha256,
                                                        size=obj.size, content_type=obj.content_type))
    return created.id


def test_resume_continues_open_incidents_and_completes_their_evidence(tmp_path: Path) -> None:
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'r.db'}")
    store = LocalEvidenceStore(tmp_path / "evidence")
    try:
        orphan = _with_snapshot(env, store, 1)  # open, its clip lost with the process
        written = _with_snapshot(env, store, 2)  # open, its clip written but not recorded before the crash
        store.put_bytes(f"cam-01/{written}/clip.mp4", b"mp4", "video/mp4")
        gone_zone = _with_snapshot(env, store, 3, zone="removed-zone")  # no rule takes it any more
        env.repo.mark_seen(orphan, 77.0)
        analysis = _analysis()

        assert resume(env.repo, store, {"cam-01": analysis}) == 2
        assert {i.id for i in analysis.open_incidents()} == {orphan, written}
        lost = env.repo.get(orphan)
        assert lost.ended_at is None and lost.evidence_missing == {"clip": CLIP_LOST}
        assert {"snapshot", "manifest"} <= set(lost.evidence) and "clip" not in lost.evidence
        assert CLIP_LOST in store.open(env.repo.evidence_item(orphan, "manifest").key).read().decode()
        kept = env.repo.get(written)
        assert "clip" in kept.evidence and kept.evidence_missing is None
        ended = env.repo.get(gone_zone)
        assert ended.ended_reason == "interrupted" and ended.ended_at == ended.confirmed_at

        # a clip attached later (a worker's late event) clears the note
        obj = store.put_bytes(f"cam-01/{orphan}/clip.mp4", b"mp4", "video/mp4")
        env.repo.attach_evidence(orphan, EvidenceItemIn(kind="clip", key=obj.key, sha256=obj.sha256, size=obj.size,
                                                        content_type=obj.content_type))
        assert env.repo.get(orphan).evidence_missing is None
        assert not env.repo.mark_evidence_missing(orphan, "clip", CLIP_LOST)  # it exists: no note
    finally:
        env.close()


def _parked_car(analysis: SourceAnalysis, seconds: int) -> list[str]:
    """Feed ``seconds`` of a car parked on the spot of tests.api_env.incident (1 fps); the event kinds."""
    box = np.array([[40.0, 150.0, 140.0, 230.0]])
    events = []
    for t in range(seconds):
        dets = sv.Detections(xyxy=box, confidence=np.array([0.9]), tracker_id=np.array([1]),
                             data={"class_name": np.array(["car"])})
        for rule in analysis.rules:
            events += rule.observe(FrameContext(float(t), 320, 240), dets)
    return [e.kind for e in events]


def test_resume_keeps_recently_ended_spots_in_cooldown(tmp_path: Path) -> None:
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'r.db'}")
    store = LocalEvidenceStore(tmp_path / "evidence")
    try:
        ended = _with_snapshot(env, store, 1, box=[40, 150, 140, 230])
        env.repo.mark_ended(ended, 60.0)
        assert _parked_car(_analysis(), 12) == ["opened"]  # without the records: a new incident
        analysis = _analysis()
        resume(env.repo, store, {"cam-01": analysis})
        assert _parked_car(analysis, 12) == []  # ended a moment ago: its spot cools down across the restart
        old = _analysis(cooldown_s=1)
        resume(env.repo, store, {"cam-01": old})
        assert _parked_car(old, 12) == ["opened"]
    finally:
        env.close()


def _handled_case(env: ApiEnv, incident_id: str, deadline: datetime) -> str:
    env.repo.review(incident_id, "confirm", reviewer="wang")
    number = env.cases.create_for_incident(incident_id).number
    with env.sessions() as s:  # dispatch reported it handled; the deadline of the re-check is ``deadline``
        record = s.query(CaseRecord).filter_by(number=number).one()
        record.status, record.recheck_due_at = "handled", deadline
        s.commit()
    return number


def test_recheck_does_not_judge_an_end_lost_to_a_crash(tmp_path: Path) -> None:
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", {"dispatch": {"recheck_stale_s": 60}})
    store = LocalEvidenceStore(tmp_path / "evidence")
    now = datetime.now(timezone.utc)
    try:
        # last seen 10 min ago, then the process died; the restart found the spot empty now
        ids = [_with_snapshot(env, store, n) for n in (1, 2, 3)]
        for i in ids:
            env.repo.mark_seen(i, 100.0, seen_wall=now - timedelta(minutes=10))
        orphan, gone_before, seen_after = ids
        between = _handled_case(env, orphan, now - timedelta(minutes=5))
        # before the restart ends it, the orphan's last sighting is stale: the re-check waits
        assert [o.verdict for o in env.cases.recheck_due(now=now)] == ["waiting"]
        for i in ids:
            env.repo.mark_ended(i, 100.0, ended_reason="interrupted")
        before = _handled_case(env, gone_before, now + timedelta(minutes=5))
        env.repo.mark_seen(seen_after, 200.0, seen_wall=now - timedelta(minutes=2))
        after = _handled_case(env, seen_after, now - timedelta(minutes=3))

        later = now + timedelta(minutes=6)
        outcomes = {o.case_number: o.verdict for o in env.cases.recheck_due(now=later)}
        assert outcomes == {between: "not_judged", before: "verified", after: "reopened"}
        assert env.cases.get_by_number(between).status == "handled"  # left to a person, not re-opened
        assert env.cases.get_by_number(between).recheck_due_at is None  # and not judged again
        assert env.cases.recheck_due(now=later) == []
    finally:
        env.close()


def test_bus_events_carry_the_end_reason_sightings_and_missing_evidence(tmp_path: Path) -> None:
    import pytest

    from streetsight.cluster.bus_events import BadEvent, BusEvent, apply_event

    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'r.db'}")
    try:
        inc = _with_snapshot(env, LocalEvidenceStore(tmp_path / "evidence"), 1)
        seen = BusEvent.seen(inc, 50.0, "w1")
        apply_event(env.repo, BusEvent.decode(seen.encode()))
        stored = env.repo.get(inc)
        assert stored.last_seen_at == 50.0 and abs(stored.last_seen_wall.timestamp() - seen.created) < 0.01
        older = BusEvent.seen(inc, 40.0, "w1")
        apply_event(env.repo, BusEvent("incident_seen", inc, older.payload, created=seen.created - 30))
        assert env.repo.get(inc).last_seen_at == 50.0  # a late, older sighting changes nothing
        apply_event(env.repo, BusEvent.missing(inc, "clip", CLIP_LOST, "w1"))
        assert env.repo.get(inc).evidence_missing == {"clip": CLIP_LOST}
        apply_event(env.repo, BusEvent.ended(inc, 50.0, "w1", "interrupted"))
        assert env.repo.get(inc).ended_reason == "interrupted"
        apply_event(env.repo, BusEvent.seen(inc, 60.0, "w1"))  # applied after the end: ignored
        assert env.repo.get(inc).last_seen_at == 50.0
        with pytest.raises(BadEvent):
            apply_event(env.repo, BusEvent.ended(inc, 50.0, "w1", "Robert'); DROP TABLE"))
    finally:
        env.close()


def _enforcement_analysis() -> SourceAnalysis:
    cfg = parse_config({
        "sources": [{"id": "cam-01", "kind": "enforcement", "url": "rtsp://127.0.0.1:9/x",
                     "zones": [{"id": "gate", "events": ["illegal_parking"], "polygon": KERB}]}],
    })
    return SourceAnalysis.create(cfg.sources[0], cfg)


def test_a_moving_cameras_open_incident_is_joined_by_the_objects_new_track_after_a_restart(tmp_path: Path) -> None:
    """The tracker's ids do not survive a restart: the parked van comes back as a new track. The stored incident
    keeps where it was found, so the merger joins the new track to it instead of opening the van twice."""
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'r.db'}")
    store = LocalEvidenceStore(tmp_path / "evidence")
    found_at = {"lng": 120.0, "lat": 30.0, "timestamp": 1796000400.0}
    try:
        van = _with_snapshot(env, store, 1, extra={"devices": ["cam-01"], "position": found_at})
        analysis = _enforcement_analysis()
        assert resume(env.repo, store, {"cam-01": analysis}) == 1
        box = np.array([[40.0, 150.0, 140.0, 230.0]])
        kinds = []
        for k in range(6):  # the device walked on ~10 m; the van is a new track (id 99)
            dets = sv.Detections(xyxy=box, confidence=np.array([0.9]), tracker_id=np.array([99]),
                                 data={"class_name": np.array(["car"])})
            position = {"lng": 120.0001, "lat": 30.0, "timestamp": 1796000460.0 + k}
            for rule in analysis.rules:
                kinds += [e.kind for e in rule.observe(FrameContext(60.0 + k, 320, 240, position=position), dets)]
        assert kinds == []
        assert [i.id for i in analysis.open_incidents()] == [van]
        assert analysis.open_incidents()[0].last_seen_at == 65.0
    finally:
        env.close()
