"""HTTP hardening of the API (issue 12), in process over a real SQLite file and PostgreSQL: the request-body
limit, 422s that echo no secret and no bulk, 4xx for malformed values on every route (a new one included),
login throttling, security headers, the offline docs pages. The server-level limits (header-read timeout,
slow loris) are in tests/test_http_server.py; the docs and the review UI under the CSP in Chromium too."""
from __future__ import annotations

import re
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from streetsight.config import Config
from tests.api_env import PASSWORD, ApiEnv, incident

BIG = "9223372036854775808"  # one past the largest 64-bit integer


@pytest.fixture()
def env(tmp_path: Path, database_url: str):
    e = ApiEnv(tmp_path, database_url, {"http": {"max_body_bytes": 64 * 1024},
                                        "dispatch": {"callback_secret": "callback-secret"}},
               position_sink=lambda *report: None)
    yield e
    e.close()


def anonymous(env: ApiEnv, address: str = "testclient") -> TestClient:
    return TestClient(env.app, raise_server_exceptions=False, client=(address, 50000))


def signed_in(env: ApiEnv, role: str = "admin") -> TestClient:
    env.client(role)  # creates the user
    client = anonymous(env)
    assert client.post("/api/v1/auth/login", json={"username": f"{role}1", "password": PASSWORD}).status_code == 200
    return client


# -- request bodies ------------------------------------------------------------------------------

def test_large_bodies_are_refused_unread_and_422s_echo_no_secret(env: ApiEnv) -> None:
    anon = anonymous(env)
    huge = b'{"username": "admin", "password": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    r = anon.post("/api/v1/auth/login", content=huge, headers={"content-type": "application/json"})
    assert r.status_code == 413 and len(r.content) < 1000 and "max_body_bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: refused once the bytes read pass the limit
        for _ in range(100):
            yield b"x" * 8192

    r = anon.post("/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and len(r.content) < 1000

    # under the limit but invalid: the 422 names the fields and shows neither the password nor the bulk
    secret = "s3cret-" + "p" * 2000
    r = anon.post("/api/v1/auth/login", json={"username": "admin", "password": secret})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "password"]
    assert "s3cret" not in r.text and len(r.text) < 1000
    r = anon.post("/api/v1/auth/login", json={"username": "a" * 30000, "password": "short-secret"})
    assert r.status_code == 422 and "aaaaaaaaaa" not in r.text and "short-secret" not in r.text
    r = anon.post("/api/v1/auth/login", json={"username": "wang", "password": 12345678})
    assert r.status_code == 422 and "12345678" not in r.text
    r = anon.post("/api/v1/auth/login", json=["not", "an", "object"])
    assert r.status_code == 422 and "input" not in r.json()["detail"][0]
    # a short, non-secret value is still shown: it helps the client
    admin = signed_in(env)
    r = admin.post("/api/v1/incidents/inc_x/review", json={"decision": "maybe"})
    assert r.status_code == 422 and r.json()["detail"][0]["input"] == "maybe"


def test_body_limit_is_configuration_with_the_field_named() -> None:
    assert Config.model_validate({"api": {"max_body_bytes": 2_000_000}}).api.max_body_bytes == 2_000_000
    for section, values in [("api", {"max_body_bytes": 10}), ("api", {"header_read_timeout_s": 0}),
                            ("auth", {"login_max_failures_per_user": 0}), ("auth", {"login_window_s": -1})]:
        with pytest.raises(ValidationError) as err:
            Config.model_validate({section: values})
        assert err.value.errors()[0]["loc"] == (section, *values), err.value


# -- malformed values: 4xx, never 500 --------------------------------------------------------------

