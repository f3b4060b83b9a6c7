"""Processing time limits (处理时限): how long a department has for a case, and when that time runs out,
counted in working time when a working calendar is configured."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .settings import DispatchSettings, TimeLimit, WorkingCalendarSettings

MAX_DAYS = 3 * 366  # a limit that finds no working time within this is a misconfigured calendar


def limit_hours(settings: DispatchSettings, department: str | None, area: str | None, event_type: str) -> float:
    """The hours of the most specific matching entry (most of department, area, event type named;
    the first of equals), else the default."""
    best: TimeLimit | None = None
    best_score = -1
    for entry in settings.time_limits:
        wanted = (entry.department, entry.area, entry.event_type)
        have = (department, area, event_type)
        if any(w is not None and w != h for w, h in zip(wanted, have)):
            continue
        score = sum(w is not None for w in wanted)
        if score > best_score:
            best, best_score = entry, score
    return best.hours if best is not None else settings.default_time_limit_h


class WorkingCalendar:
    def __init__(self, settings: WorkingCalendarSettings) -> None:
        self.zone = ZoneInfo(settings.timezone)
        self.periods = [(time.fromisoformat(p.start), time.fromisoformat(p.end)) for p in settings.hours]
        self.weekdays = set(settings.weekdays)
        self.holidays = {date.fromisoformat(d) for d in settings.holidays}
        self.extra = {date.fromisoformat(d) for d in settings.extra_workdays}

    def working_day(self, day: date) -> bool:
        if day in self.holidays:
            return False
        return day in self.extra or day.isoweekday() in self.weekdays

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment when ``seconds`` of working time have passed since ``start``."""
        remaining = timedelta(seconds=seconds)
        cursor = start.astimezone(self.zone)
        day = cursor.date()
        for _ in range(MAX_DAYS):
            if self.working_day(day):
                for begin, end in self.periods:
                    period_start = datetime.combine(day, begin, self.zone)
                    period_end = datetime.combine(day, end, self.zone)
                    effective = max(cursor, period_start)
                    if effective >= period_end:
                        continue
                    available = period_end - effective
                    if remaining <= available:
                        return (effective + remaining).astimezone(start.tzinfo)
                    remaining -= available
                    cursor = period_end
            day += timedelta(days=1)
        raise ValueError(f"the working calendar has no working time within {MAX_DAYS} days")


def due_at(settings: DispatchSettings, start: datetime, seconds: float) -> datetime:
    """``start`` plus ``seconds`` of (working) time."""
    if settings.calendar is None:
        return start + timedelta(seconds=seconds)
    return WorkingCalendar(settings.calendar).add(start, seconds)
