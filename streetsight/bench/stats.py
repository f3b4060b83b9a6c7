"""`streetsight bench stats`: ``GET /api/v1/stats``' computation, the old way (every incident of the period read
into Python, `python_stats`) and the new (aggregated by the database, `sql_stats`), side by side in one run on
the same generated data, per database (SQLite, PostgreSQL) and size.

Each size gets a fresh database with ``incidents`` incidents in the 30-day period asked for (plus
``history`` times as many in the months before it, which the query must skip), their reviews, cases and case
stages (`streetsight.bench.stats_data`). Per grouping: the median of ``runs`` calls of each path, and whether the
two gave the same figures. PostgreSQL: a private cluster (Debian's binaries) unless a URL is given; the
database's plan of the main aggregate is kept (PostgreSQL ``EXPLAIN ANALYZE``, SQLite ``EXPLAIN QUERY PLAN``),
and on PostgreSQL also without migration 0015's index on ``incidents.detected_wall``.
"""
from __future__ import annotations

import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.db import create_engine_for, init_db, make_session_factory
from api.incident_stats import Dimension, StatsQuery, StatsResult, python_stats
from api.stats_sql import explain_counts, sql_stats
from streetsight.bench.stats_data import generate_stats_data

GROUPINGS: tuple[tuple[Dimension, ...], ...] = (("type",), ("camera", "type"), ("day",), ("area", "day"))
PERIOD_DAYS = 30
TIMEZONE = "Asia/Shanghai"


def _plain(result: StatsResult) -> dict[str, Any]:
    return {"total": result.total.as_dict(), "rows": [r.as_dict() for r in result.rows],
            "review_counts": sorted(result.review_counts)}


def _median_ms(call: Callable[[], StatsResult], runs: int) -> tuple[float, StatsResult]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    assert result is not None
    return round(statistics.median(times), 1), result


def bench_database(url: str, incidents: int, history: float, runs: int, groupings: Sequence[tuple[Dimension, ...]],
                   cameras: int, log: Callable[[str], None]) -> dict[str, Any]:
    engine = create_engine_for(url)
    try:
        init_db(engine)
        sessions = make_session_factory(engine)
        query = StatsQuery(date(2026, 11, 1), date(2026, 11, PERIOD_DAYS), TIMEZONE)
        start, end = query.wall_bounds()
        started = time.perf_counter()
        data = generate_stats_data(sessions, incidents, start, PERIOD_DAYS, cameras=cameras)
        older = int(incidents * history)
        if older:
            generate_stats_data(sessions, older, start - timedelta(days=PERIOD_DAYS * history), PERIOD_DAYS * history,
                                cameras=cameras, seed=31, id_prefix="inc_h",
                                first_case_id=data.cases + 1)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        load_s = round(time.perf_counter() - started, 1)
        log(f"{engine.dialect.name}: {incidents} incidents in the period (+{older} before it), "
            f"{data.cases} cases, loaded in {load_s} s")
        out: dict[str, Any] = {"backend": engine.dialect.name, "version": _version(engine.dialect.name, sessions),
                               "incidents_in_period": incidents, "incidents_before_period": older,
                               "cases_in_period": data.cases, "cameras": cameras, "load_s": load_s, "groupings": []}
        with sessions() as s:
            for dims in groupings:
                python_ms, expected = _median_ms(lambda: python_stats(s, query, data.places, dims), runs)
                sql_ms, got = _median_ms(lambda: sql_stats(s, query, data.places, dims), runs)
                row = {"group_by": ",".join(dims), "rows": len(got.rows), "python_ms": python_ms, "sql_ms": sql_ms,
                       "speedup": round(python_ms / sql_ms, 1) if sql_ms else None,
                       "equal": _plain(got) == _plain(expected)}
                log(f"  group_by={row['group_by']}: python {python_ms} ms, sql {sql_ms} ms, equal {row['equal']}")
                out["groupings"].append(row)
            out["plan"] = explain_counts(s, query, data.places, groupings[0])
            s.rollback()
            if engine.dialect.name == "postgresql":
                # the same plan without migration 0015's index: dropped inside a transaction, then rolled back
                # (PostgreSQL's DDL is transactional; Python's sqlite3 would drop it for good)
                s.execute(text("DROP INDEX ix_incidents_detected_wall"))
                out["plan_without_detected_wall_index"] = explain_counts(s, query, data.places, groupings[0])
                s.rollback()
        return out
    finally:
        engine.dispose()


def _version(dialect: str, sessions: Callable[[], Session]) -> str:
    with sessions() as s:
        return str(s.execute(text("SELECT version()" if dialect == "postgresql" else "SELECT sqlite_version()"))
                   .scalar())


def run_stats_bench(sizes: Sequence[int] = (20_000, 200_000), backends: Sequence[str] = ("sqlite", "postgresql"),
                    postgres_url: str | None = None, runs: int = 3, history: float = 1.0,
                    groupings: Sequence[tuple[Dimension, ...]] = GROUPINGS, cameras: int = 350,
                    log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="streetsight-bench-stats-") as tmp:
        server = None
        for backend in backends:
            for n in sizes:
                if backend == "sqlite":
                    url = f"sqlite:///{Path(tmp) / f'stats-{n}.db'}"
                elif postgres_url:
                    url = postgres_url
                else:
                    if server is None:
                        from streetsight.bench.postgres_server import PostgresServer

                        server = PostgresServer().start()
                        stack.callback(server.stop)
                        log(f"private PostgreSQL on port {server.port}")
                    url = server.url(server.create_database())
                results.append(bench_database(url, n, history, runs, groupings, cameras, log))
    return {"kind": "stats", "machine": {"platform": platform.platform(), "python": platform.python_version()},
            "timezone": TIMEZONE, "period_days": PERIOD_DAYS, "runs": runs, "results": results}
