"""Shared fixtures: a real RTSP server (GStreamer, run by the system Python) serving test MP4s."""
from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.media import encode_h264

SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
# The RTSP test media: long enough that no test reaches the end of a file.
RTSP_MEDIA = {
    "cam": dict(seconds=90, fps=25, size=(320, 240), gop=25, bframes=0),  # like a CCTV camera
    "cam_bframes": dict(seconds=90, fps=25, size=(320, 240), gop=25, bframes=2),
}

_probe_result: str | None | bool = False  # False: not probed yet; None: available; str: why not


def rtsp_server_unavailable() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None when it can (probed once)."""
    global _probe_result
    if _probe_result is not False:
        return _probe_result  # type: ignore[return-value]
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
        "missing = [e for e in ('filesrc', 'qtdemux', 'h264parse', 'rtph264pay') "
        "if Gst.ElementFactory.find(e) is None];"
        "assert not missing, 'missing GStreamer elements: ' + ', '.join(missing)"
    )
    if not os.path.exists(SYSTEM_PYTHON):
        _probe_result = f"{SYSTEM_PYTHON} not found (the RTSP test server needs the system Python)"
    else:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=60)
        _probe_result = None if done.returncode == 0 else (
            f"{SYSTEM_PYTHON} cannot run the GStreamer RTSP server (install python3-gi "
            "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base/-good/-bad): "
            + (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        )
    return _probe_result  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspServer:
    """One ``tests/rtsp_server.py`` process on 127.0.0.1; ``restart()`` keeps the port."""

    def __init__(self, mounts: dict[str, Path], port: int | None = None) -> None:
        self.mounts = dict(mounts)
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None

    def url(self, name: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{name}"

    @property
    def urls(self) -> dict[str, str]:
        return {name: self.url(name) for name in self.mounts}

    def start(self, timeout_s: float = 20.0) -> RtspServer:
        # Rebinding the port of a just-stopped server can fail briefly: retry until the deadline.
        deadline = time.monotonic() + timeout_s
        while True:
            error = self._start_once(deadline)
            if error is None:
                return self
            if time.monotonic() >= deadline:
                raise RuntimeError(f"RTSP test server did not start: {error}")
            time.sleep(0.2)

    def _start_once(self, deadline: float) -> str | None:
        args = [SYSTEM_PYTHON, str(RTSP_SERVER_SCRIPT), "--port", str(self.port)]
        for name, path in self.mounts.items():
            args += ["--mount", f"/{name}={path}"]
        # stderr to a file: a pipe nobody drains could fill up and block the server.
        errors = tempfile.TemporaryFile("w+")
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, text=True)
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
            while time.monotonic() < deadline:
                if sel.select(timeout=0.1):
                    line = proc.stdout.readline()  # type: ignore[union-attr]
                    if line.strip() == "READY":
                        self.proc = proc
                        errors.close()
                        return None
                    if not line:  # the process ended
                        break
        _stop_process(proc)
        errors.seek(0)
        message = errors.read().strip()
        errors.close()
        return message or "no READY line"

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc)
            self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down ``down_s`` seconds, start again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start()


def _stop_process(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.stdout:
        proc.stdout.close()


@pytest.fixture(scope="session")
def rtsp_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The MP4 files the RTSP server serves, one per mount name."""
    if (reason := rtsp_server_unavailable()) is not None:
        pytest.skip(reason)
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
