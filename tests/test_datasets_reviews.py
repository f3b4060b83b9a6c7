"""Reviewers' decisions -> dataset: real SQLite records and the local evidence store, read only; and the
feedback loop's first half (a new dataset version from a base version plus the reviews)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from api.db import create_engine_for, init_db, make_session_factory
from api.repository import IncidentRepository
from api.schemas import EvidenceItemIn, IncidentCreate
from datasets.manifest import read_manifest
from datasets.yolo import label_path_for, load_dataset, read_labels
from evidence.store import LocalEvidenceStore
from streetsight.cli import main as cli
from tests.test_datasets import box, make_dataset

W, H = 320, 240


def _snapshot(value: int) -> bytes:
    img = np.full((H, W, 3), value, np.uint8)
    ok, data = cv2.imencode(".jpg", img)
    return data.tobytes()


def _add(repo: IncidentRepository, store: LocalEvidenceStore, inc_id: str, source: str, cls: str,
         box_px: tuple[float, float, float, float], decision: str | None, reason: str | None = None,
         snapshot: bool = True, value: int = 100) -> None:
    repo.add(IncidentCreate(id=inc_id, type="street_vending", source=source, started_at=1.0, confirmed_at=2.0,
                            **{"class": cls}, box=box_px, score=0.8, frame_size=(W, H)))
    if snapshot:
        data = _snapshot(value)
        key = f"2026/01/01/{source}/{inc_id}/snapshot_raw.jpg"
        obj = store.put_bytes(key, data, "image/jpeg")
        repo.attach_evidence(inc_id, EvidenceItemIn(kind="snapshot_raw", key=obj.key, sha256=obj.sha256,
                                                    size=obj.size, content_type="image/jpeg"))
    if decision:
        repo.review(inc_id, decision, reason=reason)


@pytest.fixture()
def records(tmp_path: Path) -> tuple[Path, IncidentRepository]:
    data_dir = tmp_path / "data"
    config = tmp_path / "config.yaml"
    config.write_text(f"storage:\n  data_dir: {data_dir}\n")
    engine = create_engine_for(f"sqlite:///{data_dir / 'streetsight.db'}")
    init_db(engine)
    repo = IncidentRepository(make_session_factory(engine))
    store = LocalEvidenceStore(data_dir / "evidence")
    _add(repo, store, "inc-1", "cam-1", "vendor_stall", (10, 20, 110, 120), "confirm", value=60)
    _add(repo, store, "inc-2", "cam-2", "vendor_stall", (0, 0, 32, 24), "reject", "false_detection", value=70)
    _add(repo, store, "inc-3", "cam-1", "parasol", (100, 50, 200, 150), "reject", "permitted", value=80)  # real object
    _add(repo, store, "inc-4", "cam-2", "vendor_stall", (0, 0, 10, 10), "reject", "duplicate")  # no signal
    _add(repo, store, "inc-5", "cam-3", "vendor_stall", (0, 0, 10, 10), "confirm", snapshot=False)  # nothing to export
    _add(repo, store, "inc-6", "cam-3", "car", (5, 5, 50, 50), "confirm")  # not a class of the dataset
    _add(repo, store, "inc-7", "cam-3", "vendor_stall", (0, 0, 10, 10), None)  # pending: not reviewed
    return config, repo


def _db_digest(repo: IncidentRepository) -> str:
    rows = [i.model_dump_json() for s in ("pending", "confirmed", "rejected") for i in repo.list(status=s)]
    return hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()


def test_export_reviews_positives_negatives_and_skips(records, tmp_path: Path, capsys) -> None:
    config, repo = records
    before = _db_digest(repo)
    out = tmp_path / "reviews"
    assert cli(["datasets", "export-reviews", "--config", str(config), str(out),
                "--names", "vendor_stall", "parasol", "bin"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["positives"] == 2 and summary["negatives"] == 1
    skipped = {s["incident"]: s["reason"] for s in summary["skipped_incidents"]}
    assert set(skipped) == {"inc-4", "inc-5", "inc-6"}
    assert "duplicate" in skipped["inc-4"] and "no snapshot_raw" in skipped["inc-5"] and "'car'" in skipped["inc-6"]
    ds = load_dataset(out)
    got = {}
    for _, img in ds.all_images():
        h, w = cv2.imread(str(img)).shape[:2]
        got[img.stem] = [(ds.names[b.class_id], tuple(round(v) for v in b.to_xyxy(w, h)))
                         for b in read_labels(label_path_for(img))]
    assert got == {"cam-1__pos__inc-1": [("vendor_stall", (10, 20, 110, 120))],
                   "cam-2__neg__inc-2": [],  # hard negative: the image with no box
                   "cam-1__pos__inc-3": [("parasol", (100, 50, 200, 150))]}
    # the exported image is the incident's own snapshot
    assert abs(cv2.imread(str(ds.root / "images" / "cam-2__neg__inc-2.jpg")).mean() - 70) < 3
    assert _db_digest(repo) == before  # the records are read, never changed
    # grouped split by camera, as the loop does
    assert cli(["datasets", "split", str(out), str(tmp_path / "split"), "--ratios", "0.5,0.5,0",
                "--group", "^(.+?)__"]) == 0
    placed = {img.stem: split for split, img in load_dataset(tmp_path / "split").all_images()}
    assert placed["cam-1__pos__inc-1"] == placed["cam-1__pos__inc-3"]


def test_export_reviews_by_type_and_missing_database(records, tmp_path: Path) -> None:
    config, _repo = records
    assert cli(["datasets", "export-reviews", "--config", str(config), str(tmp_path / "t"), "--label-from", "type",
                "--no-negatives"]) == 0
    m = read_manifest(tmp_path / "t")
    assert m["classes"] == ["street_vending"] and m["positives"] == 2 and m["negatives"] == 0
    empty = tmp_path / "empty.yaml"
    empty.write_text(f"storage:\n  data_dir: {tmp_path / 'nothing'}\n")
    assert cli(["datasets", "export-reviews", "--config", str(empty), str(tmp_path / "x")]) == 2


def test_loop_builds_a_new_dataset_version(records, tmp_path: Path) -> None:
    from streetsight.commands.datasets import open_records
    from training.loop import build_dataset_version

    config, _ = records
    root = tmp_path / "urban"
    make_dataset(root / "v1", ["vendor_stall", "parasol", "bin"], {
        "train": [("s1", [box(0)]), ("s2", [box(1)])], "val": [("s3", [box(2)])], "test": [("s4", [box(0)])]})
    repository, store = open_records(str(config))
    new = build_dataset_version(root / "v1", root, repository, store, ratios=(0.5, 0.25, 0.25))
    assert new == root / "v2"
    ds = load_dataset(new)
    assert ds.names == ["vendor_stall", "parasol", "bin"]
    placed = {img.stem: split for split, img in ds.all_images()}
    assert {k: placed[k] for k in ("s1", "s2", "s3", "s4")} == {"s1": "train", "s2": "train", "s3": "val", "s4": "test"}
    assert {"cam-1__pos__inc-1", "cam-2__neg__inc-2", "cam-1__pos__inc-3"} <= set(placed)
    m = read_manifest(new)
    assert m["version"] == "v2" and len(m["parents"]) == 2
    assert m["parents"][0]["path"] == str((root / "v1").resolve())
