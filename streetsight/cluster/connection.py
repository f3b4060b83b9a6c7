"""One way to reach Redis for every cluster part, with timeouts so a dead server never hangs a thread."""
from __future__ import annotations

import os
import socket
from typing import Any

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from streetsight.config import ClusterConfig, ConfigError


def redis_text(value: Any) -> str:
    """A Redis reply (bytes from the bytes clients, str from `fast_client`) as text; bytes that are not
    UTF-8 are replaced rather than raised on, so one bad entry cannot break a whole read."""
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def connect(cluster: ClusterConfig) -> redis.Redis:
    """The general client: bytes replies, short timeouts and one immediate retry (a pooled connection that
    died with a Redis restart); our loops back off between longer outages (redis-py's default retries
    for many seconds)."""
    return _client(_url(cluster), connect_timeout_s=2.0, timeout_s=3.0)


def bus_client(url: str) -> redis.Redis:
    """For the event bus: as `connect`, with a longer read timeout for blocking stream reads; bytes, so a
    non-UTF-8 entry cannot break a whole read."""
    return _client(url, connect_timeout_s=2.0, timeout_s=10.0)


def fast_client(cluster: ClusterConfig) -> redis.Redis:
    """Fails fast (timeouts and retries well under a heartbeat), so a lease beat keeps its rhythm during
    an outage and a rule that asks Redis never stalls analysis for long; str replies."""
    timeout = max(0.1, min(1.0, cluster.resolved_heartbeat_s() / 3))
    return _client(_url(cluster), connect_timeout_s=timeout, timeout_s=timeout, decode=True,
                   retry=Retry(ExponentialBackoff(cap=timeout / 2, base=0.01), 2))


def _url(cluster: ClusterConfig) -> str:
    if not cluster.redis_url:
        raise ConfigError("cluster.redis_url: required by the worker and api roles (e.g. redis://127.0.0.1:6379/0)")
    return cluster.redis_url


def _client(url: str, *, connect_timeout_s: float, timeout_s: float, decode: bool = False,
            retry: Retry | None = None) -> redis.Redis:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=connect_timeout_s, socket_timeout=timeout_s,
                                    decode_responses=decode, retry=retry or Retry(NoBackoff(), 1))
    except ValueError as exc:
        raise ConfigError(f"cluster.redis_url: {exc}") from None


def default_worker_id() -> str:
    """``<hostname>-<pid>``: unique, but not stable across restarts; set ``cluster.worker_id`` (or
    ``--worker-id``) so a restarted worker finds its outbox again."""
    return f"{socket.gethostname()}-{os.getpid()}"[:64].replace(" ", "_")
