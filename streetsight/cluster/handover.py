"""Open incidents per camera kept in Redis, so the worker that takes a camera over continues them.

Without this, a worker that dies (or gives a camera away when sources rebalance) would leave its open
incidents behind and the next owner would open a second incident for the same parked car. Each open
incident is one field of the camera's hash ``<prefix>:open:<source>`` (incident id → JSON); set when
opened, deleted when it ends. An ended incident moves to ``<prefix>:recent:<source>`` (with the wall time
it ended) for a day, so the next owner keeps its spot in cooldown: a car that re-parks on the same spot
minutes after its incident ended opens no second one because the camera changed workers.
Best effort: if Redis is briefly unreachable the worst case is the duplicate this prevents.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from detectors.incidents import Incident, IncidentEvent
from streetsight.config import ClusterConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

RECENT_KEEP_S = 86400.0  # longer than any sensible cooldown
RECENT_PRUNE_AT = 256  # entries per camera before old ones are deleted


def incident_to_json(incident: Incident) -> str:
    return json.dumps(dataclasses.asdict(incident), separators=(",", ":"))


def incident_from_json(text: str | bytes) -> Incident:
    return incident_from_dict(json.loads(text))


def incident_from_dict(data: dict) -> Incident:
    data = {k: v for k, v in data.items() if not k.startswith("_")}  # "_opened_wall": the board's own
    return Incident(**{**data, "box": tuple(data["box"]), "frame_size": tuple(data["frame_size"])})


class HandoverBoard:
    def __init__(self, client: redis.Redis, cluster: ClusterConfig) -> None:
        self.client = client
        self.cluster = cluster

    def _key(self, source_id: str) -> str:
        return self.cluster.key("open", source_id)

    def _recent_key(self, source_id: str) -> str:
        return self.cluster.key("recent", source_id)

    def on_event(self, event: IncidentEvent) -> None:
        """The pipeline's event listener: keep the hash in step with this worker's incidents."""
        inc = event.incident
        try:
            if event.kind == "opened":
                entry = json.dumps({**dataclasses.asdict(inc), "_opened_wall": time.time()}, separators=(",", ":"))
                self.client.hset(self._key(inc.source_id), inc.id, entry)
            elif event.kind == "ended":
                recent = self._recent_key(inc.source_id)
                entry = json.dumps({"incident": dataclasses.asdict(inc), "ended_wall": time.time()},
                                   separators=(",", ":"))
                _, _, _, size = (self.client.pipeline(transaction=False).hdel(self._key(inc.source_id), inc.id)
                                 .hset(recent, inc.id, entry).expire(recent, int(RECENT_KEEP_S))
                                 .hlen(recent).execute())
                if size > RECENT_PRUNE_AT:
                    self.recent_incidents(inc.source_id)  # reading prunes what is older than RECENT_KEEP_S
        except redis.RedisError as exc:
            log.warning("incident %s: could not record its %s state for handover: %s", inc.id, event.kind, exc)

    def open_incidents(self, source_id: str) -> list[Incident]:
        """What the previous owner of ``source_id`` left open (empty if Redis does not answer)."""
        return [inc for inc, _ in self.open_incidents_aged(source_id)]

    def open_incidents_aged(self, source_id: str) -> list[tuple[Incident, float]]:
        """(incident, wall seconds since its ``last_seen_at`` as recorded here) the previous owner of
        ``source_id`` left open: the age lets the next owner continue the incident's own clock."""
        now = time.time()

        def parse(text: bytes) -> tuple[Incident, float]:
            data = json.loads(text)
            return incident_from_dict(data), max(0.0, now - float(data.get("_opened_wall", now)))

        return self._read(self._key(source_id), f"source {source_id}: handed-over incidents", parse)

    def recent_incidents(self, source_id: str) -> list[tuple[Incident, float]]:
        """(incident, seconds since it ended) for incidents ended on ``source_id`` within ``RECENT_KEEP_S``
        (empty if Redis does not answer); older entries are deleted."""
        now = time.time()

        def parse(text: bytes) -> tuple[Incident, float] | None:
            data = json.loads(text)
            ago = now - float(data["ended_wall"])
            return None if ago > RECENT_KEEP_S else (incident_from_dict(data["incident"]), ago)

        return self._read(self._recent_key(source_id), f"source {source_id}: recently ended incidents", parse)

    def _read(self, key: str, what: str, parse: Callable[[bytes], T | None]) -> list[T]:
        """The parsed entries of hash ``key``; entries ``parse`` rejects (None) or cannot read are deleted."""
        try:
            entries = self.client.hgetall(key)
        except redis.RedisError as exc:
            log.warning("%s: could not read them: %s", what, exc)
            return []
        out, drop = [], []
        for field_name, text in entries.items():
            try:
                value = parse(text)
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("%s: entry %r is unreadable (%s); removed", what, field_name, exc)
                value = None
            if value is None:
                drop.append(field_name)
            else:
                out.append(value)
        if drop:
            try:
                self.client.hdel(key, *drop)
            except redis.RedisError:
                pass  # deleted on a later read
        return out
