"""Incident statistics counted by the database: ``GROUP BY`` per type, camera, area and day, so that no incident
row leaves it (a month of a city's 350 cameras is hundreds of thousands of incidents).

The figures are those of `api.incident_stats.python_stats` (the reference, kept to compare against):

- one *facts* subquery gives each incident of the query its group keys (the local day and the camera's area
  worked out in SQL), its outcome, reject reason, seconds to review, and its case's status, department and
  seconds to close;
- a few aggregates over it: counts and medians per group, reject reasons per group, cases per group, status and
  department; the total; the (camera, type) review counts of the confirm-rate flags.

Medians: PostgreSQL's ``percentile_cont(0.5)``; SQLite (the embedded default) has none, so the middle one or
two values are picked with ``row_number()`` over each group and averaged, as `statistics.median` does.
Local days: PostgreSQL converts with ``AT TIME ZONE``; SQLite has no zones, so the period is cut where the
zone's offset changes and each piece is shifted by its own offset.
"""
from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (Float, Integer, String, and_, case, cast, column, extract, func, null, select, table,
                        text, tuple_)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement, ColumnElement
from sqlalchemy.sql.selectable import Select, Subquery, TableClause

from .db import CaseRecord, CaseStageRecord, IncidentRecord
from .incident_stats import (Dimension, StatsQuery, StatsResult, StatsRow, incident_filter,
                             row_order)
from .settings import SourceInfo

Key = tuple[str | None, ...]
OUTCOMES = ("pending", "confirmed", "corrected", "rejected", "suppressed")


def sql_stats(s: Session, q: StatsQuery, places: Mapping[str, SourceInfo], dims: Sequence[Dimension],
              with_cases: bool = True) -> StatsResult:
    """`python_stats`' figures from aggregate queries. Without ``with_cases`` the case figures stay empty
    (roles that may not read cases) and the cases table is not read."""
    dialect = _dialect(s)
    with _facts_source(s, _facts(q, places, dims, dialect, with_cases), dialect) as facts:
        keys = [facts.c[d] for d in dims]
        rows, totals, by_camera_type = _counts(s, facts, [(tuple(dims), True), ((), True), (("camera", "type"), False)],
                                               dialect, with_cases)
        for key, reasons in _breakdown(s, select(*keys, facts.c.reason, func.count())
                                       .where(facts.c.outcome == "rejected").group_by(*keys, facts.c.reason)).items():
            rows[key].reject_reasons.update(reasons)
        if with_cases:
            by_case = select(*keys, facts.c.case_status, facts.c.department, func.count()) \
                .where(facts.c.case_id.is_not(None)).group_by(*keys, facts.c.case_status, facts.c.department)
            for row in s.execute(by_case):
                *key, status, department, n = row
                target = rows[_key(key)]
                target.cases_by_status[status] += n
                target.cases_by_department[department] += n
        total = totals.get((), StatsRow({}))
        for row in rows.values() if dims else ():  # the total's breakdowns are the sums of the groups'
            total.reject_reasons.update(row.reject_reasons)
            total.cases_by_status.update(row.cases_by_status)
            total.cases_by_department.update(row.cases_by_department)
        return StatsResult(total=total, rows=[rows[k] for k in sorted(rows, key=row_order)],
                           review_counts=[(str(r.key["camera"]), str(r.key["type"]), r.reviewed, r.confirmed)
                                          for r in by_camera_type.values()])


def _dialect(s: Session) -> str:
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        # JIT compiling these expressions took longer (~150 ms) than running them; this transaction only
        s.execute(text("SET LOCAL jit = off"))
    return dialect


class _CreateTempTableAs(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, name: str, statement: Select[Any]) -> None:
        self.name, self.statement = name, statement


@compiles(_CreateTempTableAs)
def _create_temp_table_as(element: _CreateTempTableAs, compiler: Any, **kw: Any) -> str:
    return f"CREATE TEMP TABLE {element.name} AS " + compiler.process(element.statement, **kw)


