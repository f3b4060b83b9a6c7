"""Moving cameras' findings merged across workers, through Redis (the scale-out `Merger`).

In one process a `GeoMerger` makes two enforcement devices that see the same street vendor raise one
incident. With scale-out the two devices may be read by different workers, and each worker's own
`GeoMerger` would let both open one: a reviewer would see the vendor twice, and dispatch would send two
cases. So a worker keeps findings in Redis:

* ``<prefix>:geo:idx:<type>``   GEO set of findings (member: incident id, where it was first found; and
                                ``<id>@latest``, where its device last saw it), searched with GEOSEARCH
* ``<prefix>:geo:seen:<type>``  the same members scored by their latest sighting (for pruning)
* ``<prefix>:geo:find:<id>``    hash: ``last_time`` (device clock, unix s) and ``incident`` (JSON)
* ``<prefix>:geo:dev:<id>``     set of the devices that saw it

The incident stays with the worker that opened it (it ends it, with the devices of every worker); another
worker's device that joins gets a copy, which only stops that device opening its own. Matching and
registering a new finding are one Lua script (`claim`), so two devices that confirm the same vendor at
the same moment on two workers cannot both miss each other and both open. While Redis does
not answer, merging falls back to this worker's own findings (a duplicate is possible then, never a loss
or a crash).
"""
from __future__ import annotations

import logging
import threading

import redis

from detectors.geo import GeoMerger, haversine_m, lat_lng_time
from detectors.incidents import Incident
from streetsight.cluster.connection import redis_text
from streetsight.cluster.handover import incident_from_json, incident_to_json
from streetsight.config import ClusterConfig

log = logging.getLogger(__name__)

# KEYS: index, seen, find:<new id>, dev:<new id>
# ARGV: lng, lat, radius_m, ts, window_s, find key prefix, ttl_s, new id, new incident JSON, new device, stale_before
_CLAIM = """
local hits = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', ARGV[3], 'm', 'ASC')
local ts, window = tonumber(ARGV[4]), tonumber(ARGV[5])
for _, member in ipairs(hits) do
  local id = string.gsub(member, '@latest$', '')
  local key = ARGV[6] .. id
  local last = redis.call('HGET', key, 'last_time')
  if not last then
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', KEYS[2], member)
  elseif math.abs(ts - tonumber(last)) <= window then
    if ts > tonumber(last) then
      redis.call('HSET', key, 'last_time', ARGV[4])
      redis.call('ZADD', KEYS[2], ARGV[4], id)
    end
    redis.call('EXPIRE', key, ARGV[7])
    return {id, redis.call('HGET', key, 'incident')}
  end
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[11], 'LIMIT', 0, 100)
for _, old in ipairs(stale) do
  redis.call('ZREM', KEYS[1], old)
  redis.call('ZREM', KEYS[2], old)
end
redis.call('GEOADD', KEYS[1], ARGV[1], ARGV[2], ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[8])
redis.call('HSET', KEYS[3], 'last_time', ARGV[4], 'incident', ARGV[9])
redis.call('EXPIRE', KEYS[3], ARGV[7])
redis.call('SADD', KEYS[4], ARGV[10])
redis.call('EXPIRE', KEYS[4], ARGV[7])
return false
"""

# KEYS: index, seen, find:<id>; ARGV: lng, lat, ts, ttl_s, latest member
_SEEN = """
if redis.call('EXISTS', KEYS[3]) == 0 then return false end
redis.call('GEOADD', KEYS[1], ARGV[1], ARGV[2], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5])
local last = redis.call('HGET', KEYS[3], 'last_time')
if not last or tonumber(ARGV[3]) > tonumber(last) then redis.call('HSET', KEYS[3], 'last_time', ARGV[3]) end
redis.call('EXPIRE', KEYS[3], ARGV[4])
return true
"""
SEEN_MOVE_M = 3.0  # a sighting is sent to Redis when the device moved this far since the last one sent
SEEN_EVERY_S = 30.0  # ... or this long after it (the finding's time keeps within the merge window)


