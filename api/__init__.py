"""Incidents API: records (SQLAlchemy + Alembic), the HTTP app (FastAPI), authentication, audit, cases,
the dispatch client, the review page, metrics.

Imports none of the analysis packages; the wiring above hands it plain data. Names are loaded on first
use, so ``api.settings`` (plain pydantic models, used by the configuration) stays light to import.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_app": ".app",
    "create_engine_for": ".db",
    "init_db": ".db",
    "make_session_factory": ".db",
    "IncidentNotFound": ".repository",
    "IncidentRepository": ".repository",
    "ReviewConflict": ".repository",
    "EvidenceItemIn": ".schemas",
    "IncidentCreate": ".schemas",
    "IncidentOut": ".schemas",
    "ReviewIn": ".schemas",
    "ApiSettings": ".settings",
    "SourceInfo": ".settings",
    "AuthService": ".auth",
    "CaseService": ".cases",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
