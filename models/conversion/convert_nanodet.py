"""Reproduce models/registry/nanodet-coco/: fetch NanoDet (TF.js graph) from npm, convert to ONNX.

Run from the repository root with the serving venv:  .venv/bin/python models/conversion/convert_nanodet.py
TensorFlow + tf2onnx live in a separate venv (.venv-convert/, created on first run); this script
only shells out to it for the tf2onnx step. See README.md beside this file.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from npm_fetch import MODEL_FILES, PACKAGE, VERSION, npm_pack  # noqa: E402

from models.manifest import dump_manifest, parse_manifest  # noqa: E402
from common.hashing import sha256_file  # noqa: E402

NAME = "nanodet-coco"
OPSET = 13
INPUT = "input_1:0"
STRIDES = [8, 16, 32]
SCORE_OUTPUTS = ["Identity:0", "Identity_1:0", "Identity_2:0"]  # [1, N, 80] per stride 8/16/32
BOX_OUTPUTS = ["Identity_3:0", "Identity_4:0", "Identity_5:0"]  # [1, N, 44] per stride 8/16/32
# COCO-80 in the model's order (identical to @vladmandic/human src/object/labels.ts and upstream nanodet)
COCO80 = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
]


def ensure_convert_venv(venv: Path) -> Path:
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"creating {venv} (tensorflow-cpu, tf2onnx; a few minutes)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(HERE / "requirements-convert.txt")],
                       check=True)
    return py


def tf2onnx_convert(py: Path, tfjs_json: Path, out: Path) -> list[str]:
    # tf2onnx's generated tensor names follow set iteration order: fix the hash seed for a byte-identical file
    env = {**os.environ, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([str(py), "-m", "tf2onnx.convert", "--tfjs", str(tfjs_json), "--output", str(out),
                    "--opset", str(OPSET)], check=True, env=env)
    return subprocess.run([str(py), "-c", "import tensorflow as t, tf2onnx as o; print(t.__version__, o.__version__)"],
                          check=True, capture_output=True, text=True).stdout.split()


def _eval_tensors(model: onnx.ModelProto, names: list[str]) -> dict[str, np.ndarray]:
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for n in names:
        probe.graph.output.append(helper.make_tensor_value_info(n, onnx.TensorProto.INT64, None))  # shape tensors
    s = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    values = s.run(names, {model.graph.input[0].name: np.zeros(shape, np.float32)})
    return dict(zip(names, values))


def make_batch_dynamic(model: onnx.ModelProto) -> onnx.ModelProto:
    """The TF.js graph computes its Reshape targets ([1, C, -1]) at run time from constants, pinning
    batch 1. Fold them to [0, C, -1] (0 = copy the input's batch), drop the dead nodes, free dim 0."""
    g = model.graph
    inits = {i.name for i in g.initializer}
    reshapes = [n for n in g.node if n.op_type == "Reshape" and n.input[1] not in inits]
    values = _eval_tensors(model, sorted({n.input[1] for n in reshapes}))
    for name, v in values.items():
        if v.ndim != 1 or v[0] != 1:
            raise RuntimeError(f"Reshape target {name} = {v}: not the expected [1, C, -1]")
        g.initializer.append(numpy_helper.from_array(np.array([0, *v[1:]], np.int64), f"{name}_batch0"))
    for n in reshapes:
        n.input[1] = f"{n.input[1]}_batch0"
    # dead-code elimination: nodes none of whose outputs feed a graph output or another node
    while True:
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)
    canonical_names(g)
    for vi in [*g.input, *g.output]:
        vi.type.tensor_type.shape.dim[0].ClearField("dim_value")
        vi.type.tensor_type.shape.dim[0].dim_param = "batch"
    del g.value_info[:]
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model


def canonical_names(g: onnx.GraphProto) -> None:
    """tf2onnx names generated constants (pad_const__30, roi__109, ...) in an order that changes from
    run to run; rename every internal tensor by position so that the file is byte-identical each time."""
    keep = {v.name for v in [*g.input, *g.output]}
    consts = {i.name: i for i in g.initializer}
    mapping: dict[str, str] = {}
    order: list[onnx.TensorProto] = []
    for k, node in enumerate(g.node):
        for name in node.input:
            if name in consts and name not in mapping:
                mapping[name] = f"const_{len(order)}"
                order.append(consts[name])
        node.name = f"{node.op_type}_{k}"
        for j, name in enumerate(node.output):
            if name not in keep:
                mapping[name] = f"{node.op_type}_{k}:{j}"
    for node in g.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    for init in order:
        init.name = mapping[init.name]
    copies = [onnx.TensorProto.FromString(i.SerializeToString()) for i in order]
    del g.initializer[:]
    g.initializer.extend(copies)