JSON = {"content-type": "application/json"}
POSITION = '{"lng": %s, "lat": 30.2, "timestamp": "2025-05-01T08:00:00Z"}'
MALFORMED = [
    ("GET", f"/api/v1/incidents?offset={BIG}", None),
    ("GET", "/api/v1/incidents?limit=5&offset=99999999999999999999999999999", None),
    ("GET", f"/api/v1/cases?offset={BIG}", None),
    ("GET", f"/api/v1/cases?queue=manual&offset={BIG}", None),
    ("GET", f"/api/v1/cases/{BIG}", None),
    ("GET", f"/api/v1/audit?offset={BIG}", None),
    ("GET", f"/api/v1/audit?case_id={BIG}", None),
    ("GET", "/api/v1/incidents?since=0001-01-01T00:00:00%2B05:00", None),
    ("GET", "/api/v1/incidents?until=9999-12-31T23:59:59-05:00", None),
    ("GET", "/api/v1/incidents?since=0001-01-01T00:00:00%2B14:00&until=9999-12-31T23:59:59-12:00", None),
    ("POST", "/api/v1/sources/cam-m/position", POSITION % "NaN"),
    ("POST", "/api/v1/sources/cam-m/position", POSITION % "Infinity"),
    ("POST", "/api/v1/sources/cam-m/position", POSITION % "-Infinity"),
    ("POST", "/api/v1/sources/cam-m/position", POSITION % "1e999"),
    ("POST", "/api/v1/sources/cam-m/position", '{"lng": 1, "lat": 1, "timestamp": 1e300}'),
    ("POST", "/api/v1/auth/login", '{"username": "\\ud800", "password": "a-long-password"}'),
    ("POST", "/api/v1/auth/login", '{"username": "wang", "password": "\\udfff-secret"}'),
    ("POST", "/api/v1/auth/login", '{"username": "wang", "password": NaN}'),
    ("POST", "/api/v1/auth/login", "[" * 60000),
    ("POST", "/api/v1/incidents/inc_0000000000000001/review", '{"decision": "confirm", "note": "\\ud800"}'),
    ("POST", "/api/v1/incidents/inc_0000000000000001/review", '{"decision": "confirm", "corrected_type": "\\udbff"}'),
    ("POST", "/api/v1/incidents/review-batch", '{"decision": "reject", "ids": ["\\ud800"]}'),
    ("POST", "/api/v1/incidents/review-batch", '{"decision": "reject", "ids": ["x"], "\\ud800": 1}'),
    ("POST", "/api/v1/cases/1/assign", '{"department": "\\ud800"}'),
    ("POST", "/api/v1/dispatch/callbacks", '{"case_number": "\\ud800"}'),
]


def test_malformed_values_are_4xx_on_every_route(env: ApiEnv) -> None:
    env.repo.add(incident(1))
    admin = signed_in(env)
    anon = anonymous(env, "10.9.9.9")
    for method, url, body in MALFORMED:
        client = anon if url.endswith("/login") else admin
        r = client.request(method, url, content=body, headers=JSON if body else None)
        assert 400 <= r.status_code < 500, (method, url, body and body[:80], r.status_code, r.text[:300])
        assert "Traceback" not in r.text
    r = admin.get(f"/api/v1/audit?case_id={BIG}")
    assert "case_id" in r.json()["detail"]  # the generic handler names the parameter
    r = admin.get("/api/v1/incidents?since=0001-01-01T00:00:00%2B05:00")
    assert r.json()["detail"][0]["loc"] == ["query", "since"]
    # the sane neighbours of those values still work
    assert admin.get("/api/v1/incidents?offset=2147483647").status_code == 200
    assert admin.get("/api/v1/incidents?since=0001-01-02T00:00:00%2B05:00").status_code == 200
    assert admin.post("/api/v1/sources/cam-m/position", content=POSITION % "120.5", headers=JSON).status_code == 200


def test_a_new_route_is_covered_by_the_generic_handlers(env: ApiEnv) -> None:
    """Routes added later, with no bounds of their own: out-of-range values still end as 422."""
    from datetime import timezone

    @env.app.get("/probe/page")
    def page(offset: int) -> list:
        return [i.id for i in env.repo.list(limit=1, offset=offset)]

    @env.app.get("/probe/day")
    def day(at: datetime) -> str:
        return at.astimezone(timezone.utc).isoformat()

    @env.app.post("/probe/echo")
    def echo(body: dict) -> dict:
        return body

    client = anonymous(env)
    assert client.get("/probe/page?offset=0").status_code == 200
    r = client.get(f"/probe/page?offset={BIG}")
    assert r.status_code == 422 and "offset" in r.json()["detail"]
    assert client.get("/probe/day?at=9999-12-31T23:59:59-01:00").status_code == 422
    assert client.post("/probe/echo", content='{"a": NaN}', headers=JSON).status_code == 422
    assert client.post("/probe/echo", content='{"a": "\\ud800"}', headers=JSON).status_code == 422
    assert client.post("/probe/echo", content='{"a": "\\ud83d\\ude00"}', headers=JSON).json() == {"a": "😀"}


