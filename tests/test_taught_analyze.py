"""``streetsight analyze`` loads the cameras' taught examples from the records (issue 14 item 4): a recorded file of
the substitute street scene (tests/teach_street.py: vtest with the real parked bicycle pasted at two places) gives
nothing for ``non_motor_parking`` until an example is stored for its camera; then the same command reports the
bicycle the example was drawn around and the other one like it, and nothing else on the plaza."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from api.embeddings import encode_vector_bytes
from api.examples import CutExample, ExampleStore
from detectors.stationarity import iou
from streetsight.cli import main
from streetsight.config import load_config
from streetsight.runtime import open_records
from streetsight.teaching import model_id
from vision.embedding import object_crop, shared_embedder
from tests.teach_street import FIRST_BOX, PLAZA, SECOND_BOX, SIZE, frame_at, street_camera

pytestmark = pytest.mark.samples

FIRST_FROM, SECOND_FROM, SECONDS = 8.0, 20.0, 34.0


def analyze(video: Path, cfg: Path) -> list[dict]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["analyze", str(video), "--config", str(cfg)]) == 0
    return json.loads(out.getvalue())


def test_analyze_reports_what_the_cameras_examples_teach(tmp_path: Path) -> None:
    video = street_camera(tmp_path / "street.mp4", SECONDS, FIRST_FROM, SECOND_FROM)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "sources:\n  - id: street\n    url: placeholder.mp4\n    analysis_fps: 5\n    zones:\n"
        f"      - id: plaza\n        events: [non_motor_parking]\n        polygon: {json.dumps(PLAZA)}\n"
        "model: {min_score: 0.1}\n"
        # above every box the model puts over the bicycles (tests/test_taught_static.py): the static objects find them
        "rules:\n  non_motor_parking: {min_dwell_s: 5, candidate_min_score: 0.45}\n"
        f"storage:\n  data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    assert analyze(video, cfg) == []  # the model alone: nothing

    # a reviewer draws a box around the first bicycle on the camera's snapshot (stored as the API stores it)
    model = shared_embedder()
    vector = model.embed([object_crop(frame_at(FIRST_FROM + 1, FIRST_FROM, SECOND_FROM), FIRST_BOX)])[0]
    box = (FIRST_BOX[0] / SIZE[0], FIRST_BOX[1] / SIZE[1], FIRST_BOX[2] / SIZE[0], FIRST_BOX[3] / SIZE[1])
    repository, _ = open_records(load_config(str(cfg)))
    example = ExampleStore(repository.sessions).add("street", "non_motor_parking", "positive", box, CutExample(
        crop=encode_vector_bytes(vector), model=model_id(model), dim=model.dim, frame_size=SIZE, thumbnail=None),
        "reviewer")

    found = analyze(video, cfg)
    print([(i["class"], i["box"], i["confirmed_at"], i["score"]) for i in found])
    assert len(found) == 2
    first, second = sorted(found, key=lambda i: i["started_at"])
    assert first["class"] == second["class"] == f"taught:{example.id}"
    assert iou(np.asarray(first["box"]), np.asarray(FIRST_BOX)) >= 0.5
    assert iou(np.asarray(second["box"]), np.asarray(SECOND_BOX)) >= 0.5
    assert second["started_at"] >= SECOND_FROM
