"""The per-camera verifier on real footage (OpenCV's vtest street, 55 s apart, embedded by the shipped
backbone): a candidate like a rejected example at the same place is suppressed; a different object at that
place, the same object elsewhere, or a look-alike at another place is not; confirmations boost."""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from api.db import create_engine_for, init_db, make_session_factory
from api.embeddings import encode_vector
from api.repository import IncidentRepository
from api.schemas import EmbeddingIn, IncidentCreate
from streetsight.incident_embedding import example_of
from tests.scenarios.fixtures import vtest_mp4  # noqa: F401 - a fixture
from vision.embedding import CropEmbedder, shared_embedder
from vision.verifier import CameraVerifier, Candidate, Example, VerifierParams, normalised_box

pytestmark = pytest.mark.samples

W, H = 768, 576
# static objects of the vtest street (pixels): the assembly-point sign on the plaza, litter on the lawn,
# three traffic cones along the car park
SIGN = (408, 198, 448, 246)
LITTER = (66, 494, 162, 530)
CONE1, CONE2 = (33, 170, 52, 194), (160, 183, 182, 208)
LAWN = (560, 470, 600, 518)  # an empty patch of lawn, the sign's size


def frame_at(path: Path, t: float) -> np.ndarray:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        c.seek(int(t / s.time_base), stream=s, backward=True)
        for f in c.decode(s):
            if f.time >= t:
                return f.to_ndarray(format="bgr24")
    raise AssertionError(f"no frame at {t} s")


@pytest.fixture(scope="module")
def frames(vtest_mp4: Path) -> tuple[np.ndarray, np.ndarray]:
    return frame_at(vtest_mp4, 5.0), frame_at(vtest_mp4, 60.0)


@pytest.fixture(scope="module")
def embedder() -> CropEmbedder:
    return shared_embedder()


def embed(embedder: CropEmbedder, image: np.ndarray, box) -> np.ndarray:
    return embedder.embed_objects(image, [box])[0].crop


def example(embedder, image, box, verdict="rejected", reason="false_detection", incident_id="inc_1",
            event_type="debris_spill") -> Example:
    return Example(incident_id, event_type, embed(embedder, image, box), normalised_box(box, W, H), verdict, reason)


def candidate(embedder, image, box, event_type="debris_spill", place=None) -> Candidate:
    return Candidate(event_type, embed(embedder, image, box), normalised_box(place or box, W, H))


def paste(image: np.ndarray, src_box, dst_box) -> np.ndarray:
    """``image`` with the pixels of ``src_box`` resized into ``dst_box``."""
    out = image.copy()
    sx1, sy1, sx2, sy2 = src_box
    dx1, dy1, dx2, dy2 = dst_box
    out[dy1:dy2, dx1:dx2] = cv2.resize(image[sy1:sy2, sx1:sx2], (dx2 - dx1, dy2 - dy1), interpolation=cv2.INTER_AREA)
    return out


def test_the_rejected_object_at_its_place_is_suppressed_later(frames, embedder) -> None:
    first, later = frames
    verifier = CameraVerifier(examples=[example(embedder, first, SIGN)])
    j = verifier.judge(candidate(embedder, later, SIGN))
    assert j.action == "suppress" and j.match is not None and j.match.incident_id == "inc_1"
    assert j.similarity >= VerifierParams().min_similarity and j.overlap == pytest.approx(1.0)
    # the box found on the next run is never exactly the same: a few pixels off is still that place
    shifted = (SIGN[0] + 4, SIGN[1] - 3, SIGN[2] + 5, SIGN[3] + 2)
    assert verifier.judge(candidate(embedder, later, shifted)).action == "suppress"


def test_a_different_object_at_the_rejected_place_is_kept(frames, embedder) -> None:
    first, later = frames
    verifier = CameraVerifier(examples=[example(embedder, first, SIGN)])
    litter_on_plaza = paste(later, LITTER, SIGN)  # litter dumped where the sign stood
    j = verifier.judge(candidate(embedder, litter_on_plaza, SIGN))
    assert j.action == "keep" and j.match is None


