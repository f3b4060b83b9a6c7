"""`serve` (role all) in a thread of the test process, for tests that drive a running service over HTTP."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from streetsight.config import Config
from streetsight.server import serve
from tests.conftest import free_port


@contextmanager
def served_all(cfg: Config, admin_password: str, wait_for) -> Iterator[tuple[httpx.Client, object, threading.Thread]]:
    """Yields (a client signed in as admin, the pipeline, the pipeline's thread); stops the service on exit.
    ``wait_for(what, probe, timeout_s)`` polls (the caller's, so its bounds apply)."""
    port = free_port()
    ready: dict = {}
    started = threading.Event()

    def on_ready(server, pipeline, worker) -> None:
        ready.update(server=server, pipeline=pipeline, worker=worker)
        started.set()

    thread = threading.Thread(target=serve, args=(cfg,), kwargs=dict(host="127.0.0.1", port=port, on_ready=on_ready),
                              daemon=True)
    thread.start()
    assert started.wait(120), "serve did not start"
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    wait_for("the API", lambda: _healthy(client), 60)
    assert client.post("/api/v1/auth/login", json={"username": "admin", "password": admin_password}).status_code == 200
    try:
        yield client, ready["pipeline"], ready["worker"]
    finally:
        client.close()
        ready["server"].should_exit = True
        thread.join(timeout=60)
    assert not thread.is_alive()


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False
