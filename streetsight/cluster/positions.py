"""Position reports of moving cameras across processes: the API receives them, the worker reading the
camera needs them. The API validates a report, appends it to ``<prefix>:positions:<source>`` (a sorted
set by timestamp, last ``keep`` reports) and publishes it on ``<prefix>:positions``; workers subscribe,
and a worker that takes a camera over loads its recent history first.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence

import redis

from api.sources import PositionSinkUnavailable
from streams.positions import PositionBoard
from streetsight.cluster.loop import BackgroundLoop
from streetsight.config import ClusterConfig, SourceConfig

log = logging.getLogger(__name__)


def board_for(sources: Sequence[SourceConfig], max_skew_s: float | None = None) -> PositionBoard:
    enabled = [s for s in sources if s.enabled]
    return PositionBoard(moving=[s.id for s in enabled if s.kind == "enforcement"],
                         fixed=[s.id for s in enabled if s.kind != "enforcement"], max_skew_s=max_skew_s)


class PositionRelay:
    """API side ``position_sink``: validate like the single-process board, then hand over through Redis."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig, sources: Sequence[SourceConfig],
                 keep: int = 512) -> None:
        self.client = client
        self.cluster = cluster
        self.keep = keep
        self.validator = board_for(sources)  # raises UnknownSource / NotAMovingSource / ValueError

    def report(self, source_id: str, lng: float, lat: float, timestamp: float) -> dict:
        position = self.validator.report(source_id, lng, lat, timestamp)
        entry = json.dumps({"source": source_id, **position.as_dict()}, separators=(",", ":"))
        key = self.cluster.key("positions", source_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(key, {entry: position.timestamp})
        pipe.zremrangebyrank(key, 0, -self.keep - 1)
        pipe.publish(self.cluster.key("positions"), entry)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            raise PositionSinkUnavailable(f"position not relayed to the workers: Redis: {exc}") from None
        return position.as_dict()


class PositionFeed:
    """Worker side: feeds reports for the moving cameras into the pipeline's ``PositionBoard``."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig, board: PositionBoard) -> None:
        self.client = client
        self.cluster = cluster
        self.board = board
        self._loop = BackgroundLoop("position-feed", self._run)

    def start(self) -> "PositionFeed":
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()

    def load_history(self, source_id: str) -> int:
        """The reports Redis keeps for ``source_id`` (a camera this worker just took over)."""
        if not self.board.is_moving(source_id):
            return 0
        try:
            entries = self.client.zrange(self.cluster.key("positions", source_id), 0, -1)
        except redis.RedisError as exc:
            log.warning("source %s: cannot load its position history: %s", source_id, exc)
            return 0
        return sum(self._apply(raw) for raw in entries)

    def _apply(self, raw: bytes | str) -> bool:
        try:
            e = json.loads(raw)
            self.board.report(e["source"], e["lng"], e["lat"], e["timestamp"])
            return True
        except (ValueError, KeyError, TypeError, LookupError) as exc:
            log.debug("position entry ignored (%s): %r", exc, raw)
            return False

    def _run(self, stop: threading.Event) -> None:
        failing = False
        while not stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.cluster.key("positions"))
                if failing:
                    log.info("position feed reconnected")
                failing = False
                while not stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._apply(message["data"])
            except redis.RedisError as exc:
                if not failing:
                    log.warning("position feed lost Redis: %s (reconnecting)", exc)
                failing = True
                stop.wait(1.0)
            finally:
                try:
                    pubsub.close()
                except redis.RedisError:
                    pass
