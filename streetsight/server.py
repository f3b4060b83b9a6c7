"""`serve`: the roles of a deployment.

- ``all`` (default, one machine): the live pipeline in a background thread, the API and review UI in the
  foreground, records handed over in process (no Redis).
- ``api``: the API and UI, storing what workers publish on the Redis bus (`streetsight.cluster.api_role`).
- ``worker``: cameras by lease, detectors, evidence; records to the bus (`streetsight.cluster.worker`).
"""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

import uvicorn

from api.app import create_app
from api.examples import ExampleStore
from api.signed_evidence import mount_signed_evidence
from api.training_jobs import TrainingJobs
from streetsight.case_wiring import bootstrap_admin, case_app_kwargs
from streetsight.config import Config
from streetsight.footage.wiring import build_footage
from streetsight.frame_views import LocalFrameView
from streetsight.http_server import uvicorn_config
from streetsight.model_promotion import ModelPromotions, shadow_candidate
from streetsight.model_switching import watch_assignments
from streetsight.pipeline import LivePipeline
from streetsight.recheck_snapshots import recheck_snapshots
from streetsight.recovery import resume
from streetsight.rules import shared_merger
from streetsight.runtime import Runtime
from streetsight.shadow import build_shadow, enter_shadow
from streetsight.source_records import LiveSourceSync, open_source_catalog, running_sources
from streetsight.teaching import attach_book, mount_examples
from streetsight.training_jobs import TrainingRunner

log = logging.getLogger(__name__)

ROLES = ("all", "api", "worker")


def build(cfg: Config) -> tuple[Runtime, LivePipeline, "object"]:
    """The cameras are the records (the YAML's sources are imported on the first start); changes made
    through the API apply to the pipeline while it runs (`LiveSourceSync`). Uploaded footage is analysed by
    ``app.state.footage_runner`` (started by `serve_all`)."""
    rt = Runtime.create(cfg, live=True)
    catalog = open_source_catalog(cfg, rt.repository.sessions)
    cfg = cfg.model_copy(update={"sources": running_sources(catalog)})
    examples = ExampleStore(rt.repository.sessions)
    attach_book(cfg, examples)  # before the pipeline builds its rules: they hold their camera's examples
    shadow = build_shadow(cfg, rt.repository, rt.recorder)  # a candidate model beside the serving one
    pipeline = LivePipeline(cfg, rt.detector, rt.recorder, shadow=shadow)
    # models promote/rollback apply to the running cameras (no restart), and a retrained candidate enters shadow
    watch_assignments(pipeline, cfg, enter_shadow=lambda model: enter_shadow(pipeline, cfg, rt.repository,
                                                                             rt.recorder, model))
    resume(rt.repository, rt.recorder.store, pipeline.analyses)  # what a restart or a crash left open
    sync = LiveSourceSync(pipeline, catalog)
    evidence = rt.evidence
    footage = build_footage(cfg, rt, catalog, shared_merger(pipeline.cfg))
    frames = LocalFrameView(pipeline.latest)
    training_jobs = TrainingJobs(rt.repository.sessions)
    # a model retrained from the UI enters shadow mode through the assignments (kept across restarts)
    training = TrainingRunner(training_jobs, cfg, shadow_candidate)
    app = create_app(rt.repository, rt.evidence_root, sources_provider=pipeline.health,
                     evidence_locator=evidence.locate if evidence else None,
                     position_sink=footage.positions.persisting(pipeline.report_position),
                     collectors=[pipeline.metrics],
                     source_catalog=catalog, frame_view=frames,
                     recheck_snapshot=recheck_snapshots(frames, rt.recorder.store, rt.repository, evidence),
                     shadow_stats=lambda: pipeline.shadow.stats() if pipeline.shadow is not None else {},
                     training=(training_jobs, training),
                     model_actions=ModelPromotions(cfg.model.name, rt.repository),
                     **case_app_kwargs(cfg, rt), **footage.app_kwargs())
    app.state.footage_runner = footage.runner
    app.state.training_runner = training
    mount_examples(app, examples, frames, lambda source_id: catalog.get(source_id) is not None,
                   rt.repository.embedding)
    sync.places = app.state.source_places
    catalog.on_change(sync.start())
    bootstrap_admin(app)
    if evidence is not None and evidence.signer is not None:  # local evidence: expiring signed links
        mount_signed_evidence(app, evidence.locate, evidence.signer.verify)
    return rt, pipeline, app


