"""The statistics counted in SQL (`api.stats_sql.sql_stats`) equal the reference computation in Python
(`api.incident_stats.python_stats`) on a generated set with every edge, on SQLite and on a real PostgreSQL."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from api.db import CaseRecord, IncidentRecord, create_engine_for, init_db, make_session_factory
from api.incident_stats import StatsQuery, StatsResult, python_stats
from api.stats_sql import offset_runs, sql_stats
from streetsight.bench.stats_data import camera_places, generate_stats_data

CAMERAS = 40
GROUPINGS = [(), ("type",), ("camera",), ("area",), ("day",), ("camera", "type"), ("type", "camera"),
             ("day", "area"), ("area", "day", "camera", "type")]


def as_plain(result: StatsResult, with_cases: bool) -> dict[str, Any]:
    return {"total": result.total.as_dict(with_cases), "rows": [r.as_dict(with_cases) for r in result.rows],
            "review_counts": sorted(result.review_counts)}


def edge_incident(k: int, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"id": f"inc_edge{k:04d}", "type": "illegal_parking", "source": "cam-0001", "status": "pending",
            "started_at": 1.0, "confirmed_at": 2.0, "detected_wall": at, "class_name": "car", "box": [1, 1, 2, 2],
            "score": 0.5, "frame_size": [64, 36], "priority": 0.0, **extra}


@pytest.fixture(params=["Europe/Berlin", "Asia/Shanghai"])
def stats_db(request: pytest.FixtureRequest, database_url: str):
    """A period of 2026-03-20..04-05 local (Berlin changes to summer time on 03-29) with ~900 generated incidents
    from a day before to a day after it, and edges: incidents on the period's first and last local microsecond and
    just outside, one on the camera without an area, a shadow incident with a case."""
    zone = request.param
    engine = create_engine_for(database_url)
    init_db(engine)
    sessions = make_session_factory(engine)
    query = StatsQuery(date(2026, 3, 20), date(2026, 4, 5), zone)
    start, end = query.wall_bounds()
    data = generate_stats_data(sessions, 900, start - timedelta(days=1), (end - start).days + 2, cameras=CAMERAS)
    tick = timedelta(microseconds=1)
    confirmed = {"status": "confirmed", "reviewed_at": start + timedelta(seconds=90.25)}
    edges = [edge_incident(0, start, **confirmed), edge_incident(1, start - tick, **confirmed),
             edge_incident(2, end - tick, status="rejected", reject_reason="outside_zone",
                           reviewed_at=end + timedelta(seconds=30)),
             edge_incident(3, end, status="rejected"), edge_incident(4, start + timedelta(days=3), source="cam-0000"),
             edge_incident(5, start + timedelta(days=4), status="shadow")]
    with sessions() as s:
        s.execute(insert(IncidentRecord), edges)
        s.execute(insert(CaseRecord), [{
            "id": 100_000, "number": "SS-shadow", "incident_id": "inc_edge0005", "status": "closed",
            "type": "illegal_parking", "description": "a shadow incident's case must not count", "source": "cam-0001",
            "occurred_at": start, "confidence": 0.5, "evidence": [], "created_at": start, "updated_at": start}])
        s.commit()
    try:
        yield sessions, query, data.places
    finally:
        engine.dispose()


def test_sql_statistics_equal_the_python_reference_on_every_edge(stats_db) -> None:
    sessions, query, places = stats_db
    assert "cam-0000" not in places  # a camera without a record: its area is None
    with sessions() as s:
        for dims in GROUPINGS:
            for with_cases in (True, False):
                expected = as_plain(python_stats(s, query, places, dims), with_cases)
                got = as_plain(sql_stats(s, query, places, dims, with_cases), with_cases)
                assert got == expected, (dims, with_cases)
        reference = python_stats(s, query, places, ("type",))
        for q in (StatsQuery(query.first_day, query.last_day, query.timezone, type="street_vending"),
                  StatsQuery(query.first_day, query.last_day, query.timezone, camera="cam-0001"),
                  StatsQuery(query.first_day, query.last_day, query.timezone, area="west", type="illegal_parking"),
                  StatsQuery(query.first_day, query.first_day, query.timezone)):
            assert as_plain(sql_stats(s, q, places, ("day", "camera")), True) == \
                as_plain(python_stats(s, q, places, ("day", "camera")), True), q

    total = reference.total
    # the generated set holds every edge the figures distinguish
    assert min(total.pending, total.confirmed, total.corrected, total.rejected, total.suppressed) > 0
    assert {"unspecified", "outside_zone"} <= set(total.reject_reasons)
    assert set(total.cases_by_status) >= {"manual", "queued", "dispatched", "accepted", "handled", "verified",
                                          "closed", "reopened"}
    assert "unassigned" in total.cases_by_department and total.median_close_s is not None
    assert total.incidents < 900  # a day either side of the period and the shadow incidents are left out


def test_local_days_in_sql_cut_the_period_where_the_offset_changes() -> None:
    berlin = offset_runs(StatsQuery(date(2026, 3, 20), date(2026, 4, 5), "Europe/Berlin"))
    assert [(at.astimezone(timezone.utc).isoformat(), offset) for at, offset in berlin] == [
        ("2026-03-19T23:00:00+00:00", 3600), ("2026-03-29T01:00:00+00:00", 7200)]
    assert len(offset_runs(StatsQuery(date(2026, 1, 1), date(2026, 12, 31), "Asia/Shanghai"))) == 1
    # a 30-minute change (Lord Howe Island) is found to the second
    lord_howe = offset_runs(StatsQuery(date(2026, 3, 1), date(2026, 4, 30), "Australia/Lord_Howe"))
    change = lord_howe[1][0]
    zone = ZoneInfo("Australia/Lord_Howe")
    assert (change - timedelta(seconds=1)).astimezone(zone).utcoffset() != change.astimezone(zone).utcoffset()


def test_an_empty_period_gives_a_zero_total_and_no_rows(tmp_path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'empty.db'}")
    init_db(engine)
    with make_session_factory(engine)() as s:
        result = sql_stats(s, StatsQuery(date(2026, 1, 1), date(2026, 1, 31), "Asia/Shanghai"), camera_places(5),
                           ("camera",))
    assert result.rows == [] and result.review_counts == []
    assert result.total.as_dict()["incidents"] == 0 and result.total.as_dict()["median_review_s"] is None
    engine.dispose()


def test_bench_stats_runs_both_paths_side_by_side_and_checks_they_agree(tmp_path, database_url) -> None:
    """`streetsight bench stats` as a user calls it, on a small size: SQLite, or the given PostgreSQL database."""
    from tests.test_cli import run_cli

    args = ["bench", "stats", "--incidents", "400", "--runs", "1", "--cameras", "20", "--out", str(tmp_path)]
    if database_url.startswith("sqlite"):
        args += ["--backends", "sqlite"]
    else:
        args += ["--backends", "postgresql", "--postgres-url", database_url]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    [run] = result["results"]
    assert run["backend"] == database_url.split(":")[0].split("+")[0]
    assert run["incidents_in_period"] == 400 and run["incidents_before_period"] == 400
    assert [g["group_by"] for g in run["groupings"]] == ["type", "camera,type", "day", "area,day"]
    assert all(g["equal"] and g["python_ms"] > 0 and g["sql_ms"] > 0 for g in run["groupings"])
    assert run["plan"]  # the plan of the main aggregate; PostgreSQL's also without the 0015 index
    assert ("plan_without_detected_wall_index" in run) == (run["backend"] == "postgresql")
    assert list(tmp_path.glob("stats-*.json"))


def test_bench_stats_refuses_two_sizes_in_one_given_database() -> None:
    from tests.test_cli import run_cli

    done = run_cli("bench", "stats", "--incidents", "10,20", "--postgres-url", "postgresql+psycopg://x@127.0.0.1/y")
    assert done.returncode == 2 and "--postgres-url" in done.stderr and "Traceback" not in done.stderr
