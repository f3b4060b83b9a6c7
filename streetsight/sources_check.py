"""`sources check`: open every configured source and report whether frames arrive."""
from __future__ import annotations

import time

from streams.live import ThreadedSource
from streams.reader import SourceReader
from streams.urls import mask_url
from streetsight.config import Config


def check_sources(cfg: Config, timeout_s: float = 10.0) -> list[dict]:
    report = []
    for src in cfg.sources:
        reader = SourceReader(src.id, src.url, analysis_fps=src.analysis_fps, decode=src.decode, realtime=False,
                              ring=None)
        threaded = ThreadedSource(reader)
        t0 = time.monotonic()
        frame = threaded.get(timeout=timeout_s)
        threaded.stop()
        health = reader.health.as_dict()
        entry = {"id": src.id, "url": mask_url(src.url), "ok": frame is not None,
                 "first_frame_s": round(time.monotonic() - t0, 3) if frame is not None else None,
                 "state": health.get("state"), "last_error": health.get("last_error")}
        if frame is not None:
            entry["resolution"] = [frame.width, frame.height]
        report.append(entry)
    return report
