"""Open incidents per camera kept in Redis, so the worker that takes a camera over continues them.

Without this, a worker that dies (or gives a camera away when sources rebalance) would leave its open
incidents behind and the next owner would open a second incident for the same parked car. Each open
incident is one field of the camera's hash ``<prefix>:open:<source>`` (incident id → JSON); set when
opened, deleted when it ends. Best effort: if Redis is briefly unreachable the worst case is the duplicate this prevents.
"""
from __future__ import annotations

import dataclasses
import json
import logging

import redis

from detectors.incidents import Incident, IncidentEvent
from streetsight.config import ClusterConfig

log = logging.getLogger(__name__)


def incident_to_json(incident: Incident) -> str:
    return json.dumps(dataclasses.asdict(incident), separators=(",", ":"))


def incident_from_json(text: str | bytes) -> Incident:
    data = json.loads(text)
    data["box"] = tuple(data["box"])
    data["frame_size"] = tuple(data["frame_size"])
    return Incident(**data)


class HandoverBoard:
    def __init__(self, client: redis.Redis, cluster: ClusterConfig) -> None:
        self.client = client
        self.cluster = cluster

    def _key(self, source_id: str) -> str:
        return self.cluster.key("open", source_id)

    def on_event(self, event: IncidentEvent) -> None:
        """The pipeline's event listener: keep the hash in step with this worker's incidents."""
        inc = event.incident
        try:
            if event.kind == "opened":
                self.client.hset(self._key(inc.source_id), inc.id, incident_to_json(inc))
            elif event.kind == "ended":
                self.client.hdel(self._key(inc.source_id), inc.id)
        except redis.RedisError as exc:
            log.warning("incident %s: could not record its %s state for handover: %s", inc.id, event.kind, exc)

    def open_incidents(self, source_id: str) -> list[Incident]:
        """What the previous owner of ``source_id`` left open (empty if Redis does not answer)."""
        key = self._key(source_id)
        try:
            entries = self.client.hgetall(key)
        except redis.RedisError as exc:
            log.warning("source %s: could not read handed-over incidents: %s", source_id, exc)
            return []
        out = []
        for incident_id, text in entries.items():
            try:
                inc = incident_from_json(text)
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("handover entry %r is unreadable (%s); removed", incident_id, exc)
                self.client.hdel(key, incident_id)
                continue
            out.append(inc)
        return out
