"""Create an onnxruntime session on the requested execution providers, falling back to CPU.

Providers come from configuration, best first (``TensorrtExecutionProvider``, ``CUDAExecutionProvider``,
``CPUExecutionProvider``); those this onnxruntime build lacks are left out, CPU always closes the list, and
a session that fails to start on an accelerator is built again on CPU. One log line says what runs.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import onnxruntime as ort

log = logging.getLogger("models")

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"


def choose_providers(requested: Sequence[str]) -> list[str]:
    available = set(ort.get_available_providers())
    chosen = [p for p in requested if p in available]
    # TensorRT hands the nodes it cannot build to the next provider: CUDA, not the CPU, when there is one.
    if TENSORRT in chosen and CUDA in available and CUDA not in chosen:
        chosen.insert(chosen.index(TENSORRT) + 1, CUDA)
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def create_session(model_path: str | Path, providers: Sequence[str] = (CPU,), threads: int = 0,
                   label: str = "", provider_options: Mapping[str, Mapping[str, Any]] | None = None,
                   spin: bool = True) -> ort.InferenceSession:
    """`threads` = intra-op threads (0: onnxruntime's default, one per core). `spin=False` stops idle
    worker threads from spinning between calls: less CPU burnt when frames arrive in bursts."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(0, int(threads))
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    chosen = choose_providers(providers)
    options = provider_options or {}
    failure = ""
    try:
        session = ort.InferenceSession(str(model_path), sess_options=opts, providers=chosen,
                                       provider_options=[dict(options.get(p, {})) for p in chosen])
    except Exception as exc:  # noqa: BLE001 - e.g. CUDA/TensorRT libraries missing or a bad option
        if chosen == [CPU]:
            raise
        failure = f"; {', '.join(p for p in chosen if p != CPU)} failed to start: {exc}".splitlines()[0]
        session = ort.InferenceSession(str(model_path), sess_options=opts, providers=[CPU],
                                       provider_options=[dict(options.get(CPU, {}))])
    # onnxruntime may drop a provider whose libraries fail to load: report what it actually uses
    active = session.get_providers()
    missing = [p for p in providers if p not in active]
    note = f" (requested {', '.join(missing)}: not available here{failure})" if missing else ""
    log.info("model %s runs on %s%s", label or Path(model_path).name, active[0], note)
    return session
