"""Helpers for the API tests: an app on a real database (SQLite file or PostgreSQL), signed-in clients."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api import IncidentCreate, IncidentRepository, create_app, create_engine_for, init_db, make_session_factory
from api.settings import ApiSettings, SourceInfo

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery"
LABELS = {"category": "05", "category_zh": "街面秩序", "category_en": "street order", "local_code": "A0501",
          "zh": "机动车乱停放", "en": "illegal parking"}
TAXONOMY = {
    "illegal_parking": LABELS,
    "street_vending": {"category": "05", "local_code": None, "zh": "占道经营", "en": "street vending"},
}
PLACES = {
    "cam-01": SourceInfo(address="人民路 12 号", lng=120.15, lat=30.28, grid="G-0102", area="west"),
    "cam-02": SourceInfo(address="解放街 3 号", lng=120.17, lat=30.25, grid="G-0301", area="east"),
}


def incident(n: int, **overrides: Any) -> IncidentCreate:
    fields: dict[str, Any] = {
        "id": f"inc_{n:016x}", "type": "illegal_parking", "source": "cam-01", "zone": "gate",
        "started_at": 10.0 + n, "confirmed_at": 40.0 + n, "detected_wall": T0 + timedelta(minutes=n),
        "class": "car", "box": [10, 20, 110, 90], "score": 0.87, "track_id": 7, "frame_size": [320, 240],
        "zone_polygon": [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]], "labels": LABELS,
    }
    fields.update(overrides)
    return IncidentCreate.model_validate(fields)


class ApiEnv:
    """One app over one database; ``client(role)`` gives a client signed in with that role."""

    def __init__(self, tmp_path: Path, database_url: str, settings: dict[str, Any] | None = None,
                 **app_kwargs: Any) -> None:
        self.engine = create_engine_for(database_url)
        init_db(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.repo = IncidentRepository(self.sessions)
        self.root = tmp_path / "evidence"
        self.root.mkdir(parents=True, exist_ok=True)
        self.protected: list[str] = []
        kwargs: dict[str, Any] = {"source_info": PLACES, "event_labels": TAXONOMY.get,
                                  "protect_evidence": self.protected.append}
        kwargs.update(app_kwargs)
        self.settings = ApiSettings.model_validate(settings or {})
        self.app = create_app(self.repo, self.root, settings=self.settings, **kwargs)
        self.cases = self.app.state.cases
        self.auth = self.app.state.auth
        self._clients: list[TestClient] = []

    def client(self, role: str = "reviewer", username: str | None = None) -> TestClient:
        username = username or f"{role.replace('-', '')}1"
        if username not in {u.username for u in self.auth.list_users()}:
            self.auth.add_user(username, PASSWORD, role)
        client = TestClient(self.app)
        r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        self._clients.append(client)
        return client

    def close(self) -> None:
        for c in self._clients:
            c.close()
        self.engine.dispose()
