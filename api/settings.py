"""Settings of the API side: authentication, cases, smart dispatch, the dispatch client and callbacks.

Plain pydantic models with no heavy imports, so ``streetsight.config`` can embed them as the YAML
sections ``auth:``, ``cases:`` and ``dispatch:``. Secrets may come from ``${ENV}`` references in the
YAML or from the environment variables named below; they never appear in logs or API responses.
"""
from __future__ import annotations

import os
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

ROLES = ("reviewer", "admin", "trainer", "dispatch-callback", "docking-station")
Role = Literal["reviewer", "admin", "trainer", "dispatch-callback", "docking-station"]

CALLBACK_SECRET_ENV = "STREETSIGHT_DISPATCH_CALLBACK_SECRET"
DISPATCH_TOKEN_ENV = "STREETSIGHT_DISPATCH_TOKEN"
METRICS_TOKEN_ENV = "STREETSIGHT_METRICS_TOKEN"
_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthSettings(_Strict):
    session_ttl_s: float = Field(12 * 3600, gt=0, description="lifetime of a login (cookie and bearer token)")
    metrics_public: bool = Field(
        False, description="true: anyone may read /metrics; false: an admin login or the metrics_token")
    metrics_token: SecretStr | None = Field(
        None, min_length=16,
        description=f"bearer token that may read /metrics only, for Prometheus (or env {METRICS_TOKEN_ENV})")
    cookie_secure: bool | None = Field(
        None, description="mark the session cookie Secure; default: only when the request came over HTTPS"
    )
    login_max_failures_per_user: int = Field(
        5, ge=1, description="wrong passwords for one username within login_window_s before logins are refused (429)")
    login_max_failures_per_address: int = Field(
        20, ge=1, description="wrong passwords from one client address within login_window_s before it is refused")
    login_window_s: float = Field(
        300.0, gt=0, le=86400, description="failures older than this are forgotten; a refusal lasts at most this")

    def resolved_metrics_token(self) -> str | None:
        if self.metrics_token is not None:
            return self.metrics_token.get_secret_value()
        return os.environ.get(METRICS_TOKEN_ENV) or None


class HttpSettings(_Strict):
    """Limits of the HTTP server and of every request (YAML: the ``api:`` section)."""

    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, le=1024 ** 3, description="larger request bodies are refused with 413")
    header_read_timeout_s: float = Field(
        10.0, gt=0, le=600, description="a connection that has not sent a whole request head by then is closed")
    body_read_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="a request body not received whole by then is answered with 408")
    keep_alive_timeout_s: int = Field(5, ge=1, le=600, description="an idle keep-alive connection is closed after this")
    max_header_bytes: int = Field(
        16 * 1024, ge=1024, le=1024 * 1024,
        description="a request head that grows past this while incomplete is refused (400)")
    media_origins: list[str] = Field(
        default_factory=list,
        description="origins besides this one that the UI may load evidence images and clips from (S3); "
        "filled in from the storage config")

    @field_validator("media_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        bad = [o for o in v if not _ORIGIN.fullmatch(o)]
        if bad:
            raise ValueError(f"{bad} must be origins: scheme://host[:port], nothing after")
        return v


class CasesSettings(_Strict):
    auto_case_min_confidence: dict[str, float] = Field(
        default_factory=dict,
        description="event type -> score at or above which an incident becomes a case without review "
        "(off by default: only confirmed incidents become cases)",
    )
    number_prefix: str = Field("SS", pattern=r"^[A-Z][A-Z0-9]{0,7}$")
    timezone: str = Field("Asia/Shanghai", description="the day in the case number is counted in this zone")
    public_base_url: str | None = Field(
        None, description="absolute base for evidence links sent to dispatch, e.g. https://streetsight.city.gov"
    )
    presign_expiry_s: float = Field(7 * 24 * 3600, gt=0, description="lifetime of presigned evidence URLs")

    @field_validator("auto_case_min_confidence")
    @classmethod
    def _scores(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: s for k, s in v.items() if not 0.0 <= s <= 1.0}
        if bad:
            raise ValueError(f"scores must be within 0..1: {bad}")
        return v

    @field_validator("public_base_url")
    @classmethod
    def _absolute_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"{v!r} must be an absolute http(s) URL without query, e.g. https://streetsight.city.gov")
        return v.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


class DispatchRule(_Strict):
    """First matching rule wins. An empty list matches anything."""

    department: str = Field(min_length=1, max_length=128)
    event_types: list[str] = Field(default_factory=list)
    areas: list[str] = Field(default_factory=list)
    min_confidence: float = Field(0.0, ge=0, le=1, description="below this the case goes to manual assignment")


class TimeLimit(_Strict):
    """Hours a department has to handle a case (处理时限). Empty fields match anything; the entry that
    names the most of department, area and event type wins (the first of equals)."""

    hours: float = Field(gt=0, le=24 * 365)
    department: str | None = Field(None, min_length=1, max_length=128)
    area: str | None = Field(None, min_length=1, max_length=128)
    event_type: str | None = Field(None, min_length=1, max_length=64)