@contextmanager
def _facts_source(s: Session, facts: Select[Any], dialect: str) -> Iterator[Subquery | TableClause]:
    """What the aggregates read. PostgreSQL: the facts as a subquery of each of its three aggregates (one
    GROUPING SETS scan, reject reasons, cases; it drops the joins an aggregate does not need). SQLite: the facts
    written once into a temporary table of this connection, so that incidents, cases and stages are joined once,
    not once per aggregate (a temporary table: the main database stays unlocked)."""
    if dialect == "postgresql":
        yield facts.subquery("facts")
        return
    name = f"stats_facts_{uuid.uuid4().hex[:12]}"
    # in memory, not a temporary file: writing the table was three times slower on a file (a month: ~20 MB)
    temp_store = s.execute(text("PRAGMA temp_store")).scalar()
    s.execute(text("PRAGMA temp_store = MEMORY"))
    s.execute(_CreateTempTableAs(name, facts))
    try:
        yield table(name, *(column(c.name) for c in facts.selected_columns))
    finally:
        s.execute(text(f"DROP TABLE temp.{name}"))
        s.execute(text(f"PRAGMA temp_store = {int(temp_store or 0)}"))


def _facts(q: StatsQuery, places: Mapping[str, SourceInfo], dims: Iterable[Dimension], dialect: str,
           with_cases: bool) -> Select[Any]:
    """One row per incident of the query: its keys named by ``dims`` (and camera and type, for the flags) and
    what the aggregates count. The keys are labelled columns of a subquery or table so that GROUP BY names them
    (PostgreSQL would not match an expression with bound parameters in SELECT to the same one in GROUP BY)."""
    where = incident_filter(q, places)
    i = IncidentRecord
    key_columns = {"type": lambda: i.type, "camera": lambda: i.source, "area": lambda: _area(i.source, places),
                   "day": lambda: _local_day(i.detected_wall, q, dialect)}
    corrected = and_(i.corrected_type.is_not(None), i.corrected_type != "", i.corrected_type != i.type)
    outcome = case((i.status == "confirmed", case((corrected, "corrected"), else_="confirmed")),
                   (i.status.in_(("rejected", "suppressed")), i.status), else_="pending")
    columns: list[Any] = [key_columns[d]().label(d) for d in dict.fromkeys([*dims, "camera", "type"])]
    columns += [outcome.label("outcome"),
                func.coalesce(func.nullif(i.reject_reason, ""), "unspecified").label("reason"),
                _seconds(i.reviewed_at, i.detected_wall, dialect).label("review_s")]
    query = select(*columns).select_from(i)
    if with_cases:
        query = query.add_columns(
            CaseRecord.id.label("case_id"), CaseRecord.status.label("case_status"),
            func.coalesce(func.nullif(CaseRecord.department, ""), "unassigned").label("department"),
            case((CaseRecord.id.is_not(None), _close_seconds(dialect))).label("close_s"),
        ).outerjoin(CaseRecord, CaseRecord.incident_id == i.id)
    return query.where(*where)


GroupingSet = tuple[tuple[str, ...], bool]
"""Names of the facts' key columns to group by, and whether the group's medians are wanted."""


def _close_seconds(dialect: str) -> ColumnElement[float]:
    """Seconds from filing the case to its first closing, looked up per case (index on case_stages.case_id)."""
    first = func.min(CaseStageRecord.at)
    if dialect != "postgresql":  # microseconds inside the subquery: SQLite would run it once per reference
        first = _micros(first)
    closed = (select(first).where(CaseStageRecord.case_id == CaseRecord.id, CaseStageRecord.stage == "closed")
              .scalar_subquery())
    if dialect == "postgresql":
        return _seconds(closed, CaseRecord.created_at, dialect)
    return cast(closed - _micros(CaseRecord.created_at), Float) / 1000000.0


def _counts_query(facts: Subquery | TableClause, sets: Sequence[GroupingSet], dialect: str,
                  with_cases: bool) -> tuple[Select[Any], list[str]]:
    """Per group: [the grouping bitmask], the count, the count of each outcome, [cases], [PostgreSQL: median
    review_s, [close_s]]; with the key columns selected first. Several sets: PostgreSQL's GROUPING SETS (one
    scan of the facts for the groups, the total and the flags' counts)."""
    columns = list(dict.fromkeys(name for names, _ in sets for name in names))
    measures: list[Any] = [func.count()] + [func.sum(case((facts.c.outcome == o, 1), else_=0)) for o in OUTCOMES]
    if with_cases:
        measures.append(func.count(facts.c.case_id))
    if dialect == "postgresql":
        measures += [func.percentile_cont(0.5).within_group(facts.c[m]) for m in _medians(with_cases)]
    keys = [facts.c[name] for name in columns]
    if len(sets) == 1:
        return select(*keys, *measures).group_by(*keys), columns
    return select(*keys, func.grouping(*keys), *measures).group_by(
        func.grouping_sets(*(tuple_(*(facts.c[n] for n in names)) for names, _ in sets))), columns


