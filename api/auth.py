"""Users, passwords, tokens and roles.

Passwords are hashed with argon2id (argon2-cffi). A login issues a random token (256 bits) that the
client sends as ``Authorization: Bearer <token>`` or, for the same-origin UI, as the HttpOnly,
SameSite=Strict cookie ``streetsight_session``; only its SHA-256 is stored, with an expiry. Roles
grant permissions (``PERMISSIONS``); a missing or bad token is a 401, a role without the right a 403.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .db import AuthTokenRecord, UserRecord
from .login_throttle import Attempt, LoginThrottle
from .settings import ROLES, AuthSettings, Role

log = logging.getLogger(__name__)

COOKIE_NAME = "streetsight_session"
ADMIN_PASSWORD_ENV = "STREETSIGHT_ADMIN_PASSWORD"
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
MIN_PASSWORD_LENGTH = 8
MAX_TOKEN_TTL_S = 10 * 365 * 86400  # API tokens for machine accounts: at most ten years

PERMISSIONS: dict[str, frozenset[str]] = {
    "incidents:read": frozenset({"reviewer", "admin", "trainer"}),
    "incidents:review": frozenset({"reviewer", "admin"}),
    "sources:read": frozenset({"reviewer", "admin", "trainer"}),
    "sources:write": frozenset({"admin"}),  # add, change, delete cameras
    "sources:position": frozenset({"admin"}),  # moving cameras' position reports (a gateway's API token)
    "events:read": frozenset({"reviewer", "admin", "trainer"}),
    "cases:read": frozenset({"reviewer", "admin"}),
    "cases:assign": frozenset({"reviewer", "admin"}),
    "audit:read": frozenset({"admin"}),
    "metrics:read": frozenset({"admin"}),
    "dispatch:callback": frozenset({"dispatch-callback"}),
    # recorded footage of enforcement devices (issue 18): reviewers, admins and docking stations' machine accounts
    "footage:upload": frozenset({"reviewer", "admin", "docking-station"}),
    "footage:read": frozenset({"reviewer", "admin", "docking-station"}),
    # models a city brings (issue 19): who puts a model in service, who retrains one
    "models:promote": frozenset({"admin", "trainer"}),
    "models:train": frozenset({"admin", "trainer"}),
}


@dataclass(frozen=True)
class Principal:
    username: str
    role: str

    def may(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]



def cli_safe_secret(nbytes: int) -> str:
    """A URL-safe random secret that does not start with "-": one that did would be read as an option by every
    command line that takes it (``--token -x...`` fails in argparse), one time in 64."""
    while True:
        secret = secrets.token_urlsafe(nbytes)
        if not secret.startswith("-"):
            return secret

class UserOut(BaseModel):
    username: str
    role: Role
    disabled: bool
    created_at: datetime


class AuthError(ValueError):
    """Bad user input (name, role, password), with the field named."""


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


class AuthService:
    def __init__(self, session_factory: sessionmaker[Session], settings: AuthSettings | None = None) -> None:
        self._sessions = session_factory
        self.settings = settings or AuthSettings()
        self._hasher = PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_hex(8))  # equal work for unknown names
        self.throttle = LoginThrottle(self.settings.login_max_failures_per_user,
                                      self.settings.login_max_failures_per_address, self.settings.login_window_s)

    # -- users ------------------------------------------------------------------------------------

    def add_user(self, username: str, password: str, role: str, update: bool = False) -> UserOut:
        """Create a user; ``update`` resets the password and role of an existing one instead of failing."""
        if not re.fullmatch(USERNAME_PATTERN, username or ""):
            raise AuthError(f"username: {username!r} must be 1-64 letters, digits or _ . @ -")
        if role not in ROLES:
            raise AuthError(f"role: {role!r} is not one of {list(ROLES)}")
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise AuthError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
        hashed = self._hasher.hash(password)
        with self._sessions() as s:
            user = s.scalars(select(UserRecord).where(UserRecord.username == username)).one_or_none()
            if user is not None and not update:
                raise AuthError(f"username: {username!r} exists already (use update to reset it)")
            if user is None:
                user = UserRecord(username=username, created_at=_now(), disabled=False)
                s.add(user)
            else:  # a reset password ends the user's sessions
                s.execute(delete(AuthTokenRecord).where(AuthTokenRecord.user_id == user.id))
            user.password_hash, user.role, user.disabled = hashed, role, False
            try:
                s.commit()
            except IntegrityError:
                raise AuthError(f"username: {username!r} exists already") from None
            return _user_out(user)

    def set_disabled(self, username: str, disabled: bool = True) -> None:
        with self._sessions() as s:
            user = s.scalars(select(UserRecord).where(UserRecord.username == username)).one_or_none()
            if user is None:
                raise AuthError(f"username: no user {username!r}")
            user.disabled = disabled
            if disabled:
                s.execute(delete(AuthTokenRecord).where(AuthTokenRecord.user_id == user.id))
            s.commit()

    def list_users(self) -> list[UserOut]:
        with self._sessions() as s:
            return [_user_out(u) for u in s.scalars(select(UserRecord).order_by(UserRecord.username))]

    def has_users(self) -> bool:
        with self._sessions() as s:
            return bool(s.scalar(select(func.count()).select_from(UserRecord)))

    def ensure_admin(self, password: str | None = None) -> str | None:
        """With no user at all, create ``admin``: with ``password``, else ``$STREETSIGHT_ADMIN_PASSWORD``,
        else a generated one, which is returned (to be shown once). None when users existed already."""
        if self.has_users():
            return None
        given = password or os.environ.get(ADMIN_PASSWORD_ENV)
        chosen = given or cli_safe_secret(12)
        try:
            self.add_user("admin", chosen, "admin")
        except AuthError:
            if self.has_users():  # another process created it first
                return None
            raise
        log.info("created the first user: admin")
        return None if given else chosen

    # -- logins and tokens ------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> Principal | None:
        with self._sessions() as s:
            user = s.scalars(select(UserRecord).where(UserRecord.username == username)).one_or_none()
            stored = user.password_hash if user is not None else self._dummy_hash
            try:
                self._hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            if user is None or user.disabled:
                return None
            if self._hasher.check_needs_rehash(user.password_hash):
                user.password_hash = self._hasher.hash(password)
                s.commit()
            return Principal(user.username, user.role)

    def issue_token(self, username: str, kind: str = "session", ttl_s: float | None = None) -> str:
        """A new random token for ``username`` (``kind`` "api" for machine users such as dispatch)."""
        ttl = self.settings.session_ttl_s if ttl_s is None else ttl_s
        if not 0 < ttl <= MAX_TOKEN_TTL_S:  # a token born expired, or an expiry past the calendar's end
            raise AuthError(f"ttl: a token lives more than 0 and at most {MAX_TOKEN_TTL_S // 86400} days, got {ttl} s")
        token = cli_safe_secret(32)
        with self._sessions() as s:
            user = s.scalars(select(UserRecord).where(UserRecord.username == username)).one_or_none()
            if user is None:
                raise AuthError(f"username: no user {username!r}")
            now = _now()
            s.add(AuthTokenRecord(token_hash=_hash_token(token), user_id=user.id, kind=kind,
                                  created_at=now, expires_at=now + timedelta(seconds=ttl)))
            s.commit()
        return token

    def resolve(self, token: str) -> Principal | None:
        if not token:
            return None
        query = (select(UserRecord.username, UserRecord.role, UserRecord.disabled, AuthTokenRecord.expires_at)
                 .join(UserRecord, UserRecord.id == AuthTokenRecord.user_id)
                 .where(AuthTokenRecord.token_hash == _hash_token(token)))
        with self._sessions() as s:
            row = s.execute(query).one_or_none()
        if row is None or row.disabled or row.expires_at <= _now():
            return None
        return Principal(row.username, row.role)

    def revoke(self, token: str) -> None:
        with self._sessions() as s:
            s.execute(delete(AuthTokenRecord).where(AuthTokenRecord.token_hash == _hash_token(token)))
            s.execute(delete(AuthTokenRecord).where(AuthTokenRecord.expires_at <= _now()))  # tidy up
            s.commit()


def _user_out(u: UserRecord) -> UserOut:
    return UserOut(username=u.username, role=u.role, disabled=u.disabled, created_at=u.created_at)


# -- FastAPI side ---------------------------------------------------------------------------------

def request_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE_NAME) or None


def current_principal(request: Request) -> Principal:
    auth: AuthService = request.app.state.auth
    principal = auth.resolve(request_token(request) or "")
    if principal is None:
        raise HTTPException(401, "not signed in, or the session expired", headers={"WWW-Authenticate": "Bearer"})
    return principal


def require(permission: str) -> Callable[..., Principal]:
    """A dependency: the signed-in principal, if its role grants ``permission`` (else 401 / 403)."""
    if permission not in PERMISSIONS:
        raise KeyError(permission)

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.may(permission):
            raise HTTPException(403, f"role {principal.role!r} may not do this ({permission})")
        return principal

    return dependency


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    username: str
    role: Role


class MeOut(BaseModel):
    username: str
    role: Role


def auth_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

    @router.post("/login", response_model=LoginOut, responses={
        401: {"description": "wrong username or password"},
        429: {"description": "too many wrong passwords for this user or from this address; see Retry-After"}})
    def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
        """Returns a bearer token and sets the same token as an HttpOnly, SameSite=Strict cookie. After
        ``auth.login_max_failures_per_user`` wrong passwords for a username (or ``..._per_address`` from one
        client) within ``auth.login_window_s``, logins are refused with 429 until ``Retry-After`` seconds pass."""
        auth: AuthService = request.app.state.auth
        address = request.client.host if request.client else "unknown"
        attempt = auth.throttle.begin(body.username, address)
        if not isinstance(attempt, Attempt):
            log.warning("login refused for %r from %s: too many failures (%s)", body.username, address, attempt.scope)
            if attempt.first:  # once per lock-out, not per request: a flood must not flood the audit log
                request.app.state.audit.append("anonymous", "login_throttled", after={
                    "username": body.username, "client": address, "scope": attempt.scope,
                    "failures": attempt.failures, "retry_after_s": attempt.retry_after_s})
            raise HTTPException(429, "too many failed logins; try again later",
                                headers={"Retry-After": str(attempt.retry_after_s)})
        principal = None
        try:
            principal = auth.authenticate(body.username, body.password)
        finally:
            auth.throttle.end(attempt, succeeded=principal is not None)
        if principal is None:
            log.info("failed login for %r from %s", body.username, address)
            raise HTTPException(401, "wrong username or password")
        token = auth.issue_token(principal.username)
        secure = auth.settings.cookie_secure
        response.set_cookie(
            COOKIE_NAME, token, max_age=int(auth.settings.session_ttl_s), httponly=True, samesite="strict",
            secure=request.url.scheme == "https" if secure is None else secure, path="/",
        )
        return LoginOut(access_token=token, username=principal.username, role=principal.role)

    @router.post("/logout", status_code=204)
    def logout(request: Request, response: Response) -> Response:
        """Ends this session (token and cookie); always 204."""
        token = request_token(request)
        if token:
            request.app.state.auth.revoke(token)
        response = Response(status_code=204)
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return response

    @router.get("/me", response_model=MeOut)
    def me(principal: Annotated[Principal, Depends(current_principal)]) -> MeOut:
        return MeOut(username=principal.username, role=principal.role)

    return router
