"""Authentication and roles on SQLite and PostgreSQL: login (token and cookie), logout, expiry, roles per
route, hashed secrets, the first admin, and the `streetsight users` command."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.db import AuthTokenRecord, UserRecord
from tests.api_env import PASSWORD, ApiEnv, incident

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def env(tmp_path: Path, database_url: str):
    e = ApiEnv(tmp_path, database_url)
    yield e
    e.close()


def test_login_gives_a_bearer_token_and_an_httponly_strict_cookie(env: ApiEnv) -> None:
    env.auth.add_user("wang", PASSWORD, "reviewer")
    env.repo.add(incident(1))
    anon = TestClient(env.app)
    r = anon.get("/api/v1/incidents")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["detail"]
    assert anon.post("/api/v1/auth/login", json={"username": "wang", "password": "nope-nope"}).status_code == 401
    assert anon.post("/api/v1/auth/login", json={"username": "nobody", "password": PASSWORD}).status_code == 401
    assert anon.post("/api/v1/auth/login", json={"username": "wang"}).status_code == 422

    r = anon.post("/api/v1/auth/login", json={"username": "wang", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["username"] == "wang" and body["role"] == "reviewer"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"streetsight_session={body['access_token']};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie

    bearer = TestClient(env.app, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert bearer.get("/api/v1/incidents").status_code == 200
    assert bearer.get("/api/v1/auth/me").json() == {"username": "wang", "role": "reviewer"}
    assert anon.get("/api/v1/auth/me").json()["username"] == "wang"  # the cookie
    assert TestClient(env.app, headers={"Authorization": "Bearer forged"}).get("/api/v1/incidents").status_code == 401

    # stored: an argon2id hash and the token's sha256, never the secrets themselves
    with env.sessions() as s:
        user = s.scalars(select(UserRecord).where(UserRecord.username == "wang")).one()
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        hashes = list(s.scalars(select(AuthTokenRecord.token_hash)))
        assert body["access_token"] not in hashes and len(hashes) == 1 and len(hashes[0]) == 64

    # logout ends the session for the cookie and for the bearer token alike
    assert anon.post("/api/v1/auth/logout").status_code == 204
    assert anon.get("/api/v1/incidents").status_code == 401
    assert bearer.get("/api/v1/incidents").status_code == 401


def test_expired_disabled_and_reset_sessions_end(env: ApiEnv) -> None:
    client = env.client("reviewer", "li")
    assert client.get("/api/v1/auth/me").status_code == 200
    with env.sessions() as s:
        s.execute(update(AuthTokenRecord).values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
        s.commit()
    assert client.get("/api/v1/auth/me").status_code == 401
    client = env.client("reviewer", "li")
    env.auth.set_disabled("li")
    assert client.get("/api/v1/auth/me").status_code == 401
    assert TestClient(env.app).post("/api/v1/auth/login", json={"username": "li", "password": PASSWORD}).status_code == 401
    env.auth.add_user("li", "another-password", "admin", update=True)  # reset: enabled again, new role
    r = TestClient(env.app).post("/api/v1/auth/login", json={"username": "li", "password": "another-password"})
    assert r.status_code == 200 and r.json()["role"] == "admin"


def test_token_lifetime_must_be_positive_and_bounded(env: ApiEnv) -> None:
    """A negative lifetime issued a token born expired; a huge one overflowed the date."""
    from api.auth import AuthError

    env.auth.add_user("dispatch", PASSWORD, "dispatch-callback")
    for ttl in (-86400, 0, 1e12 * 86400, float("nan")):
        with pytest.raises(AuthError, match="ttl"):
            env.auth.issue_token("dispatch", kind="api", ttl_s=ttl)
    assert env.auth.resolve(env.auth.issue_token("dispatch", kind="api", ttl_s=3650 * 86400)) is not None
    from api.auth import MAX_TOKEN_TTL_S
    from streetsight.commands.users import MAX_TOKEN_DAYS

    assert MAX_TOKEN_DAYS * 86400 == MAX_TOKEN_TTL_S  # the CLI's bound (kept apart for a fast --help) agrees


@pytest.mark.parametrize("role, allowed", [
    ("reviewer", {"incidents", "evidence", "review", "sources", "events", "cases"}),
    ("admin", {"incidents", "evidence", "review", "sources", "events", "cases", "audit", "position"}),
    ("trainer", {"incidents", "evidence", "sources", "events"}),
    ("dispatch-callback", {"callbacks"}),
])
def test_roles_per_route(tmp_path: Path, role: str, allowed: set[str]) -> None:
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", {"dispatch": {"callback_secret": "s"}})
    try:
        env.repo.add(incident(1))
        client = env.client(role)
        probes = {
            "incidents": lambda: client.get("/api/v1/incidents"),
            "evidence": lambda: client.get("/api/v1/incidents/inc_0000000000000001/evidence/clip"),
            "review": lambda: client.post("/api/v1/incidents/inc_nope/review", json={"decision": "reject"}),
            "sources": lambda: client.get("/api/v1/sources"),
            "events": lambda: client.get("/api/v1/events", params={"probe": 1}, headers={"X-Probe": "1"})
            if role not in ("reviewer", "admin", "trainer") else None,
            "cases": lambda: client.get("/api/v1/cases"),
            "audit": lambda: client.get("/api/v1/audit"),
            "position": lambda: client.post("/api/v1/sources/x/position",
                                            json={"lng": 1, "lat": 1, "timestamp": "2025-05-01T08:00:00Z"}),
            "callbacks": lambda: client.post("/api/v1/dispatch/callbacks", content=b"{}"),
        }
        for name, probe in probes.items():
            r = probe()
            if r is None:  # a stream that would stay open: its 200 is tested in test_events.py
                continue
            if name == "callbacks" and name in allowed:  # past the role check, stopped by the missing signature
                assert r.status_code == 401 and "X-Signature" in r.json()["detail"], r.text
            elif name in allowed:
                assert r.status_code not in (401, 403), (role, name, r.status_code)
            else:
                assert r.status_code == 403, (role, name, r.status_code, r.text)
        # always open, with or without a login; /metrics is not (see test_metrics_are_private_by_default)
        anon = TestClient(env.app)
        assert anon.get("/healthz").status_code == 200 and anon.get("/docs").status_code == 200
        assert anon.get("/").status_code == 200 and anon.get("/static/app.js").status_code == 200
        assert anon.get("/metrics").status_code == 401
        assert client.get("/metrics").status_code == (200 if role == "admin" else 403)
    finally:
        env.close()


def test_metrics_are_private_by_default(tmp_path: Path) -> None:
    """/metrics names every camera: an admin login or the scrape token reads it; `metrics_public` opts in."""
    token = "scrape-token-for-prometheus"
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", {"auth": {"metrics_token": token}})
    try:
        assert TestClient(env.app).get("/metrics").status_code == 401
        assert env.client("reviewer").get("/metrics").status_code == 403
        assert env.client("admin").get("/metrics").status_code == 200
        scraper = TestClient(env.app, headers={"Authorization": f"Bearer {token}"})
        assert scraper.get("/metrics").status_code == 200 and "streetsight_" in scraper.get("/metrics").text
        assert scraper.get("/api/v1/incidents").status_code == 401  # the scrape token opens /metrics only
        wrong = TestClient(env.app, headers={"Authorization": f"Bearer {token}-not"})
        assert wrong.get("/metrics").status_code == 401
        assert TestClient(env.app, headers={"Authorization": b"Bearer \xe9t\xe9"}).get("/metrics").status_code == 401
    finally:
        env.close()
    public = ApiEnv(tmp_path / "public", f"sqlite:///{tmp_path / 'p.db'}", {"auth": {"metrics_public": True}})
    try:
        assert TestClient(public.app).get("/metrics").status_code == 200
    finally:
        public.close()


def test_first_admin_from_env_or_generated_once(env: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREETSIGHT_ADMIN_PASSWORD", "from-the-environment")
    assert env.auth.ensure_admin() is None  # the env password is known already: not shown
    assert [u.role for u in env.auth.list_users()] == ["admin"]
    assert env.auth.authenticate("admin", "from-the-environment") is not None
    assert env.auth.ensure_admin() is None  # users exist: nothing happens


def test_first_admin_generated_password_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREETSIGHT_ADMIN_PASSWORD", raising=False)
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    try:
        password = env.auth.ensure_admin()
        assert password and len(password) >= 12
        r = TestClient(env.app).post("/api/v1/auth/login", json={"username": "admin", "password": password})
        assert r.status_code == 200 and r.json()["role"] == "admin"
        assert env.auth.ensure_admin() is None
    finally:
        env.close()


def test_users_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'users.db'}"
    run_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run_env.pop("STREETSIGHT_PASSWORD", None)

    def users(*args: str, stdin: str = "", extra_env: dict | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "streetsight.cli", "users", *args, "--database-url", url],
                              input=stdin, capture_output=True, text=True, env={**run_env, **(extra_env or {})},
                              cwd=ROOT, timeout=120)

    r = users("add", "wang", "--role", "reviewer", stdin="a-long-password\n")
    assert r.returncode == 0, r.stderr
    r = users("add", "zhao", "--role", "dispatch-callback", extra_env={"STREETSIGHT_PASSWORD": "machine-pass-1"})
    assert r.returncode == 0, r.stderr
    assert users("add", "wang", "--role", "reviewer", stdin="a-long-password\n").returncode == 2  # exists
    bad = users("add", "li", "--role", "reviewer", stdin="short\n")
    assert bad.returncode == 2 and "password" in bad.stderr
    assert users("add", "li", "--role", "boss", stdin="a-long-password\n").returncode == 2  # argparse: role
    listed = users("list")
    assert listed.returncode == 0
    import json

    assert [(u["username"], u["role"]) for u in json.loads(listed.stdout)] == [
        ("wang", "reviewer"), ("zhao", "dispatch-callback")]
    token = users("token", "zhao", "--days", "30").stdout.strip()
    assert len(token) >= 40

    from api import IncidentRepository, create_app, create_engine_for, init_db, make_session_factory

    engine = create_engine_for(url)
    init_db(engine)
    app = create_app(IncidentRepository(make_session_factory(engine)), tmp_path)
    try:
        me = TestClient(app, headers={"Authorization": f"Bearer {token}"}).get("/api/v1/auth/me")
        assert me.json() == {"username": "zhao", "role": "dispatch-callback"}
        r = TestClient(app).post("/api/v1/auth/login", json={"username": "wang", "password": "a-long-password"})
        assert r.status_code == 200
        assert users("disable", "wang").returncode == 0
        assert TestClient(app).post("/api/v1/auth/login",
                                    json={"username": "wang", "password": "a-long-password"}).status_code == 401
    finally:
        engine.dispose()


def test_generated_secrets_never_start_with_a_dash(monkeypatch) -> None:
    """A token such as "-Qx..." breaks `--token TOKEN` on every command line (argparse takes it for an option)."""
    import secrets as secrets_module

    from api.auth import cli_safe_secret

    drawn = iter(["-dash-first", "_ok_second"])
    monkeypatch.setattr(secrets_module, "token_urlsafe", lambda n: next(drawn))
    assert cli_safe_secret(32) == "_ok_second"
