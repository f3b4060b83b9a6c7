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


def test_each_role_gets_only_the_events_its_rest_routes_let_it_read(served) -> None:
    """A trainer reads incidents but not cases (403 on /api/v1/cases): it must not get case_updated, whose
    data holds the department, the reviewer's note and the location. Every event type is checked against
    the REST route that returns the same data, for every role."""
    env, base = served
    roles = ("reviewer", "admin", "trainer")
    tokens: dict[str, str] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for role in (*roles, "dispatch-callback"):
            env.auth.add_user(f"u-{role}", PASSWORD, role)
            r = client.post("/api/v1/auth/login", json={"username": f"u-{role}", "password": PASSWORD})
            tokens[role] = r.json()["access_token"]
        assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {tokens['dispatch-callback']}"},
                          ).status_code == 403

    received: dict[str, queue.Queue[tuple[str, dict]]] = {role: queue.Queue() for role in roles}
    clients = {role: httpx.Client(base_url=base, timeout=30) for role in roles}
    streams = [clients[role].stream("GET", "/api/v1/events", headers={"Authorization": f"Bearer {tokens[role]}"})
               for role in roles]
    try:
        for role, stream in zip(roles, streams):
            response = stream.__enter__()
            assert response.status_code == 200
            threading.Thread(target=read_events, args=(response, received[role]), daemon=True).start()
        deadline = time.monotonic() + 20
        while env.app.state.events.subscriber_count < len(roles) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert env.app.state.events.subscriber_count == len(roles)

        env.repo.add(incident(1))
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {tokens['admin']}"}) as admin:
            r = admin.post("/api/v1/incidents/inc_0000000000000001/review",
                           json={"decision": "confirm", "note": "vendor cart at the gate"})
            assert r.status_code == 200
        case = env.cases.get_for_incident("inc_0000000000000001")
        assert case is not None and case.description
        env.repo.mark_ended("inc_0000000000000001", 99.0)  # the last event: everything before it was delivered

        got: dict[str, list[str]] = {}
        for role in roles:
            names = []
            while True:
                name, data = next_event(received[role])
                names.append(name)
                if name == "incident_updated" and data.get("ended_at") == 99.0:
                    break
            got[role] = names
    finally:
        for stream in streams:
            stream.__exit__(None, None, None)
        for c in clients.values():
            c.close()

    assert "case_updated" not in got["trainer"], got["trainer"]
    assert got["trainer"] == ["incident", "incident_updated", "incident_updated"]
    routes = {"incident": "/api/v1/incidents/inc_0000000000000001",
              "incident_updated": "/api/v1/incidents/inc_0000000000000001",
              "case_updated": f"/api/v1/cases/{case.id}"}
    with httpx.Client(base_url=base, timeout=30) as client:
        for role in roles:
            readable = {name for name, path in routes.items()
                        if client.get(path, headers={"Authorization": f"Bearer {tokens[role]}"}).status_code == 200}
            assert set(got[role]) == readable, (role, got[role], readable)
