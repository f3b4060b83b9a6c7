"""`/api/v1/models` (issue 19 item 3, "also in the UI"): admins and trainers promote and roll back, reviewers only
look; a worse candidate is refused with the measured reason (409), a force needs a reason (422 naming it), every
change lands in the assignments log a running serve follows and in the deployment's audit log."""
from __future__ import annotations

import json
from pathlib import Path

from api.model_routes import models_router
from streetsight.model_assignments import AUDIT_FILE, AssignmentStore
from streetsight.model_promotion import ModelPromotions
from tests.api_env import ApiEnv
from tests.test_model_promotion import registry  # noqa: F401 - a fixture


def test_promotion_and_rollback_over_http_by_role(registry: Path, tmp_path: Path) -> None:  # noqa: F811
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'records.db'}",
                 model_actions=ModelPromotions("tiny-yolo", None, registry))
    reviewer, trainer, admin = env.client("reviewer"), env.client("trainer"), env.client("admin")
    try:
        overview = reviewer.get("/api/v1/models").json()
        assert overview["default"] == "tiny-yolo" and overview["cameras"] == {}
        assert {"tiny-yolo", "better", "worse", "city-yolo11"} <= {m["name"] for m in overview["models"]}
        r = reviewer.post("/api/v1/models/better/promote", json={})
        assert r.status_code == 403 and "models:promote" in r.json()["detail"]
        assert reviewer.post("/api/v1/models/rollback", json={}).status_code == 403

        r = trainer.post("/api/v1/models/worse/promote", json={})
        assert r.status_code == 409
        assert "worse on the measured set: map50_95 0.3000 < 0.4000" in r.json()["detail"]
        r = trainer.post("/api/v1/models/worse/promote", json={"force": True, "reason": "  "})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]
        r = trainer.post("/api/v1/models/better/promote", json={"camera": "gate cam"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "camera"]
        r = trainer.post("/api/v1/models/no-such/promote", json={})
        assert r.status_code == 404 and "not registered" in r.json()["detail"]
        assert trainer.post("/api/v1/models/bad name!/promote", json={}).status_code == 422
        assert AssignmentStore(registry).history() == []  # nothing refused is recorded

        r = trainer.post("/api/v1/models/better/promote", json={})
        assert r.status_code == 200, r.text
        assert (r.json()["model"], r.json()["previous"], r.json()["by"]) == ("better", "tiny-yolo", "trainer1")
        r = admin.post("/api/v1/models/worse/promote", json={"camera": "gate", "force": True, "reason": "night trial"})
        assert r.status_code == 200 and r.json()["forced"] is True
        assert reviewer.get("/api/v1/models").json()["cameras"] == {"gate": "worse"}
        assert trainer.post("/api/v1/models/better/promote", json={}).status_code == 409  # already in service

        assert trainer.post("/api/v1/models/rollback", json={"camera": "gate", "reason": "false alarms"}).status_code == 200
        r = trainer.post("/api/v1/models/rollback", json={"camera": "gate"})
        assert r.status_code == 409 and "nothing to roll back on camera gate" in r.json()["detail"]
        state = reviewer.get("/api/v1/models").json()
        assert (state["default"], state["cameras"]) == ("better", {})
        lines = [json.loads(x) for x in (registry / AUDIT_FILE).read_text().splitlines()]
        assert [(e["action"], e["scope"], e["by"]) for e in lines] == [
            ("promote", "*", "trainer1"), ("promote", "gate", "admin1"), ("rollback", "gate", "trainer1")]
    finally:
        env.close()


def test_every_change_from_the_ui_is_in_the_audit_log(registry: Path, tmp_path: Path) -> None:  # noqa: F811
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'records.db'}")
    # as serve wires it: the promotions measure by, and audit into, the app's own records
    env.app.include_router(models_router(ModelPromotions("tiny-yolo", env.repo, registry)))
    try:
        trainer, admin = env.client("trainer"), env.client("admin")
        assert trainer.post("/api/v1/models/city-yolo11/promote",
                            json={"camera": "gate", "force": True, "reason": "city model, trial week"}).status_code == 200
        assert trainer.post("/api/v1/models/rollback", json={"camera": "gate", "reason": "trial over"}).status_code == 200
        audit = admin.get("/api/v1/audit").json()[::-1]
        rows = [(a["actor"], a["action"], a["source_id"], a["after"]["model"], a["after"]["reason"]) for a in audit
                if a["action"].startswith("model.")]
        assert rows == [("trainer1", "model.promote", "gate", "city-yolo11", "city model, trial week"),
                        ("trainer1", "model.rollback", "gate", None, "trial over")]
        assert audit[0]["after"]["forced"] is True and audit[0]["before"] == {"model": "tiny-yolo"}
    finally:
        env.close()
