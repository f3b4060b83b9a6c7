"""What both ends of the event bus share: their Redis client and how they ride out a Redis outage."""
from __future__ import annotations

import logging
import time

import redis

from common.backoff import Backoff
from streetsight.config import ClusterConfig

from .connection import bus_client

log = logging.getLogger("streetsight.cluster.bus")


def client_for(cluster: ClusterConfig, given: redis.Redis | None, purpose: str) -> tuple[redis.Redis, bool]:
    """``given``, or a bus client of our own (True: ours to close)."""
    if given is not None:
        return given, False
    if not cluster.redis_url:
        raise ValueError(f"cluster.redis_url is required to {purpose}")
    return bus_client(cluster.redis_url), True


class Outage:
    """The backoff of a Redis outage (common.backoff), logged once per outage rather than once per retry."""

    def __init__(self, who: str, first_s: float = 0.2, cap_s: float = 5.0) -> None:
        self.who, self.first_s, self.cap_s = who, first_s, cap_s
        self._backoff = Backoff(first_s, cap_s)
        self.since: float | None = None

    def failed(self, error: BaseException) -> float:
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s: Redis unreachable (%s: %s); retrying every %.1f-%.0f s until it answers",
                        self.who, type(error).__name__, error, self.first_s / 2, self.cap_s)
        return self._backoff.next_delay()

    def recovered(self) -> None:
        if self.since is not None:
            log.info("%s: Redis reachable again after %.1f s", self.who, time.monotonic() - self.since)
            self.since = None
        self._backoff.reset()