# -- login throttling ------------------------------------------------------------------------------

def test_login_throttling_per_user_and_per_address(tmp_path: Path) -> None:
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'x.db'}",
                 {"auth": {"login_max_failures_per_user": 3, "login_max_failures_per_address": 5}})
    try:
        admin = signed_in(env)
        for name in ("wang", "li", "zhao"):
            env.auth.add_user(name, PASSWORD, "reviewer")
        hashed = []  # the argon2 work done: counted around the real authenticate
        authenticate = env.auth.authenticate
        env.auth.authenticate = lambda u, p: hashed.append(u) or authenticate(u, p)

        attacker = anonymous(env, "203.0.113.7")
        for _ in range(3):
            r = attacker.post("/api/v1/auth/login", json={"username": "wang", "password": "guess-guess"})
            assert r.status_code == 401
        r = attacker.post("/api/v1/auth/login", json={"username": "wang", "password": PASSWORD})  # the right one
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 300
        assert len(hashed) == 3  # the refused attempt cost no argon2 time
        # the user is locked from every address; other users are not
        assert anonymous(env, "198.51.100.1").post(
            "/api/v1/auth/login", json={"username": "WANG", "password": PASSWORD}).status_code == 429
        assert attacker.post("/api/v1/auth/login", json={"username": "li", "password": PASSWORD}).status_code == 200
        # per address: two more failures (on other names) make five from this address
        for name in ("li", "nobody"):
            r = attacker.post("/api/v1/auth/login", json={"username": name, "password": "guess-guess"})
            assert r.status_code == 401
        r = attacker.post("/api/v1/auth/login", json={"username": "zhao", "password": PASSWORD})
        assert r.status_code == 429 and "retry-after" in r.headers
        assert anonymous(env, "198.51.100.2").post(
            "/api/v1/auth/login", json={"username": "zhao", "password": PASSWORD}).status_code == 200

        rows = [a for a in admin.get("/api/v1/audit").json() if a["action"] == "login_throttled"]
        assert {(a["after"]["username"], a["after"]["scope"], a["after"]["client"]) for a in rows} == {
            ("wang", "user", "203.0.113.7"), ("zhao", "address", "203.0.113.7")}
        assert len(rows) == 2  # once per lock-out, not once per refused request
        assert PASSWORD not in str(rows) and "guess-guess" not in str(rows)
    finally:
        env.close()


def test_a_burst_of_parallel_guesses_is_cut_at_the_limit(tmp_path: Path) -> None:
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", {"auth": {"login_max_failures_per_user": 4}})
    try:
        env.auth.add_user("wang", PASSWORD, "reviewer")
        hashed = []
        authenticate = env.auth.authenticate
        env.auth.authenticate = lambda u, p: hashed.append(u) or authenticate(u, p)
        codes: list[int] = []

        def guess(n: int) -> None:
            r = anonymous(env, f"10.0.0.{n}").post("/api/v1/auth/login",
                                                 json={"username": "wang", "password": f"guess-{n:04d}"})
            codes.append(r.status_code)

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert sorted(set(codes)) == [401, 429] and codes.count(401) == 4 and len(codes) == 40
        assert len(hashed) == 4
    finally:
        env.close()


