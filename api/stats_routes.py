"""``GET /api/v1/stats/departments``: department performance (考核) per period, as JSON or CSV."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from .auth import require
from .cases import CaseService
from .department_stats import department_performance, rule_misses

CSV_FIELDS = ("department", "area", "received", "handled", "on_time", "late", "on_time_rate", "median_handle_s",
              "returns", "reopened", "reopen_rate")
MAX_PERIOD = timedelta(days=366)


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