_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class WorkPeriod(_Strict):
    start: str = Field(pattern=_HHMM, examples=["08:30"])
    end: str = Field(pattern=_HHMM, examples=["17:30"])

    @model_validator(mode="after")
    def _ordered(self) -> "WorkPeriod":
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class WorkingCalendarSettings(_Strict):
    """Working time: with a calendar a time limit counts only working hours on working days."""

    timezone: str = Field("Asia/Shanghai", description="IANA zone of the working hours")
    hours: list[WorkPeriod] = Field(min_length=1, description="working periods of a working day, in order")
    weekdays: list[int] = Field([1, 2, 3, 4, 5], description="working weekdays, 1 = Monday .. 7 = Sunday")
    holidays: list[str] = Field(default_factory=list, description="non-working dates, YYYY-MM-DD")
    extra_workdays: list[str] = Field(default_factory=list, description="working dates on a weekend (调休), YYYY-MM-DD")

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not value or any(d < 1 or d > 7 for d in value):
            raise ValueError("weekdays: one or more of 1 (Monday) .. 7 (Sunday)")
        return value

    @field_validator("holidays", "extra_workdays")
    @classmethod
    def _dates(cls, value: list[str]) -> list[str]:
        from datetime import date

        for day in value:
            try:
                date.fromisoformat(day)
            except ValueError:
                raise ValueError(f"{day!r} is not a date YYYY-MM-DD") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _periods_ordered(self) -> "WorkingCalendarSettings":
        for a, b in zip(self.hours, self.hours[1:]):
            if b.start < a.end:
                raise ValueError(f"hours: period {b.start}-{b.end} overlaps or precedes {a.start}-{a.end}")
        return self


class DispatchSettings(_Strict):
    url: str | None = Field(None, description="the dispatch system's case endpoint; unset: cases wait in the outbox")
    token: SecretStr | None = Field(None, description=f"bearer token for the dispatch API (or env {DISPATCH_TOKEN_ENV})")
    rules: list[DispatchRule] = Field(default_factory=list)
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="cases below this confidence go to manual assignment whatever the rules say"
    )
    timeout_s: float = Field(10.0, gt=0)
    concurrency: int = Field(4, ge=1, le=64, description="requests in flight at once")
    backoff_base_s: float = Field(1.0, gt=0, description="first retry delay; doubles per attempt, with jitter")
    backoff_max_s: float = Field(300.0, gt=0)
    lease_s: float = Field(60.0, gt=0, description="a claimed message is retried by another worker after this")
    poll_s: float = Field(1.0, gt=0, description="how often the worker looks for due messages when idle")
    callback_secret: SecretStr | None = Field(
        None, description=f"HMAC-SHA256 key of callbacks (or env {CALLBACK_SECRET_ENV}); unset: callbacks refused"
    )
    callback_tolerance_s: float = Field(300.0, gt=0, description="max clock skew of a callback's timestamp")
    recheck_after_s: float = Field(
        1800.0, ge=0, description="after 'handled', the violation must be gone from the camera within this time"
    )
    recheck_stale_s: float = Field(
        600.0, gt=0, description="an open incident not seen for this long before the deadline is not judged yet"
    )
    recheck_poll_s: float = Field(10.0, gt=0)
    default_time_limit_h: float = Field(24.0, gt=0, le=24 * 365, description="time limit without a matching entry")
    time_limits: list[TimeLimit] = Field(default_factory=list, description="per department, area and event type")
    calendar: WorkingCalendarSettings | None = Field(None, description="unset: limits count calendar time")
    reminder_fraction: float | None = Field(
        0.8, gt=0, lt=1, description="a case.reminder when this share of the limit has passed; null: none"
    )
    accept_within_s: float | None = Field(
        None, gt=0, description="a case.reminder when a dispatched case is not accepted (签收) within this; null: none"
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> "DispatchSettings":
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s must be at least backoff_base_s")
        return self

    def resolved_callback_secret(self) -> bytes | None:
        value = self.callback_secret.get_secret_value() if self.callback_secret else os.environ.get(CALLBACK_SECRET_ENV)
        return value.encode() if value else None

    def resolved_token(self) -> str | None:
        return self.token.get_secret_value() if self.token else os.environ.get(DISPATCH_TOKEN_ENV) or None


class MapSettings(_Strict):
    """The map page's base layer: the city's own GIS tile service (the service has no internet)."""

    tile_url: str | None = Field(
        None, description="tile URL template with {z}, {x} and {y}, e.g. https://gis.city.gov/tiles/{z}/{x}/{y}.png; "
        "unset: a plain lng/lat plot with the grid and area labels")
    attribution: str = Field("", max_length=500, description="credit shown on the map for the tiles")
    min_zoom: int = Field(0, ge=0, le=24)
    max_zoom: int = Field(19, ge=0, le=24)

    @field_validator("tile_url")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v.replace("{", "").replace("}", ""))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} must be an absolute http(s) URL template")
        missing = [p for p in ("{z}", "{x}", "{y}") if p not in v]
        if missing:
            raise ValueError(f"{v!r} lacks {', '.join(missing)}")
        return v

    def tile_origin(self) -> str | None:
        """The origin the page's CSP must allow images from."""
        if self.tile_url is None:
            return None
        parts = urlsplit(self.tile_url.replace("{", "").replace("}", ""))
        return f"{parts.scheme}://{parts.netloc}"


class UiSettings(_Strict):
    """The operator console (YAML: the ``ui:`` section)."""

    map: MapSettings = Field(default_factory=MapSettings)
    confirm_rate_floor: float | None = Field(
        None, ge=0, le=1, description="a camera whose confirm rate for an event type is below this is flagged "
        "(camera wall, statistics): what to retune or retrain; unset: nothing is flagged")
    confirm_rate_min_reviews: int = Field(
        20, ge=1, description="reviews of a camera and type needed before its confirm rate is judged")
    confirm_rate_days: int = Field(30, ge=1, le=366, description="the camera wall judges the last this many days")


class ApiSettings(_Strict):
    auth: AuthSettings = Field(default_factory=AuthSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    cases: CasesSettings = Field(default_factory=CasesSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    ui: UiSettings = Field(default_factory=UiSettings)


class SourceInfo(_Strict):
    """Where a fixed camera stands: copied into its cases (address, position, grid 网格, area)."""

    address: str | None = None
    lng: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    grid: str | None = None
    area: str | None = None
