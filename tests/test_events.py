"""Live updates: GET /api/v1/events as server-sent events over a real uvicorn server."""
from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.api_env import PASSWORD, ApiEnv, incident
from tests.pg_server import free_port


@pytest.fixture()
def served(tmp_path: Path):
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", {"dispatch": {"rules": [{"department": "城管"}]}})
    env.app.state.events_heartbeat_s = 0.5
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(env.app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield env, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
    env.close()


def read_events(response: httpx.Response, out: "queue.Queue[tuple[str, dict]]") -> None:
    name = None
    try:
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name:
                out.put((name, json.loads(line[6:])))
            elif line.startswith(": keep-alive"):
                out.put(("keep-alive", {}))
    except httpx.HTTPError:
        pass


def next_event(events: "queue.Queue[tuple[str, dict]]", skip_keepalive: bool = True) -> tuple[str, dict]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        name, data = events.get(timeout=20)
        if name != "keep-alive" or not skip_keepalive:
            return name, data
    raise AssertionError("no event")


def test_event_stream_reports_incidents_reviews_and_cases(served) -> None:
    env, base = served
    with httpx.Client(base_url=base, timeout=30) as anon:
        assert anon.get("/api/v1/events").status_code == 401
    env.auth.add_user("wang", PASSWORD, "reviewer")
    with httpx.Client(base_url=base, timeout=30) as client:
        token = client.post("/api/v1/auth/login", json={"username": "wang", "password": PASSWORD}).json()["access_token"]
        events: queue.Queue[tuple[str, dict]] = queue.Queue()
        with client.stream("GET", "/api/v1/events", headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            reader = threading.Thread(target=read_events, args=(response, events), daemon=True)
            reader.start()
            assert next_event(events, skip_keepalive=False)[0] == "keep-alive"  # the connection is alive

            env.repo.add(incident(1))  # as the pipeline would, from another thread
            name, data = next_event(events)
            assert name == "incident" and data["id"] == "inc_0000000000000001" and data["class"] == "car"
            assert data["labels"]["zh"] == "机动车乱停放"

            # the cookie works for the UI; a review over HTTP brings the update and the new case
            r = client.post("/api/v1/incidents/inc_0000000000000001/review", json={"decision": "confirm"})
            assert r.status_code == 200
            got = {next_event(events)[0]: None for _ in range(2)}
            assert set(got) == {"incident_updated", "case_updated"}
            env.repo.mark_ended("inc_0000000000000001", 99.0)
            name, data = next_event(events)
            assert name == "incident_updated" and data["ended_at"] == 99.0
            # the clip lands after its post-roll: the page learns of it without polling
            from api.schemas import EvidenceItemIn

            env.repo.attach_evidence("inc_0000000000000001", EvidenceItemIn(
                kind="clip", key="2026/01/01/cam/inc_0000000000000001/clip.mp4", sha256="a" * 64, size=10,
                content_type="video/mp4"))
            name, data = next_event(events)
            assert name == "incident_updated" and "clip" in data["evidence"]
            case = env.cases.get_for_incident("inc_0000000000000001")
            assert case.status == "queued"
    # the client went away: the server forgets the subscriber
    deadline = time.monotonic() + 10
    while env.app.state.events.subscriber_count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert env.app.state.events.subscriber_count == 0
