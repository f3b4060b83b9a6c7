"""A case from an H.265 camera's incident: the dispatch message lists the evidence clip of record and its
H.264 `clip_preview` as separate items, each with its own link, SHA-256 and content type."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from api.db import OutboxRecord
from api.schemas import EvidenceItemIn
from tests.api_env import ApiEnv, incident

RULES = {"dispatch": {"rules": [{"department": "交警大队 traffic police", "event_types": ["illegal_parking"]}]}}


@pytest.fixture()
def env(tmp_path: Path, database_url: str):
    e = ApiEnv(tmp_path, database_url, RULES)
    yield e
    e.close()


def test_the_dispatch_message_carries_clip_and_clip_preview_as_separate_items(env: ApiEnv) -> None:
    inc = env.repo.add(incident(1))
    items = {
        "clip": ("clip.mkv", "video/x-matroska", "c" * 64, 900_000),
        "clip_preview": ("clip_preview.mp4", "video/mp4", "d" * 64, 120_000),
        "manifest": ("manifest.json", "application/json", "e" * 64, 900),
    }
    for kind, (name, content_type, sha256, size) in items.items():
        env.repo.attach_evidence(inc.id, EvidenceItemIn(kind=kind, key=f"{inc.id}/{name}", sha256=sha256,
                                                        size=size, content_type=content_type))
    reviewer = env.client("reviewer", "wang")
    assert reviewer.post(f"/api/v1/incidents/{inc.id}/review", json={"decision": "confirm"}).status_code == 200

    with env.sessions() as s:
        [message] = s.scalars(select(OutboxRecord))
    sent = {e["kind"]: e for e in message.payload["evidence"]}
    assert set(sent) == {"clip", "clip_preview", "manifest"}
    for kind, (_, content_type, sha256, size) in items.items():
        assert (sent[kind]["content_type"], sent[kind]["sha256"], sent[kind]["size"]) == (content_type, sha256, size)
    assert sent["clip"]["url"] != sent["clip_preview"]["url"]
    assert sent["clip_preview"]["url"].endswith(f"/incidents/{inc.id}/evidence/clip_preview")
