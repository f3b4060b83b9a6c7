"""The ``api`` role: records, review UI, cases and dispatch, fed by the workers through the Redis bus.

It loads no model and reads no camera: `EventConsumer` stores what workers publish (acknowledging only
what is stored), `ClusterSourceBoard` answers ``GET /api/v1/sources`` from the health workers write to
Redis, and `PositionRelay` passes moving cameras' position reports on to whichever worker reads them.
Several API processes may run behind a load balancer: they share the consumer group, so each event is
stored by one of them (and re-delivered to another if that one dies before acknowledging).
"""
from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from typing import Any

from api.app import create_app
from api.examples import ExampleStore
from api.footage_jobs import FootageJobs
from api.position_reports import PositionReports
from api.repository import IncidentRepository
from api.training_jobs import TrainingJobs
from api.signed_evidence import mount_signed_evidence
from streetsight.case_wiring import bootstrap_admin, case_app_kwargs
from streetsight.cluster.bus import EventConsumer
from streetsight.cluster.connection import connect
from streetsight.cluster.examples import publish_examples
from streetsight.cluster.footage import FootageJobBoard
from streetsight.cluster.frames import RedisFrameView
from streetsight.cluster.positions import PositionRelay, board_for
from streetsight.cluster.sources import RedisSourcePublisher
from streetsight.cluster.source_board import ClusterSourceBoard
from streetsight.config import Config
from streetsight.model_promotion import ModelPromotions, shadow_candidate
from streetsight.training_jobs import TrainingRunner
from streetsight.recheck_snapshots import recheck_snapshots
from streetsight.runtime import open_records
from streetsight.source_records import described, open_source_catalog
from streetsight.evidence_backend import EvidenceBackend, build_evidence_backend
from streetsight.repeat_offenders import attach_repeat_offenders
from streetsight.teaching import mount_examples
from streetsight.verification import attach_verification


@dataclass
class ApiRuntime:
    """What `case_app_kwargs` needs of a runtime; the model is loaded only if something asks for it
    (blurring faces in shared evidence)."""

    cfg: Config
    repository: IncidentRepository
    evidence: EvidenceBackend
    consumer: EventConsumer
    footage: FootageJobBoard | None = None
    training: TrainingRunner | None = None  # retraining from the UI; its result goes to the workers' shadow mode

    @functools.cached_property
    def detector(self) -> Any:
        from streetsight.runtime import load_detector

        return load_detector(self.cfg)

    def start(self) -> None:
        self.evidence.start()  # spool uploads and the retention sweeper run here, not on workers
        self.consumer.start()
        if self.footage is not None:
            self.footage.start()
        if self.training is not None:
            self.training.start()  # a run a previous process left is ended, its job marked failed

    def close(self) -> None:
        if self.training is not None:
            self.training.stop()
        if self.footage is not None:
            self.footage.stop()
        self.consumer.stop()
        self.evidence.close()


def build_api(cfg: Config, consumer_name: str | None = None) -> tuple[ApiRuntime, Any]:
    cluster = cfg.cluster
    client = connect(cluster)
    repository, evidence_root = open_records(cfg)
    # the workers' embeddings arrive through this role's consumer: it judges them against the decisions
    attach_verification(repository, cfg.learning)
    attach_repeat_offenders(repository, cfg.learning)
    evidence = build_evidence_backend(cfg.storage)
    name = consumer_name or f"api-{socket.gethostname()}-{os.getpid()}"
    from streetsight.shadow_records import follow_serving

    follow_serving(repository)  # workers' candidates in shadow mode: a serving incident judges the ones it overlaps
    consumer = EventConsumer(cluster, repository, name)
    rt = ApiRuntime(cfg, repository, evidence, consumer)
    catalog = open_source_catalog(cfg, repository.sessions)
    # this process reads no camera: the records as they are (${ENV} unresolved: workers resolve them)
    cfg = cfg.model_copy(update={"sources": described(catalog.list())})
    rt.cfg = cfg
    board = ClusterSourceBoard(client, cluster, cfg.sources)
    relay = PositionRelay(client, cluster, cfg.sources)

    def follow(bodies: list) -> None:  # this process's view of which cameras exist
        sources = described(bodies)
        board.sources = sources
        relay.validator = board_for(sources)

    publisher = RedisSourcePublisher(client, cluster, catalog, on_published=follow)
    publisher.publish()  # the workers follow the records from now on
    catalog.on_change(publisher)
    collectors = [c for c in [getattr(consumer, "collector", None)] if c is not None]
    # uploaded footage: recorded and stored here (S3), analysed by a worker with room (`FootageJobBoard`)
    from streetsight.footage.intake import FootageIntake
    from streetsight.footage.merging import merge_window_s

    jobs = FootageJobs(repository.sessions)
    reports = PositionReports(repository.sessions, cfg.footage.position_reports_keep_days)
    intake = FootageIntake(jobs, catalog, evidence.store, cfg.footage, cfg.storage.data_dir)
    rt.footage = FootageJobBoard(client, cluster, jobs, reports, cfg.footage.track_max_gap_s,
                                 repository=repository, merge_window_s=merge_window_s(cfg))
    frames = RedisFrameView(client, cluster)
    training_jobs = TrainingJobs(repository.sessions)
    # the result is set as the shadow candidate in the registry folder the workers watch
    rt.training = TrainingRunner(training_jobs, cfg, shadow_candidate)
    app = create_app(repository, evidence_root, sources_provider=board.health,
                     evidence_locator=evidence.locate,
                     # kept in the records too: footage the device uploads later without a track uses them
                     position_sink=reports.persisting(relay.report),
                     collectors=collectors,
                     source_catalog=catalog, frame_view=frames,
                     recheck_snapshot=recheck_snapshots(frames, evidence.store, repository, evidence),
                     footage=(jobs, intake), model_actions=_model_actions(cfg, repository),
                     training=(training_jobs, rt.training), **case_app_kwargs(cfg, rt))
    bootstrap_admin(app)
    # examples are records here too; a box is cut from the full frame a worker publishes to Redis
    examples = ExampleStore(repository.sessions)
    publish_examples(client, cluster, examples)  # the workers' taught rules follow the records
    mount_examples(app, examples, frames, lambda source_id: catalog.get(source_id) is not None, repository.embedding)
    if evidence.signer is not None:
        mount_signed_evidence(app, evidence.locate, evidence.signer.verify)
    return rt, app


def _model_actions(cfg: Config, repository: IncidentRepository) -> ModelPromotions:
    """Promotions from the UI, written to the registry folder the workers share and watch."""
    return ModelPromotions(cfg.model.name, repository)