def _medians(with_cases: bool) -> tuple[str, ...]:
    return ("review_s", "close_s") if with_cases else ("review_s",)


def _counts(s: Session, facts: Subquery | TableClause, sets: Sequence[GroupingSet], dialect: str,
            with_cases: bool) -> list[dict[Key, StatsRow]]:
    """For each grouping set: its groups' counts and (where wanted) medians."""
    unique = list({frozenset(names): (names, medians) for names, medians in reversed(sets)}.values())[::-1]
    if dialect != "postgresql":  # no GROUPING SETS: a query per set on the temporary table
        found = {frozenset(names): _read_counts(s, _counts_query(facts, [(names, medians)], dialect, with_cases),
                                                [(names, medians)], dialect, with_cases)[0]
                 for names, medians in unique}
        for names, medians in unique:
            for name in _medians(with_cases) if medians else ():
                keys = [facts.c[n] for n in names]
                for key, value in _window_medians(s, facts, keys, facts.c[name]).items():
                    setattr(found[frozenset(names)][key], f"median_{name}", _round(value))
    else:
        found = dict(zip((frozenset(names) for names, _ in unique),
                         _read_counts(s, _counts_query(facts, unique, dialect, with_cases), unique, dialect, with_cases)))
    return [found[frozenset(names)] for names, _ in sets]


def _read_counts(s: Session, query: tuple[Select[Any], list[str]], sets: Sequence[GroupingSet], dialect: str,
                 with_cases: bool) -> list[dict[Key, StatsRow]]:
    statement, columns = query
    width = len(columns)
    masks = {sum(1 << (width - 1 - k) for k, c in enumerate(columns) if c not in names): n
             for n, (names, _) in enumerate(sets)}
    out: list[dict[Key, StatsRow]] = [{} for _ in sets]
    for row in s.execute(statement):
        values = dict(zip(columns, row[:width]))
        rest = list(row[width:])
        n = masks[int(rest.pop(0))] if len(sets) > 1 else 0
        names = sets[n][0]
        key = _key(values[name] for name in names)
        group = out[n][key] = StatsRow(dict(zip(names, key)))
        counts = [int(v or 0) for v in rest[:1 + len(OUTCOMES)]]
        (group.incidents, group.pending, group.confirmed, group.corrected, group.rejected, group.suppressed) = counts
        rest = rest[1 + len(OUTCOMES):]
        if with_cases:
            group.cases = int(rest.pop(0))
        if dialect == "postgresql":
            for name, value in zip(_medians(with_cases), rest):
                setattr(group, f"median_{name}", _round(value))
    return out