def serve(cfg: Config, host: str | None = None, port: int | None = None, on_ready=None, *, role: str = "all",
          worker_id: str | None = None, capacity: int | None = None, metrics_port: int | None = None,
          keep_running: bool = True) -> None:
    """``keep_running`` (role all): the pipeline waits for cameras added at run time after its sources end;
    off, it stops once every source has ended (the demo's ``--exit-when-done``)."""
    if role == "worker":
        serve_worker(cfg, worker_id=worker_id, capacity=capacity, metrics_host=host or cfg.api.host,
                     metrics_port=metrics_port)
    elif role == "api":
        serve_api(cfg, host, port, on_ready)
    elif role == "all":
        serve_all(cfg, host, port, on_ready, keep_running=keep_running)
    else:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")


def serve_all(cfg: Config, host: str | None = None, port: int | None = None, on_ready=None, *,
              keep_running: bool = True) -> None:
    rt, pipeline, app = build(cfg)
    pipeline.keep_running = keep_running  # a camera added through the API later still gets analysed

    def run_pipeline() -> None:
        try:
            pipeline.run()
            log.info("all sources ended; the API keeps serving")
        except Exception:  # the API stays up so the operator can see what happened
            log.exception("pipeline stopped with an error")

    if rt.evidence is not None:
        rt.evidence.start()  # spool uploads and the retention sweeper
    worker = threading.Thread(target=run_pipeline, name="pipeline", daemon=True)
    worker.start()
    footage_runner = app.state.footage_runner.start()
    training_runner = app.state.training_runner.start()  # a run a previous process left is ended, marked failed

    def cleanup() -> None:
        footage_runner.stop()  # the job going on continues from its checkpoint at the next start
        training_runner.stop()  # the run going on is ended and its job marked failed
        pipeline.stop(leave_open=True)  # a restart continues the open incidents
        worker.join(timeout=10)
        rt.close()

    _run_http(app, host or cfg.api.host, cfg.api.port if port is None else port,
              lambda server: on_ready(server, pipeline, worker) if on_ready else None, cleanup)


def serve_api(cfg: Config, host: str | None = None, port: int | None = None, on_ready=None) -> None:
    from streetsight.cluster.api_role import build_api

    rt, app = build_api(cfg)
    rt.start()
    _run_http(app, host or cfg.api.host, cfg.api.port if port is None else port,
              lambda server: on_ready(server, rt, None) if on_ready else None, rt.close)


def serve_worker(cfg: Config, worker_id: str | None = None, capacity: int | None = None,
                 metrics_host: str = "127.0.0.1", metrics_port: int | None = None) -> None:
    from streetsight.cluster.worker import ClusterWorker

    worker = ClusterWorker(cfg, worker_id=worker_id, capacity=capacity)
    if metrics_port is not None:
        worker.serve_metrics(metrics_host, metrics_port)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):  # give the cameras back before exiting
            signal.signal(sig, lambda signum, frame: worker.stop())
    worker.run()


def _run_http(app, host: str, port: int, on_ready: Callable | None, cleanup: Callable[[], None]) -> None:
    # open event streams (the UI's live updates) would hold a graceful shutdown forever: cut them after 3 s
    config = uvicorn_config(app, host, port, app.state.settings.http, log_level="warning", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(server)
    log.info("review UI and API on http://%s:%d/ (API docs at /docs)", host, port)
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to the handler it found at
        # start; a no-op handler lets the cleanup (pipeline stop, spool drain) run before exit.
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run()
    finally:
        cleanup()