def test_throttle_forgets_failures_after_the_window_and_on_success() -> None:
    from api.login_throttle import Attempt, LoginThrottle, Refusal

    now = [1000.0]
    throttle = LoginThrottle(max_per_user=2, max_per_address=100, window_s=60, clock=lambda: now[0])
    for _ in range(2):
        attempt = throttle.begin("wang", "10.0.0.1")
        assert isinstance(attempt, Attempt)
        throttle.end(attempt, succeeded=False)
    refused = throttle.begin("wang", "10.0.0.2")
    assert isinstance(refused, Refusal) and refused.retry_after_s == 60 and refused.first
    now[0] += 30
    again = throttle.begin("wang", "10.0.0.2")
    assert isinstance(again, Refusal) and again.retry_after_s == 30 and not again.first
    now[0] += 31
    attempt = throttle.begin("wang", "10.0.0.1")
    assert isinstance(attempt, Attempt)
    throttle.end(attempt, succeeded=False)
    attempt = throttle.begin("wang", "10.0.0.1")
    assert isinstance(attempt, Attempt)
    throttle.end(attempt, succeeded=True)  # a success clears the user's failures
    assert isinstance(throttle.begin("wang", "10.0.0.1"), Attempt)


# -- headers and docs ------------------------------------------------------------------------------

def test_security_headers_on_every_response(env: ApiEnv) -> None:
    anon = anonymous(env)
    responses = [anon.get("/"), anon.get("/static/app.js"), anon.get("/healthz"), anon.get("/api/v1/incidents"),
                 anon.get("/nowhere"), anon.post("/api/v1/auth/login", json={}),
                 anon.post("/api/v1/auth/login", content=b"x" * 100_000, headers=JSON),
                 signed_in(env).get("/metrics")]
    assert [r.status_code for r in responses] == [200, 200, 200, 401, 404, 422, 413, 200]
    for r in responses:
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"


def test_evidence_origins_are_allowed_by_the_csp(tmp_path: Path) -> None:
    from streetsight.case_wiring import http_settings

    cfg = Config.model_validate({"storage": {"backend": "s3", "s3": {
        "endpoint": "minio.internal:9000", "public_endpoint": "evidence.city.example:443", "bucket": "evidence",
        "access_key": "k", "secret_key": "s"}}})
    assert http_settings(cfg).media_origins == ["https://evidence.city.example:443"]
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", {"http": http_settings(cfg).model_dump()})
    try:
        csp = anonymous(env).get("/").headers["content-security-policy"]
        assert "img-src 'self' blob: https://evidence.city.example:443 data:" in csp
        assert "media-src 'self' blob: https://evidence.city.example:443" in csp
    finally:
        env.close()
    with pytest.raises(ValidationError):
        Config.model_validate({"api": {"media_origins": ["https://x.example/path"]}})


def test_docs_pages_load_nothing_from_elsewhere(env: ApiEnv) -> None:
    anon = anonymous(env)
    for page in ("/docs", "/redoc"):
        r = anon.get(page)
        assert r.status_code == 200
        refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert refs and all(ref.startswith("/") or ref.startswith("data:") for ref in refs), refs
        assert "<script>" not in r.text  # no inline script: the CSP allows none
        for ref in refs:
            if ref.startswith("/"):
                assert anon.get(ref).status_code == 200, ref
    vendor = Path(__file__).resolve().parents[1] / "api" / "static" / "vendor"
    for licence in ("swagger-ui/LICENSE", "swagger-ui/NOTICE", "redoc/LICENSE", "README.md"):
        assert (vendor / licence).stat().st_size > 0


