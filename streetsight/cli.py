"""The `streetsight` command: detect, analyze, serve, demo, sources check|import|export."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn, Sequence

from streetsight.config import Config, ConfigError, load_config

log = logging.getLogger("streetsight")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# -- detect ---------------------------------------------------------------------------------------

def cmd_detect(args: argparse.Namespace) -> int:
    import cv2

    from models.detector import OnnxDetector

    detector = OnnxDetector.from_registry(args.model, min_score=args.min_score)
    results: list[dict[str, Any]] = []
    for path in args.images:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            print(f"streetsight detect: cannot read image {path}", file=sys.stderr)
            return 2
        raw = detector.detect([image])[0]
        results.append({"image": path, "detections": [
            {"class": detector.class_names[int(c)], "class_id": int(c), "score": round(float(s), 4),
             "box": [round(float(v), 1) for v in box]}
            for box, s, c in zip(raw.xyxy, raw.scores, raw.class_ids)
        ]})
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for r in results:
            print(r["image"])
            for d in r["detections"]:
                print(f"  {d['class']:<14} {d['score']:.2f}  {d['box']}")
    return 0


# -- analyze --------------------------------------------------------------------------------------

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
        out = [incident_json(rt.recorder.recorded[i], rt.evidence_root, uri) for i in opened]
        print(json.dumps(out, ensure_ascii=False, indent=2 if args.json else None))
        if analysis.failure is not None:  # what was read is printed above; the run still failed
            print(f"streetsight analyze: {args.video} failed part-way after {analysis.frames_analysed} "
                  f"frames: {analysis.failure}", file=sys.stderr)
            return 1
    finally:
        rt.close()  # with S3: upload what was spooled, or leave it for the next run
    return 0


# -- serve / demo ---------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from streetsight.server import serve

    cfg = load_config(args.config)
    if args.role in ("worker", "api") and not cfg.cluster.redis_url:
        raise ConfigError(f"{args.config}: cluster.redis_url: required by --role {args.role} "
                          "(workers and API processes meet in Redis)")
    serve(cfg, host=args.host, port=args.port, role=args.role, worker_id=args.worker_id,
          capacity=args.capacity, metrics_port=args.metrics_port)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streetsight.demo import run_demo

    run_demo(port=args.port, data_dir=Path(args.data_dir), keep=args.keep, exit_when_done=args.exit_when_done)
    return 0


# -- sources check --------------------------------------------------------------------------------

def cmd_sources_check(args: argparse.Namespace) -> int:
    from streetsight.sources_check import check_sources

    cfg = load_config(args.config)
    report = check_sources(cfg, timeout_s=args.timeout)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if all(r["ok"] for r in report) else 1


# -- parser ---------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """Usage mistakes as one line (the subcommand, the argument, the problem) and exit status 2; the
    full usage stays one `--help` away. Subparsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="streetsight", description="AI video analytics for city-management enforcement")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("detect", help="run the detector on images")
    d.add_argument("images", nargs="+")
    d.add_argument("--model", default="nanodet-coco")
    d.add_argument("--min-score", type=float, default=0.3)
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_detect)

    a = sub.add_parser("analyze", help="run the pipeline over a recorded video as fast as possible")
    a.add_argument("video")
    a.add_argument("--config", required=True)
    a.add_argument("--source", help="id of the source whose zones apply (default: the first)")
    a.add_argument("--json", action="store_true", help="pretty-print the JSON")
    a.set_defaults(func=cmd_analyze)

    s = sub.add_parser("serve", help="run live on the configured sources with the API and review UI")
    s.add_argument("--config", required=True)
    s.add_argument("--role", choices=["all", "api", "worker"], default="all",
                   help="all: one machine, no Redis (default); api: records, UI, dispatch; worker: cameras "
                        "and detectors (api and worker need cluster.redis_url)")
    s.add_argument("--host", help="address to listen on (api/all; a worker's metrics)")
    s.add_argument("--port", type=int, help="API port (api/all)")
    s.add_argument("--worker-id", help="worker: a stable name (default cluster.worker_id, else host-pid)")
    s.add_argument("--capacity", type=int, help="worker: most sources it carries (default cluster.capacity)")
    s.add_argument("--metrics-port", type=int, help="worker: serve Prometheus /metrics on this port")
    s.set_defaults(func=cmd_serve)

    m = sub.add_parser("demo", help="everything on embedded defaults with the sample footage")
    m.add_argument("--port", type=int, default=8080)
    m.add_argument("--data-dir", default="var/demo")
    m.add_argument("--keep", action="store_true", help="keep earlier demo incidents")
    m.add_argument("--exit-when-done", action="store_true", help="stop once the sample footage has been analysed")
    m.set_defaults(func=cmd_demo)

    src = sub.add_parser("sources", help="source tools")
    src_sub = src.add_subparsers(dest="sources_command", required=True)
    chk = src_sub.add_parser("check", help="validate the config and try every source")
    chk.add_argument("--config", required=True)
    chk.add_argument("--timeout", type=float, default=10.0)
    chk.set_defaults(func=cmd_sources_check)
    from streetsight.commands import sources as sources_commands

    sources_commands.register(src_sub)  # import, export

    import importlib

    from streetsight.commands import COMMAND_MODULES

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return p


def _expected_error(exc: BaseException) -> bool:
    """Errors that report a mistake in what the user gave (a name, a key, a value), not a bug: printed as
    one line, never a traceback. Imported here, on the error path, so that `--help` stays fast."""
    from models.manifest import ManifestError
    from models.registry import ModelNotFound
    from streetsight.commands import CliError

    return isinstance(exc, (CliError, ModelNotFound, ManifestError))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"streetsight: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not _expected_error(exc):
            raise
        print(f"streetsight {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
