"""The API's HTTP server as `serve` starts it (`streetsight.server._run_http`, uvicorn) on 127.0.0.1: slow-loris
clients that send their request head a byte at a time are cut off at the header-read timeout while normal
clients are served, and an oversized chunked upload is refused over a real socket. Bounded: at most 200
connections, each stopping by itself."""
from __future__ import annotations

import selectors
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from streetsight.server import _run_http
from tests.api_env import ApiEnv
from tests.pg_server import free_port

HEAD_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 3.0
SLOW_FOR_S = 40.0  # a slow client keeps sending this long unless it is cut off first: 20x the timeout


@pytest.fixture()
def served(tmp_path: Path):
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'x.db'}",
                 {"http": {"header_read_timeout_s": HEAD_TIMEOUT_S, "max_body_bytes": 64 * 1024,
                           "body_read_timeout_s": BODY_TIMEOUT_S, "max_header_bytes": 4096}})
    port = free_port()
    servers: list = []
    thread = threading.Thread(target=_run_http, args=(env.app, "127.0.0.1", port, servers.append, lambda: None),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (servers and servers[0].started) and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert servers and servers[0].started
    yield port
    servers[0].should_exit = True
    thread.join(timeout=15)
    env.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def slow_loris(port: int, connections: int) -> tuple[int, float]:
    """Open ``connections``, each sending a request head one header line per 0.5 s for up to SLOW_FOR_S.
    Returns how many the server closed, and after how long the last of those was closed."""
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(connections)]
    for s in sockets:
        s.setblocking(False)  # a few bytes at a time: never blocks on sending; reading only asks "closed?"
    start = time.monotonic()
    open_ = set(range(connections))
    last_closed = 0.0
    try:
        for s in sockets:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        n = 0
        while open_ and time.monotonic() - start < SLOW_FOR_S:
            time.sleep(0.5)
            n += 1
            for i in list(open_):
                try:
                    if _closed_by_peer(sockets[i]):
                        raise ConnectionResetError
                    sockets[i].sendall(b"X-Slow-%d: 1\r\n" % n)
                except (ConnectionResetError, BrokenPipeError):
                    open_.discard(i)
                    last_closed = time.monotonic() - start
    finally:
        for s in sockets:
            s.close()
    return connections - len(open_), last_closed


def test_a_slow_loris_is_cut_off_at_the_header_read_timeout(served: int) -> None:
    closed, after_s = slow_loris(served, 1)
    assert closed == 1, f"a client sending its head slowly was still connected after {SLOW_FOR_S} s"
    print(f"slow client cut off after {after_s:.1f} s (header_read_timeout_s={HEAD_TIMEOUT_S})")


def test_many_slow_clients_are_cut_while_normal_clients_are_served(served: int) -> None:
    results: dict[str, tuple[int, float]] = {}
    attack = threading.Thread(target=lambda: results.update(loris=slow_loris(served, 200)))
    attack.start()
    try:
        time.sleep(1.0)  # the slow heads are in flight now
        with httpx.Client(base_url=f"http://127.0.0.1:{served}", timeout=10) as client:
            for _ in range(3):  # keep-alive: one connection, requests a second apart (within the timeouts)
                assert client.get("/healthz").status_code == 200
                time.sleep(1.0)
    finally:
        attack.join(timeout=SLOW_FOR_S + 30)
    closed, after_s = results["loris"]
    assert closed == 200, f"only {closed} of 200 slow clients were cut off within {SLOW_FOR_S} s"
    print(f"200 slow clients cut off, the last after {after_s:.1f} s")


def test_an_oversized_chunked_upload_is_refused_over_a_real_socket(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served), timeout=10) as s:
        s.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (16384, b"x" * 16384)
        sent = 0
        with selectors.DefaultSelector() as sel:
            sel.register(s, selectors.EVENT_READ)
            try:
                for _ in range(1000):  # up to 16 MB; the server answers long before: stop sending then
                    if sel.select(timeout=0.01):
                        break
                    s.sendall(chunk)
                    sent += 16384
            except (ConnectionResetError, BrokenPipeError):
                pass
        s.settimeout(10)
        answer = b""
        try:
            while not answer.endswith(b"}"):
                data = s.recv(4096)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 16 * 1024 * 1024, "the server read the whole upload"


def _answer(s: socket.socket) -> bytes:
    s.settimeout(SLOW_FOR_S)
    answer = b""
    try:
        while data := s.recv(4096):
            answer += data
    except (ConnectionResetError, TimeoutError):
        pass
    return answer


def test_a_slow_body_is_answered_408_and_cut_off(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served), timeout=10) as s:
        s.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{")
        start = time.monotonic()
        cut = False
        with selectors.DefaultSelector() as sel:
            sel.register(s, selectors.EVENT_READ)
            while time.monotonic() - start < SLOW_FOR_S and not cut:  # a byte per 0.5 s: 1000 bytes take 500 s
                cut = bool(sel.select(timeout=0.5))
                if not cut:
                    s.sendall(b" ")
        assert cut, f"a body sent a byte per 0.5 s was still being read after {SLOW_FOR_S} s"
        assert _answer(s).startswith(b"HTTP/1.1 408")


def test_an_oversized_request_head_is_refused(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"x" * 8192)
        time.sleep(0.5)  # h11 measures the head it holds while it is still incomplete
        try:
            s.sendall(b"\r\n\r\n")
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert _answer(s).startswith(b"HTTP/1.1 400")  # api.max_header_bytes: 4096 here
    assert httpx.get(f"http://127.0.0.1:{served}/healthz", headers={"X-Small": "x" * 1000}).status_code == 200
