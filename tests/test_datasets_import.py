"""Importers: labelme, COCO and the Tianchi city-management layout -> YOLO."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.importers.coco import import_coco
from datasets.importers.labelme import import_labelme
from datasets.importers.tianchi import import_tianchi
from datasets.validate import validate_dataset
from datasets.yolo import DatasetError, label_path_for, load_dataset, read_labels
from streetsight.cli import main as cli
from tests.media import encode_h264


def boxes_by_image(root: Path) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    """image name -> [(class, pixel box rounded)]"""
    ds = load_dataset(root)
    out = {}
    for _, img in ds.all_images():
        h, w = cv2.imread(str(img)).shape[:2]
        out[img.name] = sorted((ds.names[b.class_id], tuple(round(v, 1) for v in b.to_xyxy(w, h)))
                               for b in read_labels(label_path_for(img)))
    return out


def _image(path: Path, w: int = 100, h: int = 80, value: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))
    return path


# -- labelme --------------------------------------------------------------------------------------

def test_labelme_shapes_become_boxes(tmp_path: Path) -> None:
    src = tmp_path / "labelme"
    _image(src / "a.jpg")
    (src / "a.json").write_text(json.dumps({
        "imagePath": "a.jpg", "imageWidth": 100, "imageHeight": 80, "shapes": [
            {"label": "bin", "shape_type": "rectangle", "points": [[60, 50], [10, 20]]},
            {"label": "trash bag", "shape_type": "polygon", "points": [[20, 10], [40, 5], [35, 30]]},
            {"label": "bin", "shape_type": "circle", "points": [[80, 40], [80, 50]]},
        ]}))
    ok, png = cv2.imencode(".png", np.zeros((40, 50, 3), np.uint8))
    (src / "sub").mkdir()
    (src / "sub" / "b.json").write_text(json.dumps({  # the image only inside the JSON
        "imagePath": "missing/b.png", "imageWidth": 50, "imageHeight": 40,
        "imageData": base64.b64encode(png.tobytes()).decode(), "shapes": [
            {"label": "bin", "shape_type": "rectangle", "points": [[0, 0], [25, 20]]}]}))
    m = import_labelme(src, tmp_path / "out", class_map={"trash bag": "garbage_bag"})
    assert m["classes"] == ["bin", "garbage_bag"]
    assert boxes_by_image(tmp_path / "out") == {
        "a.jpg": [("bin", (10.0, 20.0, 60.0, 50.0)), ("bin", (70.0, 30.0, 90.0, 50.0)),
                  ("garbage_bag", (20.0, 5.0, 40.0, 30.0))],
        "sub_b.png": [("bin", (0.0, 0.0, 25.0, 20.0))]}
    assert validate_dataset(tmp_path / "out").ok


def test_labelme_errors_name_file_and_field(tmp_path: Path) -> None:
    src = tmp_path / "labelme"
    _image(src / "a.jpg")
    (src / "a.json").write_text(json.dumps({"imagePath": "a.jpg", "imageWidth": 100, "imageHeight": 80,
                                            "shapes": [{"label": "bin", "shape_type": "mask", "points": [[1, 2]]}]}))
    with pytest.raises(DatasetError, match=r"a\.json: shapes\[0\]: field 'shape_type' 'mask'"):
        import_labelme(src, tmp_path / "out")
    (src / "a.json").write_text(json.dumps({"imagePath": "nope.jpg", "imageWidth": 1, "imageHeight": 1, "shapes": []}))
    (src / "a.jpg").unlink()
    with pytest.raises(DatasetError, match="field 'imagePath' 'nope.jpg': image not found"):
        import_labelme(src, tmp_path / "out2")


# -- COCO -----------------------------------------------------------------------------------------

def test_coco_sparse_ids_crowd_and_backgrounds(tmp_path: Path) -> None:
    imgs = tmp_path / "images"
    _image(imgs / "1.jpg")
    _image(imgs / "2.jpg")
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps({
        "images": [{"id": 7, "file_name": "1.jpg", "width": 100, "height": 80},
                   {"id": 9, "file_name": "2.jpg", "width": 100, "height": 80}],
        "categories": [{"id": 44, "name": "bottle"}, {"id": 3, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 44, "bbox": [10, 20, 30, 40], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 3, "bbox": [0, 0, 50, 10], "iscrowd": 0},
            {"id": 3, "image_id": 7, "category_id": 3, "bbox": [0, 0, 99, 79], "iscrowd": 1},
        ]}))
    m = import_coco(ann, imgs, tmp_path / "out")
    assert m["classes"] == ["car", "bottle"]  # category-id order
    assert m["skipped_crowd"] == 1
    assert boxes_by_image(tmp_path / "out") == {
        "1.jpg": [("bottle", (10.0, 20.0, 40.0, 60.0)), ("car", (0.0, 0.0, 50.0, 10.0))], "2.jpg": []}
    assert m["splits"]["all"]["backgrounds"] == 1
    assert cli(["datasets", "import", "coco", str(ann), str(tmp_path / "cli"), "--images", str(imgs),
                "--names", "car", "--skip-unknown"]) == 0
    assert load_dataset(tmp_path / "cli").names == ["car"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [{"id": 1, "file_name": "1.jpg", "width": 1, "height": 1}],
                               "categories": [{"id": 1, "name": "a"}],
                               "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2]}]}))
    with pytest.raises(DatasetError, match="annotation 5: field 'bbox'"):
        import_coco(bad, imgs, tmp_path / "out3")


# -- Tianchi --------------------------------------------------------------------------------------

def _level_video(path: Path, frames: int = 30) -> Path:
    """Frame i is a flat grey of 8*i: the importer must cut exactly the annotated frame."""
    return encode_h264(path, seconds=frames / 10, fps=10, size=(160, 120), gop=10,
                       frame_fn=lambda i, t: np.full((120, 160, 3), 8 * i, np.uint8))


def test_tianchi_frames_boxes_and_class_map(tmp_path: Path) -> None:
    src = tmp_path / "tianchi"
    _level_video(src / "视频" / "12.mp4")
    (src / "标注").mkdir()
    (src / "标注" / "12.json").write_text(json.dumps([
        {"frame_id": 4, "event_id": 1, "category": "机动车违停", "bbox": [10, 20, 60, 70]},
        {"frame_id": 4, "event_id": 2, "category": "垃圾桶满溢", "bbox": [100, 50, 150, 110]},
        {"frame_id": 6, "event_id": 1, "category": "机动车违停", "bbox": [12, 20, 62, 70]},
        {"frame_id": 20, "event_id": 3, "category": "违法经营", "bbox": [0, 0, 40, 30]},
        {"frame_id": 99, "event_id": 4, "category": "违法经营", "bbox": [0, 0, 40, 30]},  # past the end
    ], ensure_ascii=False), encoding="utf-8")
    m = import_tianchi(src, tmp_path / "out", negatives=2, seed=1)
    assert m["classes"] == ["parked_vehicle", "overflowing_bin", "vendor_stall"]
    assert m["videos"]["12.mp4"] == {"annotated_frames": 4, "images": 3, "backgrounds": 2, "frames_past_end": 1}
    boxes = boxes_by_image(tmp_path / "out")
    assert boxes["12_f000004.jpg"] == [("overflowing_bin", (100.0, 50.0, 150.0, 110.0)),
                                       ("parked_vehicle", (10.0, 20.0, 60.0, 70.0))]
    assert boxes["12_f000020.jpg"] == [("vendor_stall", (0.0, 0.0, 40.0, 30.0))]
    for name in boxes:  # each image is the frame its name says (frame i is grey 8*i)
        index = int(name.split("_f")[1][:6])
        img = cv2.imread(str(tmp_path / "out" / "images" / name))
        assert abs(float(img.mean()) - 8 * index) < 4, name
    assert sum(1 for b in boxes.values() if not b) == 2  # the background frames
    assert validate_dataset(tmp_path / "out").ok


def test_tianchi_every_and_bad_json(tmp_path: Path) -> None:
    src = tmp_path / "t"
    _level_video(src / "a.mp4")
    (src / "a.json").write_text(json.dumps(
        [{"frame_id": i, "event_id": 1, "category": "非机动车违停", "bbox": [1, 1, 20, 20]} for i in range(10)]))
    m = import_tianchi(src, tmp_path / "out", every=3)
    assert m["videos"]["a.mp4"]["images"] == 4  # frames 0, 3, 6, 9
    (src / "a.json").write_text(json.dumps([{"frame_id": 1, "event_id": 1, "category": "x", "bbox": [5, 5, 1, 1]}]))
    with pytest.raises(DatasetError, match=r"a\.json: \[0\]: field 'bbox'"):
        import_tianchi(src, tmp_path / "out2")
    assert cli(["datasets", "import", "tianchi", str(tmp_path / "empty"), str(tmp_path / "out3")]) == 2
