"""Start, pause and stop the GStreamer RTSP server (``rtsp_server.py``) from the venv's Python.

The server script runs under Debian's ``/usr/bin/python3`` (it needs ``gi``, which the venv lacks).
Used by the tests' fixtures and by ``streetsight bench``; nothing here is needed for serving.
"""
from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
REQUIRED_ELEMENTS = ("filesrc", "qtdemux", "h264parse", "rtph264pay")

_probe_result: str | None | bool = False  # False: not probed yet; None: available; str: why not


def rtsp_server_unavailable() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None when it can (probed once)."""
    global _probe_result
    if _probe_result is not False:
        return _probe_result  # type: ignore[return-value]
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
        f"missing = [e for e in {REQUIRED_ELEMENTS!r} if Gst.ElementFactory.find(e) is None];"
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
    """One ``rtsp_server.py`` process on 127.0.0.1 serving ``mounts`` (name -> MP4); ``restart()`` keeps the port."""

    def __init__(self, mounts: dict[str, Path], port: int | None = None) -> None:
        self.mounts = dict(mounts)
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None

    def url(self, name: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{name}"

    @property
    def urls(self) -> dict[str, str]:
        return {name: self.url(name) for name in self.mounts}

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

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
        stop_process(proc)
        errors.seek(0)
        message = errors.read().strip()
        errors.close()
        return message or "no READY line"

    def stop(self) -> None:
        if self.proc is not None:
            self.resume()  # a stopped (SIGSTOP) process would not handle SIGTERM
            stop_process(self.proc)
            self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down ``down_s`` seconds, start again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing is sent or answered."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def __enter__(self) -> RtspServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process(proc: subprocess.Popen, timeout_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout_s``; closes the stdout pipe."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.stdout:
        proc.stdout.close()