@pytest.mark.browser
def test_docs_pages_render_offline_under_the_csp_in_chromium(tmp_path: Path) -> None:
    """Swagger UI and ReDoc render from the vendored files, ask no other host, break no CSP rule."""
    from tests.browser import PageLog, UvicornThread, chromium, screenshot
    from tests.pg_server import free_port

    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    server = UvicornThread(env.app, free_port()).start()
    try:
        with chromium() as browser:
            page = browser.new_page()
            log = PageLog(page)
            elsewhere: list[str] = []
            page.on("requestfinished", lambda req: None if req.url.startswith((server.url, "data:", "blob:"))
                    else elsewhere.append(req.url))
            page.goto(f"{server.url}/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)  # the operations are listed
            assert page.locator(".opblock").count() > 10
            assert "/api/v1/auth/login" in page.inner_text("#swagger-ui")
            screenshot(page, tmp_path, "docs-swagger-ui.png")
            page.goto(f"{server.url}/redoc")
            page.get_by_text("/api/v1/auth/login").first.wait_for(timeout=30_000)  # the operations are listed
            assert "/api/v1/incidents" in page.inner_text("body")
            screenshot(page, tmp_path, "docs-redoc.png")
            assert elsewhere == []  # nothing reached another host
            # a CSP violation is a console error; the one expected is ReDoc's attribution logo from its CDN,
            # which the CSP blocks (ReDoc then hides it)
            assert log.unexpected("https://cdn.redoc.ly/redoc/logo-mini") == [], log.errors
    finally:
        server.stop()
        env.close()


def test_malformed_callback_headers_are_4xx(env: ApiEnv) -> None:
    """The dispatch system's callbacks: a timestamp past any float, a signature that is not ASCII."""
    env.client("dispatch-callback")
    client = anonymous(env)
    assert client.post("/api/v1/auth/login",
                       json={"username": "dispatchcallback1", "password": PASSWORD}).status_code == 200
    for headers in ({"X-Timestamp": "9" * 400, "X-Signature": "sha256=00"},
                    {"X-Timestamp": "9" * 5000, "X-Signature": "sha256=00"},
                    {"X-Timestamp": str(int(time.time())), "X-Signature": b"sha256=\xe9\xe9"}):
        r = client.post("/api/v1/dispatch/callbacks", content=b'{"case_number": "SS-1"}',
                        headers={**JSON, **headers})
        assert 400 <= r.status_code < 500, (headers, r.status_code, r.text[:200])


def test_every_route_in_the_openapi_answers_4xx_to_out_of_range_values(env: ApiEnv) -> None:
    """Walks the OpenAPI document, so a route added later is probed too: every integer parameter past 64 bits,
    every date-time at the calendar's ends with an offset, every JSON body with NaN or a lone surrogate."""
    env.repo.add(incident(1))
    admin = signed_in(env)
    bad_values = {"integer": [BIG, f"-{BIG}"],
                  "date-time": ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]}
    probed = 0
    for path, operations in env.app.openapi()["paths"].items():
        for method, operation in operations.items():
            if path == "/api/v1/events":  # a stream that stays open; it takes no parameters
                continue
            params = operation.get("parameters", [])

            def kind(p: dict) -> str | None:
                schemas = [p.get("schema", {}), *p.get("schema", {}).get("anyOf", [])]
                for schema in schemas:
                    if schema.get("type") == "integer":
                        return "integer"
                    if schema.get("format") == "date-time":
                        return "date-time"
                return None

            base = {p["name"]: "1" if kind(p) == "integer" else "x" for p in params if p["in"] == "path"}
            for p in params:
                for value in bad_values.get(kind(p) or "", []):
                    values = {**base, p["name"]: value} if p["in"] == "path" else base
                    query = {p["name"]: value} if p["in"] == "query" else {}
                    r = admin.request(method, path.format(**values), params=query)
                    assert r.status_code < 500, (method, path, p["name"], value, r.status_code, r.text[:200])
                    probed += 1
            if "requestBody" in operation:
                for body in ('{"a": NaN}', '{"a": "\\ud800"}', '{"\\udc00": 1}', '[' * 5000):
                    r = admin.request(method, path.format(**base), content=body, headers=JSON)
                    assert r.status_code < 500, (method, path, body[:20], r.status_code, r.text[:200])
                    probed += 1
    assert probed > 30


@pytest.mark.parametrize("declared, status", [(b"\xb2", 400), (b"12x", 400), (b"9" * 5000, 413)])
def test_a_content_length_that_is_no_plain_number_is_refused(declared: bytes, status: int) -> None:
    import asyncio

    from api.request_guard import RequestGuard

    async def app(scope, receive, send) -> None:
        raise AssertionError("the app was reached")

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", declared)]}
    asyncio.run(RequestGuard(app, max_body_bytes=1024)(scope, receive, send))
    assert sent[0]["status"] == status
