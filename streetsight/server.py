"""`serve`: the live pipeline in a background thread, the API and review UI in the foreground."""
from __future__ import annotations

import logging
import signal
import threading

import uvicorn

from api.app import create_app
from api.signed_evidence import mount_signed_evidence
from streetsight.case_wiring import bootstrap_admin, case_app_kwargs
from streetsight.config import Config
from streetsight.pipeline import LivePipeline
from streetsight.runtime import Runtime

log = logging.getLogger(__name__)


def build(cfg: Config) -> tuple[Runtime, LivePipeline, "object"]:
    rt = Runtime.create(cfg)
    pipeline = LivePipeline(cfg, rt.detector, rt.recorder)
    evidence = rt.evidence
    app = create_app(rt.repository, rt.evidence_root, sources_provider=pipeline.health,
                     evidence_locator=evidence.locate if evidence else None,
                     position_sink=pipeline.report_position, collectors=[pipeline.metrics],
                     **case_app_kwargs(cfg, rt))
    bootstrap_admin(app)
    if evidence is not None and evidence.signer is not None:  # local evidence: expiring signed links
        mount_signed_evidence(app, evidence.locate, evidence.signer.verify)
    return rt, pipeline, app


def serve(cfg: Config, host: str | None = None, port: int | None = None, on_ready=None) -> None:
    rt, pipeline, app = build(cfg)
    host = host or cfg.api.host
    port = cfg.api.port if port is None else port

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
    # open event streams (the UI's live updates) would hold a graceful shutdown forever: cut them after 3 s
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(server, pipeline, worker)
    log.info("review UI and API on http://%s:%d/ (API docs at /docs)", host, port)
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to the handler it found at
        # start; a no-op handler lets the cleanup below (pipeline stop, spool drain) run before exit.
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run()
    finally:
        pipeline.stop()
        worker.join(timeout=10)
        rt.close()
