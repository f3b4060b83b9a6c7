"""The ``worker`` role: read the cameras this worker holds leases for, run the detectors, write evidence,
and send incident records to the API processes through the Redis event bus.

Which cameras: `LeaseManager` (one lease per camera in Redis, heartbeats, rebalancing, capacity). Taking a
camera starts its reader in the shared `LivePipeline` and continues the incidents the previous owner left
open (`HandoverBoard`); giving it away stops the reader first, then writes pending clips and leaves open
incidents to the next owner. Records go through `EventPublisher` (a durable local outbox drained into a
Redis stream), so neither a Redis outage nor an API outage loses an incident.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

import redis
from prometheus_client import CollectorRegistry, start_http_server

from streams.urls import mask_text
from streetsight.cluster.bus import EventPublisher
from streetsight.cluster.connection import connect, default_worker_id, fast_client
from streetsight.cluster.examples import follow_examples
from streetsight.cluster.footage import FootageJobTaker, JobState, ReportedPositions
from streetsight.cluster.frames import FramePublisher
from streetsight.cluster.geo_merge import RedisGeoMerger
from streetsight.cluster.handover import HandoverBoard
from streetsight.cluster.leases import LeaseManager
from streetsight.cluster.positions import PositionFeed
from streetsight.cluster.source_board import SourceHealthPublisher
from streetsight.cluster.sources import RedisSourceFollower
from streetsight.config import Config, ConfigError
from streetsight.incident_embedding import load_incident_embedder
from streetsight.pipeline import LivePipeline
from streetsight.recovery import CLIP_LOST
from streetsight.recorder import IncidentRecorder
from streetsight.runtime import load_detector
from streetsight.evidence_backend import build_evidence_backend

log = logging.getLogger(__name__)


class ClusterWorker:
    def __init__(self, cfg: Config, worker_id: str | None = None, capacity: int | None = None) -> None:
        cluster = cfg.cluster
        self.cfg = cfg
        self.worker_id = worker_id or cluster.worker_id or default_worker_id()
        self.capacity = cluster.capacity if capacity is None else capacity
        self.redis = connect(cluster)
        outbox_dir = Path(cluster.outbox_dir) if cluster.outbox_dir else Path(cfg.storage.data_dir) / "outbox"
        outbox_dir.mkdir(parents=True, exist_ok=True)
        self.publisher = EventPublisher(cluster, self.worker_id, outbox_dir / f"{self.worker_id}.sqlite")
        self.evidence = build_evidence_backend(cfg.storage)
        self.recorder = IncidentRecorder(self.evidence.store, self.publisher, cfg.evidence, keep_recorded=False,
                                         embedder=load_incident_embedder(cfg.learning))
        self.handover = HandoverBoard(self.redis, cluster)
        # taught examples: the records the API processes publish, registered before the rules are built
        self.examples = follow_examples(self.redis, cfg)
        from streetsight.shadow import build_shadow

        # a candidate model in shadow mode (model.shadow): its incidents go on the bus tagged with the model
        shadow = build_shadow(cfg, None, self.recorder, bus=self.publisher)
        self.pipeline = LivePipeline(cfg, load_detector(cfg), self.recorder, start_sources=False, shadow=shadow,
                                     keep_running=True, event_listener=self.handover.on_event,
                                     # fails fast: a confirmation during an outage must not stall analysis
                                     merger=RedisGeoMerger(fast_client(cluster), cluster))
        from streetsight.model_switching import watch_assignments

        from streetsight.shadow import enter_shadow

        # models promote/rollback and a retrained shadow candidate, on this node's shared registry folder
        watch_assignments(self.pipeline, cfg, enter_shadow=lambda model: enter_shadow(
            self.pipeline, cfg, None, self.recorder, model, bus=self.publisher))
        self.sources = {s.id: s for s in cfg.sources if s.enabled}
        # camera records published by the API processes replace the config's sources, here and as they change
        self.follower = RedisSourceFollower(self.redis, cluster, self._sources_changed, cluster.resolved_heartbeat_s())
        try:
            published = self.follower.read()
        except redis.RedisError:
            published = None  # Redis not up yet: the config's sources until the follower reads the records
        if published is not None:
            self.sources = _resolved(published)
        # the records' bodies (footage jobs name their device by them); the config's until published
        self.bodies = published or {s.id: s.model_dump(mode="json") for s in cfg.sources}
        self.positions = PositionFeed(self.redis, cluster, self.pipeline.positions)
        self.health = SourceHealthPublisher(self.redis, cluster, self.worker_id, self.pipeline.health)
        self.frames = FramePublisher(self.redis, cluster, self.pipeline.latest)
        self.leases = LeaseManager(fast_client(cluster), cluster, self.worker_id, list(self.sources),
                                   on_acquire=self._acquire, on_release=self._release, capacity=self.capacity)
        # uploaded footage: one job at a time while this worker reads fewer cameras than its capacity
        self.footage = FootageJobTaker(self.redis, cluster, self.worker_id, self._footage_runner,
                                       lambda: not self.capacity or len(self.leases.held()) < self.capacity,
                                       self.publisher)
        self._stopping = threading.Event()

    def _footage_runner(self, state: JobState, positions: ReportedPositions):
        from streetsight.footage.runner import FootageRunner

        return FootageRunner(self.cfg, state, _Bodies(self), self.publisher, self.evidence.store,  # type: ignore[arg-type]
                             self.pipeline.detector, self.pipeline.merger, positions=positions,  # type: ignore[arg-type]
                             incidents=state)

    # lease callbacks (the lease thread) ----------------------------------------------------------

    def _acquire(self, source_id: str) -> None:
        inherited = self.handover.open_incidents_aged(source_id)
        recent = self.handover.recent_incidents(source_id)
        self.positions.load_history(source_id)
        self.pipeline.add_source(self.sources[source_id], inherited, recent)
        for incident, _ in inherited:  # lost if its owner died before the post-roll; a no-op if it was written
            self.publisher.mark_evidence_missing(incident.id, "clip", CLIP_LOST)
        log.info("worker %s reads %s%s", self.worker_id, source_id,
                 f" (continuing {len(inherited)} open incident(s))" if inherited else "")

    def _release(self, source_id: str) -> None:
        # returns once the reader has stopped: only then may the lease go to another worker
        self.pipeline.remove_source(source_id, handover=True)
        self.health.forget(source_id)
        log.info("worker %s no longer reads %s", self.worker_id, source_id)

    def _sources_changed(self, bodies: dict) -> None:
        """The follower's thread: the records changed. Held cameras whose record changed run their new
        version now; deleted or disabled ones stop with their open incidents ended; new ones are assigned at
        the next lease beat."""
        from streetsight.source_records import SOURCE_DISABLED, SOURCE_REMOVED, end_incidents, replace_running

        new = _resolved(bodies)
        old, self.sources = self.sources, new
        self.bodies = bodies
        held = self.leases.held()
        gone = {sid: self.pipeline.open_incidents(sid) for sid in held if sid not in new}
        for sid in sorted(held & set(new)):
            if new[sid] != old.get(sid):
                self.leases.if_held(sid, lambda src=new[sid]: replace_running(self.pipeline, src))
        self.leases.set_sources(list(new))
        for sid, incidents in gone.items():
            end_incidents(self.pipeline, incidents, SOURCE_REMOVED if sid not in bodies else SOURCE_DISABLED)
        log.info("worker %s: sources changed: %d enabled", self.worker_id, len(new))

    # lifecycle ------------------------------------------------------------------------------------

    def serve_metrics(self, host: str, port: int) -> None:
        """``/metrics`` of this worker (per-source health, inference, bus) for Prometheus."""
        registry = CollectorRegistry()
        registry.register(self.pipeline.metrics)
        collector = getattr(self.publisher, "collector", None)
        if collector is not None:
            registry.register(collector)
        start_http_server(port, addr=host, registry=registry)
        log.info("worker %s metrics on http://%s:%d/metrics", self.worker_id, host, port)

    def run(self) -> None:
        """Until `stop()`: the inference loop in this thread, leases and reporting in their own."""
        log.info("worker %s starting: %d configured sources, capacity %s, lease %.1f s", self.worker_id,
                 len(self.sources), self.capacity or "unlimited", self.cfg.cluster.lease_s)
        self._refuse_duplicate_id()
        if self._stopping.is_set():  # stopped while waiting for Redis: nothing was started
            return
        self.publisher.start()
        self.evidence.start(sweep=False)  # the API process sweeps retention
        self.positions.start()
        self.health.start()
        self.frames.start()
        self.follower.start()
        if self.examples is not None:
            self.examples.start()
        self.leases.start()
        self.footage.start()
        try:
            self.pipeline.run()
        finally:
            self._shutdown()

    def _refuse_duplicate_id(self) -> None:
        """Two live processes with one worker id would both think they hold its leases. A registration
        left by this id's previous (killed) process expires within a lease time: wait for that."""
        deadline = time.monotonic() + self.cfg.cluster.lease_s + self.cfg.cluster.resolved_heartbeat_s()
        waiting_for_redis = False
        while True:
            try:
                other = self.leases.live_workers().get(self.worker_id)
            except redis.RedisError as exc:  # Redis not up yet: wait for it rather than exit
                if not waiting_for_redis:
                    log.warning("worker %s: waiting for Redis at start: %s", self.worker_id, exc)
                waiting_for_redis = True
                deadline = time.monotonic() + self.cfg.cluster.lease_s + self.cfg.cluster.resolved_heartbeat_s()
                if self._stopping.wait(1.0):
                    return
                continue
            if other is None or other.get("pid") == os.getpid() and other.get("host") == socket.gethostname():
                return
            if time.monotonic() > deadline:
                raise ConfigError(f"cluster.worker_id: {self.worker_id!r} is in use by a live worker "
                                  f"(host {other.get('host')}, pid {other.get('pid')}); give each worker its own id")
            time.sleep(0.5)

    def stop(self) -> None:
        """Graceful: give every camera back (others take them at their next heartbeat), then stop."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        threading.Thread(target=self._give_back, name="worker-stop", daemon=True).start()

    def _give_back(self) -> None:
        try:
            self.leases.stop()  # releases each source through _release, then deletes the leases
        except Exception:
            log.exception("worker %s: releasing leases failed", self.worker_id)
        finally:
            self.pipeline.stop()

    def _shutdown(self) -> None:
        self.footage.stop()  # the job going on checkpoints; another worker (or this one again) continues it
        if not self._stopping.is_set():  # a graceful stop() has released the leases already
            self.leases.stop()
        self.follower.stop()
        if self.examples is not None:
            self.examples.stop()
        self.health.stop()
        self.frames.stop()
        self.positions.stop()
        self.recorder.close()  # previews still being made: stored and published before the publisher closes
        self.publisher.close(timeout_s=10.0)
        self.evidence.close()
        log.info("worker %s stopped (%d event(s) left in its outbox)", self.worker_id, self.publisher.backlog())


class _Bodies:
    """The source records as the footage runner looks its device up."""

    def __init__(self, worker: ClusterWorker) -> None:
        self.worker = worker

    def get(self, source_id: str) -> dict | None:
        return self.worker.bodies.get(source_id)


def _resolved(bodies: dict) -> dict:
    """Enabled records as SourceConfig, ``${ENV}`` resolved from this worker's environment; a record that
    does not resolve here is left out with an error."""
    from streetsight.source_records import resolve

    out = {}
    for sid, body in bodies.items():
        if not body.get("enabled", True):
            continue
        try:
            out[sid] = resolve(body)
        except ConfigError as exc:
            log.error("not started: %s", mask_text(str(exc)))
    return out
