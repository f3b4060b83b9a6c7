"""Incidents API: records (SQLAlchemy), the HTTP app (FastAPI), the review page, metrics.

Imports none of the analysis packages; the wiring above hands it plain data.
"""
from .app import create_app
from .db import create_engine_for, init_db, make_session_factory
from .repository import IncidentNotFound, IncidentRepository, ReviewConflict
from .schemas import EvidenceItemIn, IncidentCreate, IncidentOut, ReviewIn

__all__ = [
    "EvidenceItemIn",
    "IncidentCreate",
    "IncidentNotFound",
    "IncidentOut",
    "IncidentRepository",
    "ReviewConflict",
    "ReviewIn",
    "create_app",
    "create_engine_for",
    "init_db",
    "make_session_factory",
]
