"""What a worker leaves in Redis for the next owner of a camera: open incidents, and recently ended ones
(whose spots stay in cooldown). Real Redis; the pipeline side is `tests/test_dwell_rule.py`."""
from __future__ import annotations

import time
import uuid

import pytest
import redis

from detectors.incidents import IncidentEvent
from streetsight.cluster import handover as handover_module
from streetsight.cluster.connection import connect
from streetsight.cluster.handover import HandoverBoard
from streetsight.config import ClusterConfig
from tests.redis_server import RedisServer
from tests.test_dwell_rule import _ended_elsewhere


@pytest.fixture
def board(redis_server: RedisServer) -> HandoverBoard:
    cluster = ClusterConfig(redis_url=redis_server.url, prefix=f"test-{uuid.uuid4().hex[:8]}")
    return HandoverBoard(connect(cluster), cluster)


def test_open_then_ended_moves_to_recent_with_its_age(board: HandoverBoard) -> None:
    inc = _ended_elsewhere()
    board.on_event(IncidentEvent("opened", inc))
    assert [i.id for i in board.open_incidents("cam")] == [inc.id]
    assert board.recent_incidents("cam") == []
    board.on_event(IncidentEvent("ended", inc))
    assert board.open_incidents("cam") == []
    ((recent, ago),) = board.recent_incidents("cam")
    assert recent == inc and 0 <= ago < 5
    time.sleep(1.1)
    assert board.recent_incidents("cam")[0][1] >= 1.0  # the age grows with the wall clock
    assert board.recent_incidents("other-cam") == []


def test_old_and_unreadable_recent_entries_are_pruned(board: HandoverBoard, monkeypatch) -> None:
    inc = _ended_elsewhere()
    board.on_event(IncidentEvent("ended", inc))
    key = board.cluster.key("recent", "cam")
    board.client.hset(key, "garbage", "{not json")
    assert [i.id for i, _ in board.recent_incidents("cam")] == [inc.id]
    assert board.client.hkeys(key) == [inc.id.encode()]
    monkeypatch.setattr(handover_module, "RECENT_KEEP_S", 0.0)
    time.sleep(0.01)
    assert board.recent_incidents("cam") == []
    assert board.client.hlen(key) == 0


def test_redis_down_is_reported_not_raised(board: HandoverBoard, redis_server: RedisServer) -> None:
    redis_server.stop()
    board.on_event(IncidentEvent("ended", _ended_elsewhere()))
    assert board.recent_incidents("cam") == []
    with pytest.raises(redis.RedisError):
        board.client.ping()


def test_pipeline_hands_recent_incidents_to_the_rules(tmp_path, monkeypatch) -> None:
    from models.registry import ENV_DIRS
    from streetsight.config import parse_config
    from streetsight.pipeline import LivePipeline
    from streetsight.runtime import Runtime
    from tests.tiny_yolo import register_tiny_yolo

    monkeypatch.setenv(ENV_DIRS, str(register_tiny_yolo(tmp_path / "models")))
    cfg = parse_config({
        "sources": [{"id": "cam", "url": "rtsp://127.0.0.1:1/none", "zones": [
            {"id": "no-parking", "events": ["illegal_parking"],
             "polygon": [[0.5, 0.2], [1.0, 0.2], [1.0, 1.0], [0.5, 1.0]]}]}],
        "model": {"name": "tiny-yolo"},
        "storage": {"data_dir": str(tmp_path / "data")},
    })
    rt = Runtime.create(cfg)
    pipeline = LivePipeline(cfg, rt.detector, rt.recorder, start_sources=False, keep_running=True)
    inc = _ended_elsewhere()
    pipeline.add_source(cfg.sources[0], recent=[(inc, 12.0)])
    (rule,) = pipeline.analyses["cam"].rules
    assert [s.incident.id for s in rule._recent["no-parking"]] == [inc.id]
    other = _ended_elsewhere()
    other.zone_id = "kerb"
    assert not pipeline.analyses["cam"].remember(other, 1.0)
