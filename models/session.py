"""Create an onnxruntime session on the requested execution providers, falling back to CPU."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import onnxruntime as ort

log = logging.getLogger("models")

CPU = "CPUExecutionProvider"


def choose_providers(requested: Sequence[str]) -> list[str]:
    available = set(ort.get_available_providers())
    chosen = [p for p in requested if p in available]
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def create_session(model_path: str | Path, providers: Sequence[str] = (CPU,), threads: int = 0,
                   label: str = "") -> ort.InferenceSession:
    """`threads` = intra-op threads (0: onnxruntime's default, one per core)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(0, int(threads))
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    chosen = choose_providers(providers)
    session = ort.InferenceSession(str(model_path), sess_options=opts, providers=chosen)
    # onnxruntime may drop a provider whose libraries fail to load: report what it actually uses
    active = session.get_providers()
    missing = [p for p in providers if p not in active]
    note = f" (requested {', '.join(missing)}: not available here)" if missing else ""
    log.info("model %s runs on %s%s", label or Path(model_path).name, active[0], note)
    return session