def check_equivalent(raw: Path, final: Path) -> float:
    """Batch-1 outputs of the final model equal tf2onnx's; a batch of 3 equals 3 single runs."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 3, 416, 416)).astype(np.float32)
    a = ort.InferenceSession(str(raw), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(final), providers=["CPUExecutionProvider"])
    names = SCORE_OUTPUTS + BOX_OUTPUTS
    batched = b.run(names, {INPUT: x})
    worst = 0.0
    for i in range(3):
        single = a.run(names, {INPUT: x[i:i + 1]})
        for s, bt in zip(single, batched):
            worst = max(worst, float(np.abs(s[0] - bt[i]).max()))
    if worst > 1e-4:
        raise RuntimeError(f"dynamic-batch model differs from the tf2onnx output by {worst}")
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "registry" / NAME)
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv-convert")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fetched = npm_pack(PACKAGE, VERSION, work, MODEL_FILES)
        if fetched.license != "MIT" or not fetched.license_text.startswith("MIT License"):
            raise RuntimeError(f"{PACKAGE} licence changed: {fetched.license!r}; review before converting")
        py = ensure_convert_venv(args.venv)
        raw = work / "raw.onnx"
        tf_version, tf2onnx_version = tf2onnx_convert(py, fetched.files["models/nanodet.json"], raw)
        model = make_batch_dynamic(onnx.load(str(raw)))
        model.producer_name = "streetsight models/conversion/convert_nanodet.py"
        model.graph.doc_string = f"converted from {PACKAGE}@{VERSION} models/nanodet.json"  # not the temp path
        onnx.helper.set_model_props(model, {
            "source": f"npm {PACKAGE}@{VERSION} models/nanodet.json + models/nanodet.bin",
            "license": "Apache-2.0 (RangiLyu/nanodet); npm package MIT"})
        args.out.mkdir(parents=True, exist_ok=True)
        final = args.out / "model.onnx"
        onnx.save(model, str(final))
        worst = check_equivalent(raw, final)
        manifest = parse_manifest({
            "name": NAME,
            "version": f"nanodet-m-416+human-models-{VERSION}",
            "task": "detect",
            "decoder": "nanodet",
            "file": "model.onnx",
            "sha256": sha256_file(final).sha256,
            "class_names": COCO80,
            "input": {"name": INPUT, "width": 416, "height": 416, "layout": "NCHW", "color_order": "BGR",
                      "mean": [103.53, 116.28, 123.675], "std": [57.375, 57.12, 58.395],
                      "resize": "stretch", "dynamic_batch": True},
            "decoder_params": {"strides": STRIDES, "score_outputs": SCORE_OUTPUTS, "box_outputs": BOX_OUTPUTS,
                               "reg_max": 10, "scores": "sigmoid already applied in the graph",
                               "boxes": "per side l,t,r,b: logits over 11 bins, softmax not applied"},
            "license": {"model": "Apache-2.0", "upstream": "https://github.com/RangiLyu/nanodet (Apache-2.0)",
                        "package": f"MIT ({PACKAGE}@{VERSION} LICENSE, Copyright (c) 2021 Vladimir Mandic)",
                        "notes": "weights trained by NanoDet upstream (COCO); converted to TF.js by the package "
                                 "author, to ONNX by this script"},
            "source": {"registry": "npm", "package": PACKAGE, "version": VERSION,
                       "tarball_integrity": fetched.integrity, "tarball_shasum": fetched.shasum,
                       "files": {m: {"sha256": sha256_file(p).sha256} for m, p in fetched.files.items()}},
            "conversion": {"script": "models/conversion/convert_nanodet.py",
                           "tool": f"tf2onnx {tf2onnx_version} --tfjs --opset {OPSET} (tensorflow-cpu {tf_version})",
                           "post": "Reshape targets folded to [0, C, -1] so the batch dimension is dynamic",
                           "max_abs_diff_vs_tf2onnx_output": worst},
        }, "generated manifest")
        (args.out / "manifest.json").write_text(dump_manifest(manifest), encoding="utf-8")
        print(f"wrote {final} ({final.stat().st_size} bytes, sha256 {manifest.sha256}) and manifest.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
