"""Shared fixtures: a real RTSP server (GStreamer, run by the system Python) serving test MP4s."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.media import encode_h264
from tests.real_parts import missing_real_part

# The RTSP server lives in the package so that `streetsight bench` can use it too (names kept here).
from streetsight.bench.rtsp import (  # noqa: E402,F401
    RTSP_SERVER_SCRIPT,
    SYSTEM_PYTHON,
    RtspServer,
    free_port,
    rtsp_server_unavailable,
)

# The RTSP test media: long enough that no test reaches the end of a file.
RTSP_MEDIA = {
    "cam": dict(seconds=90, fps=25, size=(320, 240), gop=25, bframes=0),  # like a CCTV camera
    "cam_bframes": dict(seconds=90, fps=25, size=(320, 240), gop=25, bframes=2),
}


@pytest.fixture(scope="session")
def rtsp_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The MP4 files the RTSP server serves, one per mount name."""
    if (reason := rtsp_server_unavailable()) is not None:
        missing_real_part(reason)
    folder = tmp_path_factory.mktemp("rtsp_media")
    return {name: encode_h264(folder / f"{name}.mp4", **spec) for name, spec in RTSP_MEDIA.items()}


@pytest.fixture(scope="session")
def rtsp_server(rtsp_media: dict[str, Path]) -> Iterator[RtspServer]:
    """A shared RTSP server for the session: ``rtsp_server.url("cam")``. Do not stop or restart it."""
    server = RtspServer(rtsp_media).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rtsp_urls(rtsp_server: RtspServer) -> dict[str, str]:
    """Mount name -> rtsp:// URL on the shared server."""
    return rtsp_server.urls


@pytest.fixture
def rtsp_server_factory(rtsp_media: dict[str, Path]) -> Iterator[Callable[..., RtspServer]]:
    """Start private servers (e.g. to stop and restart them); all are stopped after the test."""
    started: list[RtspServer] = []

    def make(mounts: dict[str, Path] | None = None, port: int | None = None) -> RtspServer:
        server = RtspServer(mounts or rtsp_media, port)
        started.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in started:
            server.stop()


# PostgreSQL for the records tests: `postgres_server` (session) and `database_url` (sqlite | postgresql).
from tests.pg_server import database_url, postgres_server  # noqa: E402,F401
from tests.redis_server import redis_server  # noqa: E402,F401

# S3 (SeaweedFS) for the evidence tests: `s3_server` (session, shared) and `s3_server_factory` (private,
# to stop and restart); give each test its own bucket with `tests.s3_server.new_bucket_name()`.
from tests.s3_server import s3_server, s3_server_factory  # noqa: E402,F401