def test_the_rejected_object_elsewhere_is_kept(frames, embedder) -> None:
    first, later = frames
    verifier = CameraVerifier(examples=[example(embedder, first, SIGN)])
    sign_on_lawn = paste(later, SIGN, LAWN)  # the same sign, moved onto the lawn
    moved = candidate(embedder, sign_on_lawn, LAWN)
    assert float(moved.crop @ verifier.judge(candidate(embedder, later, SIGN)).match.crop) >= 0.8  # it looks the same
    assert verifier.judge(moved).action == "keep"


def test_a_look_alike_at_another_place_is_kept(frames, embedder) -> None:
    first, later = frames
    verifier = CameraVerifier(examples=[example(embedder, first, CONE1, event_type="material_piling")])
    assert verifier.judge(candidate(embedder, later, CONE1, "material_piling")).action == "suppress"
    assert verifier.judge(candidate(embedder, later, CONE2, "material_piling")).action == "keep"


def test_a_rejection_mutes_neither_another_type_nor_survives_its_reversal(frames, embedder) -> None:
    first, later = frames
    verifier = CameraVerifier(examples=[example(embedder, first, SIGN)])
    assert verifier.judge(candidate(embedder, later, SIGN, event_type="illegal_advertising")).action == "keep"
    assert verifier.remove("inc_1") and len(verifier) == 0
    assert verifier.judge(candidate(embedder, later, SIGN)).action == "keep"


def test_confirmed_examples_boost_and_the_nearest_decides(frames, embedder) -> None:
    first, later = frames
    verifier = CameraVerifier(examples=[example(embedder, first, LITTER, verdict="confirmed", reason=None,
                                                incident_id="inc_litter")])
    j = verifier.judge(candidate(embedder, later, LITTER))
    assert j.action == "boost" and j.match.incident_id == "inc_litter"
    # a rejection of something else at the same place does not outvote the nearer confirmation
    verifier.add(example(embedder, paste(first, SIGN, LITTER), LITTER, incident_id="inc_sign_there"))
    assert verifier.judge(candidate(embedder, later, LITTER)).action == "boost"


def test_rejections_that_do_not_clear_the_object_teach_nothing(frames, embedder) -> None:
    first, later = frames
    verifier = CameraVerifier()
    assert not verifier.add(example(embedder, first, SIGN, reason="duplicate"))
    assert not verifier.add(example(embedder, first, SIGN, reason="poor_evidence", incident_id="inc_2"))
    assert verifier.judge(candidate(embedder, later, SIGN)).action == "keep"
    assert verifier.add(example(embedder, first, SIGN, reason="permitted", incident_id="inc_3"))
    assert verifier.judge(candidate(embedder, later, SIGN)).action == "suppress"


def test_records_become_examples(tmp_path: Path, frames, embedder) -> None:
    first, _ = frames
    engine = create_engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    init_db(engine)
    repo = IncidentRepository(make_session_factory(engine))
    obj = embedder.embed_objects(first, [SIGN])[0]
    packed = EmbeddingIn(model="m@1", dim=embedder.dim, crop=encode_vector(obj.crop), ring=encode_vector(obj.ring))
    for i in range(3):
        repo.add(IncidentCreate(id=f"inc_{i}", type="debris_spill", source="vtest", zone="plaza", started_at=0,
                                confirmed_at=1, class_name="static_object", box=SIGN, score=0.6, frame_size=(W, H),
                                embedding=packed))
    repo.review("inc_0", "reject", reviewer="r", reason="false_detection")
    repo.review("inc_1", "confirm", reviewer="r", corrected_type="illegal_advertising")
    examples = {e.incident_id: e for r in repo.embeddings(source="vtest") if (e := example_of(r)) is not None}
    assert set(examples) == {"inc_0", "inc_1"}  # inc_2 is still pending
    rejected, confirmed = examples["inc_0"], examples["inc_1"]
    assert rejected.verdict == "rejected" and rejected.reason == "false_detection"
    assert rejected.box == pytest.approx(normalised_box(SIGN, W, H))
    assert float(rejected.crop @ obj.crop) > 0.999
    assert confirmed.verdict == "confirmed" and confirmed.event_type == "illegal_advertising"
    engine.dispose()


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match="place_iou"):
        VerifierParams(place_iou=0)
    with pytest.raises(ValueError, match="min_similarity"):
        VerifierParams(min_similarity=2)
