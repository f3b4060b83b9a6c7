"""``GET /api/v1/stats``: incidents, confirm rates, reviews and cases per type, camera, area and day; and
``GET /api/v1/stats/departments``: department performance (考核) per period. JSON or CSV."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from .auth import Principal, require
from .cases import CaseService
from .department_stats import department_performance, rule_misses
from .incident_stats import DIMENSIONS, Dimension, StatsQuery, confirm_rate_flags
from .stats_sql import sql_stats

CSV_FIELDS = ("department", "area", "received", "handled", "on_time", "late", "on_time_rate", "median_handle_s",
              "returns", "reopened", "reopen_rate")
MAX_PERIOD = timedelta(days=366)
STATS_CSV_COUNTS = ("incidents", "pending", "reviewed", "confirmed", "corrected", "rejected", "suppressed",
                    "confirm_rate", "median_review_s")
STATS_CSV_CASES = ("cases", "median_close_s")
STATS_CSV_MAPS = ("reject_reasons", "cases_by_status", "cases_by_department")  # written as "code:n; code:n"


class ConfirmRateFlagOut(BaseModel):
    camera: str
    type: str
    reviewed: int
    confirmed: int
    confirm_rate: float


class IncidentStatsRow(BaseModel):
    """One group; the key fields (type, camera, area, day) named in ``group_by`` are set."""

    type: str | None = None
    camera: str | None = None
    area: str | None = None
    day: date | None = None
    incidents: int
    pending: int
    reviewed: int = Field(description="confirmed + corrected + rejected")
    confirmed: int = Field(description="confirmed as the type reported")
    corrected: int = Field(description="confirmed as another type: a miss of the reported type")
    rejected: int
    suppressed: int = Field(description="suppressed by the verifier, not reviewed")
    confirm_rate: float | None = Field(description="confirmed / reviewed; null when none is reviewed")
    reject_reasons: dict[str, int]
    median_review_s: float | None = Field(description="median seconds from detection to review")
    cases: int | None = Field(None, description="cases made of the incidents (for roles that may read cases)")
    cases_by_status: dict[str, int] | None = None
    cases_by_department: dict[str, int] | None = None
    median_close_s: float | None = Field(None, description="median seconds from filing a case to closing it")


class IncidentStatsReport(BaseModel):
    first_day: date = Field(alias="from")
    last_day: date = Field(alias="to")
    timezone: str
    group_by: list[Dimension]
    confirm_rate_floor: float | None
    confirm_rate_min_reviews: int
    total: IncidentStatsRow
    rows: list[IncidentStatsRow]
    flags: list[ConfirmRateFlagOut] = Field(
        description="camera and type whose confirm rate is below ui.confirm_rate_floor (enough reviews)")

    model_config = {"populate_by_name": True}


def parse_group_by(value: str) -> list[Dimension]:
    dims = [d.strip() for d in value.split(",") if d.strip()]
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad or len(set(dims)) != len(dims):
        raise HTTPException(422, f"group_by: {value!r} must be distinct names among {', '.join(DIMENSIONS)}")
    return dims  # type: ignore[return-value]


def stats_csv(rows: Iterable[dict[str, Any]], dims: list[Dimension], with_cases: bool) -> str:
    fields = [*dims, *STATS_CSV_COUNTS, "reject_reasons", *((*STATS_CSV_CASES, *STATS_CSV_MAPS[1:]) if with_cases else ())]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("; ".join(f"{c}:{n}" for c, n in v.items()) if isinstance(v, Mapping) else v)
                         for k, v in row.items()})
    return out.getvalue()


class DepartmentStats(BaseModel):
    department: str
    area: str | None = Field(description="set when grouped by area")
    received: int = Field(description="deliveries to the department (rounds) dispatched in the period")
    handled: int
    on_time: int
    late: int = Field(description="handled after the deadline, or open past it")
    on_time_rate: float | None = Field(description="on_time / (on_time + late); null when none is judged yet")
    median_handle_s: float | None = Field(description="median seconds from dispatched to handled")
    returns: int = Field(description="rounds the department returned (回退)")
    reopened: int
    reopen_rate: float | None = Field(description="handled rounds the camera's re-check re-opened / handled")


class RuleStats(BaseModel):
    rule: int = Field(description="index in dispatch.rules")
    department: str | None
    routed: int = Field(description="cases the rule routed, filed in the period")
    misses: int = Field(description="of them, returned by the department in their first round")


class DepartmentReport(BaseModel):
    since: datetime
    until: datetime
    departments: list[DepartmentStats]
    rules: list[RuleStats]


def stats_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/stats", tags=["stats"])

    @router.get("", response_model=IncidentStatsReport, response_model_by_alias=True,
                responses={200: {"content": {"text/csv": {}}}, 422: {}})
    def incident_stats(
        request: Request,
        principal: Annotated[Principal, Depends(require("incidents:read"))],
        first_day: Annotated[date | None, Query(alias="from", description="first local day; default: 29 days "
                                                "before `to`")] = None,
        last_day: Annotated[date | None, Query(alias="to", description="last local day (inclusive); default: "
                                               "today")] = None,
        type: str | None = None,
        camera: str | None = None,
        area: str | None = None,
        group_by: Annotated[str, Query(description="comma-separated: type, camera, area, day")] = "type",
        format: Literal["json", "csv"] = "json",
    ) -> Any:
        """Incidents detected on the local days [from, to] (``cases.timezone``) per ``group_by``: reviews and
        the confirm rate, reject reasons, time to review; cases by status and department and time to close
        (for roles that may read cases). ``flags``: cameras whose confirm rate for a type is below
        ``ui.confirm_rate_floor``. ``format=csv`` for export (one line per group)."""
        settings = request.app.state.settings
        dims = parse_group_by(group_by)
        tz = settings.cases.timezone
        last_day = last_day or datetime.now(ZoneInfo(tz)).date()
        first_day = first_day or last_day - timedelta(days=29)
        if last_day < first_day:
            raise HTTPException(422, "to: must be on or after from")
        if last_day - first_day >= MAX_PERIOD:
            raise HTTPException(422, f"to: a period is at most {MAX_PERIOD.days} days")
        query = StatsQuery(first_day, last_day, tz, type=type, camera=camera, area=area)
        cases: CaseService = request.app.state.cases
        with_cases = principal.may("cases:read")
        with cases.session() as s:
            stats = sql_stats(s, query, getattr(request.app.state, "source_places", {}), dims, with_cases)
        rows = [r.as_dict(with_cases) for r in stats.rows]
        if format == "csv":
            return Response(stats_csv(rows, dims, with_cases), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="stats.csv"'})
        ui = settings.ui
        return IncidentStatsReport(
            first_day=first_day, last_day=last_day, timezone=tz, group_by=dims,
            confirm_rate_floor=ui.confirm_rate_floor, confirm_rate_min_reviews=ui.confirm_rate_min_reviews,
            total=IncidentStatsRow.model_validate(stats.total.as_dict(with_cases)),
            rows=[IncidentStatsRow.model_validate(r) for r in rows],
            flags=[ConfirmRateFlagOut.model_validate(f, from_attributes=True)
                   for f in confirm_rate_flags(stats.review_counts, ui.confirm_rate_floor,
                                               ui.confirm_rate_min_reviews)])

    @router.get("/departments", response_model=DepartmentReport, dependencies=[Depends(require("cases:read"))],
                responses={200: {"content": {"text/csv": {}}}})
    def departments(
        request: Request,
        since: AwareDatetime,
        until: AwareDatetime,
        group_by: Annotated[Literal["department", "area"], Query(description="area: per department and area")]
        = "department",
        format: Literal["json", "csv"] = "json",
    ) -> Any:
        """Per department (and area) for rounds dispatched in [since, until): received, on-time rate, median
        time to handle, returns, reopen rate; and each dispatch rule's misses. ``format=csv`` for export."""
        if until <= since:
            raise HTTPException(422, "until: must be after since")
        if until - since > MAX_PERIOD:
            raise HTTPException(422, f"until: a period is at most {MAX_PERIOD.days} days")
        cases: CaseService = request.app.state.cases
        rules = request.app.state.settings.dispatch.rules
        with cases.session() as s:
            rows = department_performance(s, since, until, cases.now(), by_area=group_by == "area")
            misses = rule_misses(s, since, until)
        for m in misses:
            index = int(m["rule"])  # type: ignore[call-overload]
            if index < len(rules):
                m["department"] = rules[index].department
        if format == "csv":
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="departments.csv"'})
        return DepartmentReport(since=since, until=until, departments=rows, rules=misses)  # type: ignore[arg-type]

    return router
