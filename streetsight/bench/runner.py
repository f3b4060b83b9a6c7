"""A benchmark side in its own process: start it, wait until it is ready, mark windows, read its CPU time.

Both sides (``pipeline_runner`` and ``baseline_ultralytics``) speak the same small protocol on
stdin/stdout (``READY``; ``mark`` -> ``MARK {json}``; ``stop`` -> ``DONE {json}``). CPU time is read by
this process from the OS for the runner's whole process tree (user + system, live descendants and the
children it has reaped), so both sides are measured the same way whatever they do inside.
"""
from __future__ import annotations

import json
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psutil


class RunnerFailed(RuntimeError):
    pass


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, its live descendants, and the children they reaped."""
    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def tree_rss_bytes(pid: int) -> int:
    root = psutil.Process(pid)
    total = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


class RunnerProcess:
    def __init__(self, name: str, args: Sequence[str], env: dict[str, str] | None = None,
                 cwd: str | Path | None = None) -> None:
        self.name = name
        self._stderr = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, env=env, cwd=cwd, bufsize=1)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def stderr_tail(self, chars: int = 3000) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-chars:]

    def wait_for(self, prefix: str, timeout_s: float) -> str:
        """The rest of the next stdout line starting with ``prefix``; a DONE line or the process ending
        first is a failure (with the process's last error output)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunnerFailed(f"{self.name}: no {prefix!r} within {timeout_s:.0f} s; stderr: {self.stderr_tail()}")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RunnerFailed(f"{self.name} exited ({self.proc.wait()}): {self.stderr_tail()}")
            if line.startswith(prefix):
                return line[len(prefix):].strip()
            if line.startswith("DONE") and prefix != "DONE":
                raise RunnerFailed(f"{self.name} stopped early: {line}; stderr: {self.stderr_tail()}")

    def _send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def mark(self) -> tuple[dict, float]:
        """Counts at this moment and the process tree's CPU seconds."""
        cpu = tree_cpu_seconds(self.proc.pid)
        self._send("mark")
        return json.loads(self.wait_for("MARK ", 60)), cpu

    def rss_bytes(self) -> int:
        return tree_rss_bytes(self.proc.pid)

    def stop(self, timeout_s: float = 60) -> dict:
        try:
            self._send("stop")
            return json.loads(self.wait_for("DONE ", timeout_s))
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
        self._stderr.close()
