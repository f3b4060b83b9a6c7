"""`streetsight analyze VIDEO --config FILE [--source ID] [--json]`: the pipeline over a recorded file as
fast as it goes; its result, the incidents, is JSON with or without ``--json``."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from streetsight.commands import add_json_option, print_json
from streetsight.config import ConfigError, load_config

log = logging.getLogger("streetsight")


def register(subparsers: argparse._SubParsersAction) -> None:
    a = subparsers.add_parser("analyze", help="run the pipeline over a recorded video as fast as possible")
    a.add_argument("video")
    a.add_argument("--config", required=True)
    a.add_argument("--source", help="id of the source whose zones apply (default: the first)")
    add_json_option(a)
    a.set_defaults(func=cmd_analyze)


def incident_json(rec: Any, root: Path, uri: Any = None) -> dict[str, Any]:
    """``uri(key)``, when given, names where evidence lies (s3://bucket/key); else a path under root."""
    from streetsight.recorder import EVIDENCE_EXTRA

    inc = rec.incident
    where = (lambda key: uri(key)) if uri else (lambda key: str(root / key))
    extra = {k: v for k, v in inc.extra.items() if k not in EVIDENCE_EXTRA}
    evidence: dict[str, Any] = {kind: where(obj.key) for kind, obj in rec.evidence.items()
                                if kind in ("snapshot", "snapshot_raw", "clip", "clip_preview", "vehicle_crop")}
    if rec.snapshots:
        evidence["snapshots"] = [{"at": round(at, 3), "snapshot": where(obj.key)} for at, obj in rec.snapshots]
    out = {
        "id": inc.id, "type": inc.type, "source": inc.source_id, "zone": inc.zone_id,
        "started_at": round(inc.started_at, 3), "confirmed_at": round(inc.confirmed_at, 3),
        "ended_at": None if inc.ended_at is None else round(inc.ended_at, 3),
        "class": inc.class_name, "box": [round(v, 1) for v in inc.box], "score": round(inc.score, 4),
        "labels": inc.labels, **({"extra": extra} if extra else {}),
        "evidence": evidence,
    }
    vehicle = inc.extra.get("vehicle")
    if vehicle:
        out["vehicle"] = {**vehicle, "crop": where(vehicle["crop"])}
    if inc.extra.get("shop"):
        out["shop"] = inc.extra["shop"]  # shop fronts: the shop responsible (门前三包), also under extra
    return out


def unreadable_reason(video: Path) -> str | None:
    """Why ``video`` cannot be a video file, found without opening it (None: try to open it)."""
    if not video.exists():
        return "no such file"
    if video.is_dir():
        return "it is a directory, not a video file"
    if video.stat().st_size == 0:
        return "the file is empty (0 bytes)"
    return None


def cmd_analyze(args: argparse.Namespace) -> int:
    import time

    from streetsight.pipeline import analyze_source
    from streetsight.runtime import Runtime

    cfg = load_config(args.config)
    if not cfg.sources:
        raise ConfigError(f"{args.config}: sources: analyze needs one source whose zones apply to the video")
    matches = [s for s in cfg.sources if args.source in (None, s.id)]
    if not matches:
        raise ConfigError(f"{args.config}: sources: no source with id {args.source!r}")
    src = matches[0].model_copy(update={"url": str(Path(args.video).resolve())})
    reason = unreadable_reason(Path(args.video))
    if reason is not None:
        print(f"streetsight analyze: cannot analyse {args.video}: {reason}", file=sys.stderr)
        return 2
    rt = Runtime.create(cfg)
    try:
        from api.examples import ExampleStore
        from streetsight.teaching import attach_book

        attach_book(cfg, ExampleStore(rt.repository.sessions), poll=False)  # the cameras' taught examples
        t0 = time.perf_counter()
        from streetsight.shadow import build_shadow

        shadow = build_shadow(cfg, rt.repository, rt.recorder)  # model.shadow: the candidate sees the same frames
        analysis = analyze_source(src, cfg, rt.detector, rt.recorder, shadow=shadow)
        if shadow is not None:
            shadow.recorder.close()
        rt.recorder.close()  # previews still being made belong in the output
        elapsed = time.perf_counter() - t0
        log.info("analysed %d frames of %s in %.1f s", analysis.frames_analysed, args.video, elapsed)
        if analysis.frames_analysed == 0:
            why = analysis.failure or "no frame of it could be analysed"
            print(f"streetsight analyze: cannot analyse {args.video}: {why}", file=sys.stderr)
            return 1
        opened = [e.incident.id for e in analysis.events if e.kind == "opened"]
        uri = rt.evidence.uri if rt.evidence is not None else None
        print_json([incident_json(rt.recorder.recorded[i], rt.evidence_root, uri) for i in opened])
        if analysis.failure is not None:  # what was read is printed above; the run still failed
            print(f"streetsight analyze: {args.video} failed part-way after {analysis.frames_analysed} "
                  f"frames: {analysis.failure}", file=sys.stderr)
            return 1
    finally:
        rt.close()  # with S3: upload what was spooled, or leave it for the next run
    return 0
