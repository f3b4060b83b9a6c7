"""Moving cameras' position reports in the records (issue 18). The live pipeline keeps only the last few
hundred reports per device in memory (or Redis); footage a device uploads hours later without a track is
positioned from these. ``persisting(sink)`` wraps the API's ``position_sink``: a report the sink accepts
(a known moving source, valid coordinates) is also stored."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from .db import PositionReportRecord
from .sources import PositionSink

Report = tuple[float, float, float]  # (unix s, lng, lat)


class PositionReports:
    """``keep_days``: reports older than this (by their own time) are dropped, at most once an hour, as new
    ones come in (150 devices reporting every 5 s make 2.6 million a day)."""

    PURGE_EVERY_S = 3600.0

    def __init__(self, sessions: sessionmaker[Session], keep_days: float = 30.0) -> None:
        self._sessions = sessions
        self.keep_s = keep_days * 86400
        self._purge_at = 0.0  # monotonic

    def record(self, source_id: str, lng: float, lat: float, timestamp: float) -> None:
        with self._sessions() as s:
            s.add(PositionReportRecord(source=source_id, time=timestamp, lng=lng, lat=lat,
                                       received_at=datetime.now(timezone.utc)))
            s.commit()
        if time.monotonic() >= self._purge_at:
            self._purge_at = time.monotonic() + self.PURGE_EVERY_S
            self.purge_before(time.time() - self.keep_s)

    def between(self, source_id: str, start: float, end: float) -> list[Report]:
        """The source's reports with ``start <= time <= end`` (unix s), in time order."""
        query = (select(PositionReportRecord.time, PositionReportRecord.lng, PositionReportRecord.lat)
                 .where(PositionReportRecord.source == source_id, PositionReportRecord.time >= start,
                        PositionReportRecord.time <= end)
                 .order_by(PositionReportRecord.time))
        with self._sessions() as s:
            return [(t, lng, lat) for t, lng, lat in s.execute(query)]

    def purge_before(self, timestamp: float) -> int:
        """Drop reports older than ``timestamp`` (unix s); how many went."""
        with self._sessions() as s:
            gone = s.execute(delete(PositionReportRecord).where(PositionReportRecord.time < timestamp)).rowcount
            s.commit()
        return gone or 0

    def persisting(self, sink: PositionSink) -> PositionSink:
        def report(source_id: str, lng: float, lat: float, timestamp: float):
            out = sink(source_id, lng, lat, timestamp)  # refuses unknown / fixed sources first
            self.record(source_id, lng, lat, timestamp)
            return out
        return report