def _ttl_s(window_s: float) -> int:
    """Findings outlive their merge window (device clocks drift); Redis forgets them after this."""
    return int(max(60.0, 2 * window_s))


class RedisGeoMerger:
    def __init__(self, client: redis.Redis, cluster: ClusterConfig) -> None:
        self.client = client
        self.cluster = cluster
        self._claim = client.register_script(_CLAIM)
        self._seen = client.register_script(_SEEN)
        self._sent: dict[str, tuple[float, float, float]] = {}  # incident id -> (lat, lng, ts) last sent
        self._own: dict[str, Incident] = {}  # opened or adopted here, until they end
        self._local = GeoMerger()  # this worker's findings, for when Redis does not answer
        self._lock = threading.Lock()
        self._ttl = _ttl_s(0)
        self._failing = False

    def _key(self, *parts: str) -> str:
        return self.cluster.key("geo", *parts)

    def claim(self, incident: Incident, position: dict, radius_m: float, window_s: float) -> Incident | None:
        lat, lng, ts = lat_lng_time(position)
        ttl = _ttl_s(window_s)
        with self._lock:
            self._ttl = max(self._ttl, ttl)
        try:
            found = self._claim(
                keys=[self._key("idx", incident.type), self._key("seen", incident.type),
                      self._key("find", incident.id), self._key("dev", incident.id)],
                args=[lng, lat, radius_m, ts, window_s, self._key("find", ""), ttl, incident.id,
                      incident_to_json(incident), incident.source_id, ts - 2 * window_s])
        except redis.RedisError as exc:
            self._unanswered(exc)
            existing = self._local.claim(incident, position, radius_m, window_s)
        else:
            self._answered()
            if found:
                return self._incident(redis_text(found[0]), found[1])
            self._local.add(incident, position)  # so this worker still merges with it while Redis is away
            existing = None
        if existing is None:
            with self._lock:
                self._own[incident.id] = incident
        return existing

    def _incident(self, incident_id: str, stored: bytes) -> Incident:
        """This worker's own object, or a copy of another worker's incident (it only stops a duplicate)."""
        with self._lock:
            own = self._own.get(incident_id)
        return own if own is not None else incident_from_json(stored)

    def joined(self, incident: Incident, source_id: str) -> None:
        self._local.joined(incident, source_id)
        key = self._key("dev", incident.id)
        try:
            self.client.pipeline(transaction=False).sadd(key, source_id).expire(key, self._ttl).execute()
            self._answered()
        except redis.RedisError as exc:
            self._unanswered(exc)

    def devices(self, incident: Incident) -> list[str]:
        with self._lock:
            self._own.pop(incident.id, None)  # it ends: later sightings meet its finding, not this object
            self._sent.pop(incident.id, None)
        devices = self._local.devices(incident)
        try:
            others = sorted(redis_text(d) for d in self.client.smembers(self._key("dev", incident.id)))
            self._answered()
        except redis.RedisError as exc:
            self._unanswered(exc)
            return devices
        for device in others:
            if device not in devices:
                devices.append(device)
        return devices

    def adopt(self, incident: Incident) -> None:
        with self._lock:
            self._own[incident.id] = incident
        self._local.adopt(incident)

    def seen(self, incident: Incident, position: dict) -> None:
        self._local.seen(incident, position)
        lat, lng, ts = lat_lng_time(position)
        with self._lock:
            sent = self._sent.get(incident.id)
            if sent is not None and haversine_m(lat, lng, sent[0], sent[1]) < SEEN_MOVE_M \
                    and ts - sent[2] < SEEN_EVERY_S:
                return
            self._sent[incident.id] = (lat, lng, ts)
        try:
            self._seen(keys=[self._key("idx", incident.type), self._key("seen", incident.type),
                             self._key("find", incident.id)],
                       args=[lng, lat, ts, self._ttl, f"{incident.id}@latest"])
        except redis.RedisError as exc:
            self._unanswered(exc)
        else:
            self._answered()

    def _answered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("geo merge: Redis answers again; moving cameras' findings merge across workers")

    def _unanswered(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            log.warning("geo merge: Redis does not answer (%s); findings merge within this worker only", exc)

