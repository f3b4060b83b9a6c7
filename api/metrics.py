"""Prometheus metrics of the incidents API, in a registry per app (tests and multiple apps don't collide)."""
from __future__ import annotations

from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from .schemas import IncidentOut


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

    def incident_recorded(self, incident: IncidentOut) -> None:
        self.incidents_recorded.labels(type=incident.type, source=incident.source).inc()

    def reviewed(self, incident: IncidentOut) -> None:
        if incident.review is not None:
            self.reviews.labels(decision=incident.review.decision).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
