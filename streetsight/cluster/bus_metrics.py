"""Prometheus collectors of the event bus: ``publisher.collector`` (worker) and ``consumer.collector`` (API).

Values are read from the publisher's / consumer's plain counters when scraped (nothing to keep in sync);
register the collector in the process's registry to get them on ``/metrics``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .bus import EventConsumer, EventPublisher


class PublisherCollector(Collector):
    def __init__(self, publisher: "EventPublisher") -> None:
        self._p = publisher

    def collect(self) -> Iterator[Metric]:
        p = self._p
        yield CounterMetricFamily("streetsight_bus_published", "Events this worker added to the Redis stream",
                                  value=p.published)
        yield CounterMetricFamily("streetsight_bus_publish_redis_errors",
                                  "Failed attempts to send the outbox to Redis", value=p.redis_errors)
        backlog = p.backlog()
        if backlog >= 0:
            yield GaugeMetricFamily("streetsight_bus_outbox_events", "Events in the worker's outbox, not yet in Redis",
                                    value=backlog)


class ConsumerCollector(Collector):
    def __init__(self, consumer: "EventConsumer") -> None:
        self._c = consumer

    def collect(self) -> Iterator[Metric]:
        c = self._c
        for name, value, doc in (
            ("applied", c.applied, "Events stored in the database and acknowledged"),
            ("redelivered", c.redelivered, "Entries claimed after claim_idle_s (a dead consumer's, or retries)"),
            ("dead_lettered", c.dead_lettered, "Entries moved to the dead-letter stream"),
            ("consume_redis_errors", c.redis_errors, "Failed consumer passes against Redis"),
        ):
            yield CounterMetricFamily(f"streetsight_bus_{name}", doc, value=value)
        if c.last_lag is not None:
            yield GaugeMetricFamily("streetsight_bus_lag_events",
                                    "Entries the group has not acknowledged (as of the last trim pass)",
                                    value=c.last_lag)