class Explain(Executable, ClauseElement):
    """``EXPLAIN ANALYZE`` (PostgreSQL) or ``EXPLAIN QUERY PLAN`` (SQLite) of a statement, its parameters bound
    as usual."""

    inherit_cache = False

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain_analyze(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (ANALYZE, BUFFERS) " + compiler.process(element.statement, **kw)


@compiles(Explain)
def _explain_query_plan(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN QUERY PLAN " + compiler.process(element.statement, **kw)


def explain_counts(s: Session, q: StatsQuery, places: Mapping[str, SourceInfo], dims: Sequence[Dimension]) -> list[str]:
    """The database's plan of the main aggregate (per group counts and medians), for measuring indexes."""
    dialect = _dialect(s)
    facts = _facts(q, places, dims, dialect, True)
    if dialect == "postgresql":
        sub = facts.subquery("facts")
        query = _counts_query(sub, [(tuple(dims), True)], dialect, True)[0]
    else:
        query = facts  # what SQLite's temporary table is filled from; the aggregates read that table
    return [str(row[-1]) for row in s.execute(Explain(query))]


def _window_medians(s: Session, facts: Subquery | TableClause, keys: list[Any], value: Any) -> dict[Key, float]:
    """The median of ``value`` per group without ``percentile_cont``: the middle row (odd count) or the mean of
    the two middle rows (even count) of each group ordered by the value; NULLs are left out."""
    partition = keys or None
    ranked = select(*keys, value.label("v"),
                    func.row_number().over(partition_by=partition, order_by=value).label("rn"),
                    func.count().over(partition_by=partition).label("n")).where(value.is_not(None)).subquery()
    names = [ranked.c[k.name] for k in keys]
    middle = (ranked.c.rn * 2).between(ranked.c.n, ranked.c.n + 2)  # rows (n+1)/2 or n/2 and n/2+1
    return {_key(row[:-1]): row[-1] for row in
            s.execute(select(*names, func.avg(ranked.c.v)).where(middle).group_by(*names))}


def _breakdown(s: Session, query: Any) -> dict[Key, Counter[str]]:
    """Rows of (keys..., code, n) as a Counter of codes per group key."""
    out: dict[Key, Counter[str]] = {}
    for row in s.execute(query):
        *key, code, n = row
        out.setdefault(_key(key), Counter())[code] += n
    return out


def _key(values: Iterable[Any]) -> Key:
    # PostgreSQL's to_char and SQLite's date() both give the day as text already
    return tuple(None if v is None else str(v) for v in values)


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _area(source: Any, places: Mapping[str, SourceInfo]) -> ColumnElement[Any]:
    """A camera's area from its place in the records, as a CASE over the (few) areas."""
    by_area: dict[str, list[str]] = {}
    for sid, place in places.items():
        if place.area is not None:
            by_area.setdefault(place.area, []).append(sid)
    if not by_area:
        return cast(null(), String)
    return case(*((source.in_(sids), area) for area, sids in sorted(by_area.items())), else_=null())


def _local_day(wall: Any, q: StatsQuery, dialect: str) -> ColumnElement[str]:
    """'YYYY-MM-DD' of ``wall`` (UTC) in the query's zone."""
    if dialect == "postgresql":
        return func.to_char(func.timezone(q.timezone, wall), "YYYY-MM-DD")
    runs = offset_runs(q)
    shifted = [func.date(_whole_seconds(wall), f"{offset:+d} seconds") for _, offset in runs]
    if len(runs) == 1:
        return shifted[0]
    return case(*((wall < runs[n + 1][0], shifted[n]) for n in range(len(runs) - 1)), else_=shifted[-1])


def offset_runs(q: StatsQuery) -> list[tuple[datetime, int]]:
    """The zone's UTC offset (seconds) over the query's period as runs: [(from, offset), ...]. Offsets are looked
    up hourly and each change is narrowed to the second it happens."""
    zone = ZoneInfo(q.timezone)
    start, end = q.wall_bounds()

    def offset(at: datetime) -> int:
        return int((at.astimezone(zone).utcoffset() or timedelta(0)).total_seconds())

    runs = [(start, offset(start))]
    at = start
    while at < end:
        step = min(at + timedelta(hours=1), end)
        if offset(step) != runs[-1][1]:
            low, high = at, step  # offset(low) is the run's, offset(high) is new
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == runs[-1][1] else (low, middle)
            runs.append((high, offset(high)))
        at = step
    return runs


def _seconds(later: Any, earlier: Any, dialect: str) -> ColumnElement[float]:
    """``(later - earlier).total_seconds()`` in SQL, to the microsecond; NULL when either is NULL."""
    if dialect == "postgresql":
        return cast(extract("epoch", later - earlier), Float)
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's format); julianday() would round to milliseconds
    return cast(_micros(later) - _micros(earlier), Float) / 1000000.0


def _micros(wall: Any) -> ColumnElement[int]:
    return cast(func.strftime("%s", _whole_seconds(wall)), Integer) * 1000000 + cast(func.substr(wall, 21, 6), Integer)


def _whole_seconds(wall: Any) -> ColumnElement[str]:
    """SQLite's date functions round a time to the millisecond: 23:59:59.999999 would become the next day."""
    return func.substr(wall, 1, 19)

