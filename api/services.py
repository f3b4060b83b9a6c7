"""Assembles the API's services around one database and wires them to each other: authentication, the
audit log, cases, the outbox and its delivery workers, the periodic jobs, live events and metrics.

``create_app`` calls :func:`attach_services`; the app's lifespan starts the workers and stops them.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from .audit import AuditLog, audit_router
from .auth import AuthService, auth_router
from .callbacks import callbacks_router
from .case_routes import cases_router
from .case_schemas import CaseOut
from .cases import (
    CaseService,
    Clock,
    EventLabelsProvider,
    EvidenceLinker,
    ProtectEvidence,
    RecheckSnapshot,
    SourceInfoProvider,
)
from .dispatch_client import DispatchClient
from .live_events import EventBroker, events_router
from .jobs import BackgroundJobs
from .metrics import ApiMetrics
from .dispatch_outbox import Outbox
from .repository import IncidentRepository
from .schemas import SHADOW_STATUSES, IncidentOut
from .settings import ApiSettings
from .stats_routes import stats_router

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: ApiSettings
    auth: AuthService
    audit: AuditLog
    cases: CaseService
    outbox: Outbox
    dispatch: DispatchClient
    jobs: BackgroundJobs
    events: EventBroker


def attach_services(
    app: FastAPI,
    repository: IncidentRepository,
    metrics: ApiMetrics,
    settings: ApiSettings | None = None,
    source_info: SourceInfoProvider | None = None,
    event_labels: EventLabelsProvider | None = None,
    protect_evidence: ProtectEvidence | None = None,
    evidence_linker: EvidenceLinker | None = None,
    clock: Clock | None = None,
    recheck_snapshot: RecheckSnapshot | None = None,
) -> Services:
    settings = settings or ApiSettings()
    sessions = repository.sessions
    cases = CaseService(sessions, settings, source_info, event_labels, protect_evidence, evidence_linker,
                        clock=clock, recheck_snapshot=recheck_snapshot)
    outbox = Outbox(sessions)
    services = Services(
        settings=settings,
        auth=AuthService(sessions, settings.auth),
        audit=AuditLog(sessions),
        cases=cases,
        outbox=outbox,
        dispatch=DispatchClient(outbox, cases, settings.dispatch, observe=metrics.delivery),
        jobs=BackgroundJobs(cases, recheck_s=settings.dispatch.recheck_poll_s),  # re-checks and reminders
        events=EventBroker(),
    )
    _wire(services, repository, metrics)
    state = app.state
    state.settings, state.auth, state.audit, state.cases = settings, services.auth, services.audit, cases
    state.outbox, state.dispatch, state.events, state.services = outbox, services.dispatch, services.events, services
    state.events_heartbeat_s = 15.0
    for router in (auth_router(), audit_router(), cases_router(), callbacks_router(), events_router(),
                   stats_router()):
        app.include_router(router)
    return services


def _wire(services: Services, repository: IncidentRepository, metrics: ApiMetrics) -> None:
    cases, events = services.cases, services.events
    metrics.watch_cases(cases.count_by_status, services.outbox.depth, services.outbox.oldest_pending_age_s)
    metrics.watch_overdue(cases.overdue_by_department)

    def incident_added(incident: IncidentOut) -> None:
        events.publish("incident", incident)
        if incident.status in SHADOW_STATUSES:  # a candidate model's would-be incident never becomes a case
            return
        if incident.type in services.settings.cases.auto_case_min_confidence:
            cases.create_for_incident(incident.id, actor="system:auto-case")

    def incident_reviewed(incident: IncidentOut) -> None:
        events.publish("incident_updated", incident)
        if incident.status == "confirmed":
            cases.create_for_incident(incident.id, actor=incident.review.reviewer or "anonymous")

    def case_changed(case: CaseOut) -> None:
        events.publish("case_updated", case)
        if case.created_at == case.updated_at:
            metrics.case_created(manual=case.status == "manual")
        else:
            metrics.case_changed(case.status)
        if case.status in ("queued", "reopened", "verified"):  # a message was enqueued
            services.dispatch.wake()

    def case_reminded(case: CaseOut) -> None:  # a reminder or overdue alarm waits in the outbox
        events.publish("case_updated", case)
        services.dispatch.wake()

    repository.on_added(incident_added)
    repository.on_reviewed(incident_reviewed)
    repository.on_ended(lambda incident: events.publish("incident_updated", incident))
    repository.on_evidence(lambda incident: events.publish("incident_updated", incident))
    repository.on_judged(lambda incident: events.publish("incident_updated", incident))  # (un)suppressed
    cases.on_changed(case_changed)
    cases.on_reminded(case_reminded)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Starts the dispatch workers and the case jobs with the server, stops them after it."""
    services: Services | None = getattr(app.state, "services", None)
    if services is not None and getattr(app.state, "run_workers", True):
        services.dispatch.start()
        services.jobs.start()
    try:
        yield {}
    finally:
        if services is not None:
            services.events.close()
            services.jobs.stop()
            services.dispatch.stop()
