"""Prometheus metrics of the API side, in a registry per app (tests and multiple apps don't collide):
incidents, reviews, cases, the dispatch outbox (depth, age) and delivery (outcomes, latency)."""
from __future__ import annotations

import math
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .schemas import IncidentOut

CASE_STATUSES = ("manual", "queued", "dispatched", "accepted", "handled", "verified", "closed", "reopened")


def _safe(read: Callable[[], float]) -> Callable[[], float]:
    def wrapped() -> float:
        try:
            return float(read())
        except Exception:  # a scrape must not fail because the database is down
            return math.nan

    return wrapped


class _CasesByStatus(Collector):
    def __init__(self, count_by_status: Callable[[], dict[str, int]]) -> None:
        self._count = count_by_status

    def collect(self):  # type: ignore[override]
        family = GaugeMetricFamily("streetsight_cases", "Cases by status", labels=["status"])
        try:
            counts = self._count()
        except Exception:
            return
        for status in CASE_STATUSES:
            family.add_metric([status], counts.get(status, 0))
        yield family


class _OverdueByDepartment(Collector):
    def __init__(self, overdue: Callable[[], dict[str, int]]) -> None:
        self._overdue = overdue

    def collect(self):  # type: ignore[override]
        family = GaugeMetricFamily("streetsight_cases_overdue",
                                   "Dispatched cases past their deadline and not handled, by department",
                                   labels=["department"])
        try:
            counts = self._overdue()
        except Exception:
            return
        for department, n in sorted(counts.items()):
            family.add_metric([department], n)
        yield family


class ApiMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, pending_count: Callable[[], float] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.incidents_recorded = Counter(
            "streetsight_incidents_recorded",
            "Incidents recorded (new ids only; idempotent re-adds are not counted)",
            ["type", "source"],
            registry=self.registry,
        )
        self.reviews = Counter(
            "streetsight_reviews",
            "Reviews applied, by decision (repeats of the same decision are not counted)",
            ["decision"],
            registry=self.registry,
        )
        for decision in ("confirm", "reject"):
            self.reviews.labels(decision=decision)  # export zeros so rate() works from the start
        if pending_count is not None:
            pending = Gauge(
                "streetsight_incidents_pending", "Incidents waiting for review", registry=self.registry
            )
            pending.set_function(pending_count)
        self.cases_created = Counter(
            "streetsight_cases_created", "Cases created, by routing (a department, or the manual queue)",
            ["routing"], registry=self.registry,
        )
        self.case_changes = Counter(
            "streetsight_case_changes", "Case status changes after creation, by new status", ["status"],
            registry=self.registry,
        )
        for routing in ("department", "manual"):
            self.cases_created.labels(routing=routing)
        self.deliveries = Counter(
            "streetsight_dispatch_deliveries",
            "Attempts to deliver outbox messages, by outcome (delivered, server_error, rejected, unreachable)",
            ["outcome"], registry=self.registry,
        )
        for outcome in ("delivered", "server_error", "rejected", "unreachable"):
            self.deliveries.labels(outcome=outcome)
        self.delivery_latency = Histogram(
            "streetsight_dispatch_delivery_latency_seconds",
            "From enqueue in the outbox to acceptance by the dispatch system",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=self.registry,
        )

    def watch_cases(self, count_by_status: Callable[[], dict[str, int]], outbox_depth: Callable[[], float],
                    outbox_oldest_age_s: Callable[[], float]) -> None:
        self.registry.register(_CasesByStatus(count_by_status))
        Gauge("streetsight_outbox_depth", "Dispatch messages not yet accepted by the receiver",
              registry=self.registry).set_function(_safe(outbox_depth))
        Gauge("streetsight_outbox_oldest_age_seconds", "Age of the oldest undelivered dispatch message",
              registry=self.registry).set_function(_safe(outbox_oldest_age_s))

    def watch_overdue(self, overdue_by_department: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_OverdueByDepartment(overdue_by_department))

    def incident_recorded(self, incident: IncidentOut) -> None:
        self.incidents_recorded.labels(type=incident.type, source=incident.source).inc()

    def reviewed(self, incident: IncidentOut) -> None:
        if incident.review is not None:
            self.reviews.labels(decision=incident.review.decision).inc()

    def case_created(self, manual: bool) -> None:
        self.cases_created.labels(routing="manual" if manual else "department").inc()

    def case_changed(self, status: str) -> None:
        self.case_changes.labels(status=status).inc()

    def delivery(self, outcome: str, latency_s: float | None) -> None:
        self.deliveries.labels(outcome=outcome).inc()
        if latency_s is not None:
            self.delivery_latency.observe(latency_s)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
