"""Retention: evidence older than its event type's retention is deleted, unless it is protected
(attached to a case: legal hold or the protection flag).

An object's age counts from its ``created_at`` metadata (when the evidence was made, kept through the
spool), else from the date in its key, else from its last modification. Objects whose key date is
younger than the shortest retention are skipped without a request, so a sweep costs one listing plus
one HEAD per object old enough to be a candidate.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Mapping

from evidence.store import CREATED_AT, ManagedEvidenceStore, ObjectEntry

log = logging.getLogger(__name__)

_KEY_DATE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/")
EVENT_TYPE = "event_type"  # metadata key naming the incident's event type


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep evidence, per event type; ``default_days`` for the rest (None: keep forever)."""

    per_type: Mapping[str, float] = field(default_factory=dict)
    default_days: float | None = None

    @classmethod
    def from_days(cls, days: Mapping[str, float]) -> "RetentionPolicy":
        """From the config's mapping: event type -> days, plus ``default``."""
        per_type = {k: float(v) for k, v in days.items() if k != "default"}
        default = days.get("default")
        return cls(per_type, None if default is None else float(default))

    def days_for(self, event_type: str | None) -> float | None:
        if event_type is not None and event_type in self.per_type:
            return self.per_type[event_type]
        return self.default_days

    @property
    def enabled(self) -> bool:
        return self.default_days is not None or bool(self.per_type)

    @property
    def shortest_days(self) -> float | None:
        values = [*self.per_type.values(), *([self.default_days] if self.default_days is not None else [])]
        return min(values) if values else None


@dataclass
class SweepReport:
    deleted: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)  # expired but kept: attached to a case
    kept: int = 0  # not expired (or no retention for their type)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"deleted": len(self.deleted), "protected": len(self.protected), "kept": self.kept,
                "errors": len(self.errors)}


def sweep(store: ManagedEvidenceStore, policy: RetentionPolicy, now: datetime | None = None,
          prefix: str = "", dry_run: bool = False) -> SweepReport:
    """Delete expired, unprotected objects under ``prefix``. Errors are collected, not raised: one
    object that cannot be checked or deleted does not stop the sweep (nor the server running it)."""
    now = now or datetime.now(timezone.utc)
    report = SweepReport()
    shortest = policy.shortest_days
    if shortest is None:
        return report
    try:
        entries = list(store.list_objects(prefix))
    except Exception as exc:
        report.errors.append(f"listing {prefix or '<all>'}: {type(exc).__name__}: {exc}")
        log.warning("retention sweep: %s", report.errors[-1])
        return report
    for entry in entries:
        try:
            _judge(store, policy, entry, now, shortest, report, dry_run)
        except Exception as exc:
            report.errors.append(f"{entry.key}: {type(exc).__name__}: {exc}")
            log.warning("retention sweep: %s", report.errors[-1])
    if report.deleted or report.errors:
        log.info("retention sweep%s: %s", " (dry run)" if dry_run else "", report.summary())
    return report


def _judge(store: ManagedEvidenceStore, policy: RetentionPolicy, entry: ObjectEntry, now: datetime,
           shortest: float, report: SweepReport, dry_run: bool) -> None:
    key_date = _key_date(entry.key)
    if key_date is not None and now - key_date < timedelta(days=shortest):
        report.kept += 1  # created on or after its key's date: younger than any retention
        return
    meta = store.metadata(entry.key)
    days = policy.days_for(meta.get(EVENT_TYPE))
    born = _parse_time(meta.get(CREATED_AT)) or key_date or entry.last_modified
    if days is None or now - born < timedelta(days=days):
        report.kept += 1
        return
    if store.is_protected(entry.key):
        report.protected.append(entry.key)
        return
    if not dry_run:
        store.delete(entry.key)
    report.deleted.append(entry.key)


def _key_date(key: str) -> datetime | None:
    m = _KEY_DATE.match(key)
    if m is None:
        return None
    try:
        return datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=timezone.utc)
    except ValueError:
        return None


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class RetentionSweeper:
    """Runs :func:`sweep` every ``interval_s`` in a daemon thread (``serve``)."""

    def __init__(self, store: ManagedEvidenceStore, policy: RetentionPolicy, interval_s: float) -> None:
        self.store, self.policy, self.interval_s = store, policy, interval_s
        self.last_report: SweepReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.policy.enabled and self.interval_s > 0:
            self._thread = threading.Thread(target=self._loop, name="evidence-retention", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.last_report = sweep(self.store, self.policy)
            except Exception:  # sweep() collects errors; this is a last resort
                log.exception("retention sweep failed")
