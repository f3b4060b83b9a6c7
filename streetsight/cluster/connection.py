"""One way to reach Redis for every cluster part, with timeouts so a dead server never hangs a thread."""
from __future__ import annotations

import os
import socket

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from streetsight.config import ClusterConfig, ConfigError


def connect(cluster: ClusterConfig) -> redis.Redis:
    if not cluster.redis_url:
        raise ConfigError("cluster.redis_url: required by the worker and api roles (e.g. redis://127.0.0.1:6379/0)")
    try:
        # short timeouts and one immediate retry: leases must notice an outage well inside the lease time
        # (redis-py's default retries for many seconds); our loops back off between longer outages
        return redis.Redis.from_url(cluster.redis_url, socket_connect_timeout=2.0, socket_timeout=3.0,
                                    decode_responses=False, retry=Retry(NoBackoff(), 1))
    except ValueError as exc:
        raise ConfigError(f"cluster.redis_url: {exc}") from None


def default_worker_id() -> str:
    """``<hostname>-<pid>``: unique, but not stable across restarts; set ``cluster.worker_id`` (or
    ``--worker-id``) so a restarted worker finds its outbox again."""
    return f"{socket.gethostname()}-{os.getpid()}"[:64].replace(" ", "_")
