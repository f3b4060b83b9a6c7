"""`streetsight models`: the detector registry.

    streetsight models import FILE.onnx --name NAME [--classes FILE|coco80|coco91] [--licence SPDX-ID]
    streetsight models list
    streetsight models promote NAME [--camera ID] [--force --reason TEXT] [--config FILE]
    streetsight models rollback [--camera ID] [--reason TEXT]
    streetsight models assignments

`import` recognises the export's layout (models/layouts.py), reads input size and class names from the ONNX
metadata where the exporter stored them, runs the model once on a sample frame (the first frame of
var/samples/vtest.mp4 unless --frame) and registers it with a manifest it writes itself. The registry
folder is --registry, else the first of $STREETSIGHT_MODEL_DIRS, else the built-in models/registry.

Each prints its result as JSON (``--json`` is accepted and changes nothing).

`promote` puts a registered model in service everywhere or on one camera; a running `serve` switches within
a second or so (streetsight/model_assignments.py). It is refused unless the model is measured at least as
good as the one in service on the same set, or forced with a reason; `rollback` undoes the last promotion
of that scope. Both are appended to the audit log beside the registry.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from streetsight.commands import CliError, add_json_option

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FRAME = ROOT / "var" / "samples" / "vtest.mp4"


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="import and list detection models")
    sub = models.add_subparsers(dest="models_command", required=True)

    imp = sub.add_parser("import", help="register an ONNX detector export, its manifest written from the file")
    imp.add_argument("file", help="the .onnx file")
    imp.add_argument("--name", required=True, help="registry name (lower case, digits, . _ -)")
    imp.add_argument("--classes", help="class names: a text file (one per line), coco80 or coco91 "
                                       "(default: the names in the file's metadata)")
    imp.add_argument("--licence", "--license", dest="licence",
                     help="SPDX id of the weights' licence (default: the one in the file's metadata)")
    imp.add_argument("--imgsz", type=int, help="input size for a graph whose height and width are dynamic")
    imp.add_argument("--version", default="1", help="the model's version (default 1)")
    imp.add_argument("--frame", help="image or video whose first frame checks the decoding "
                                     f"(default {DEFAULT_FRAME.relative_to(ROOT)})")
    imp.add_argument("--registry", help="registry folder to write to")
    imp.add_argument("--force", action="store_true", help="replace a model already registered under NAME")
    add_json_option(imp)
    imp.set_defaults(func=cmd_import)

    ls = sub.add_parser("list", help="registered models (JSON)")
    add_json_option(ls)
    ls.set_defaults(func=cmd_list)

    pro = sub.add_parser("promote", help="put a registered model in service, everywhere or on one camera")
    pro.add_argument("name")
    pro.add_argument("--camera", help="only this camera (source id)")
    pro.add_argument("--force", action="store_true", help="promote without a better measurement (needs --reason)")
    pro.add_argument("--reason", help="why (recorded in the audit log; required with --force)")
    pro.add_argument("--config", help="the deployment's YAML: its model.name is the model in service by default")
    pro.add_argument("--registry", help="registry folder holding the assignments (default as for import)")
    add_json_option(pro)
    pro.set_defaults(func=cmd_promote)

    cmp_ = sub.add_parser("compare", help="a candidate in shadow against the serving model, by review decisions")
    cmp_.add_argument("name", help="the candidate model")
    cmp_.add_argument("--config", required=True, help="the deployment's YAML (its incident records)")
    add_json_option(cmp_)  # the comparison is JSON either way
    cmp_.set_defaults(func=cmd_compare)

    back = sub.add_parser("rollback", help="undo the last promotion, everywhere or on one camera")
    back.add_argument("--camera", help="only this camera (source id)")
    back.add_argument("--reason", help="why (recorded in the audit log)")
    back.add_argument("--registry", help="registry folder holding the assignments (default as for import)")
    add_json_option(back)
    back.set_defaults(func=cmd_rollback)

    show = sub.add_parser("assignments", help="models in service and the promotion audit log (JSON)")
    show.add_argument("--registry", help="registry folder holding the assignments (default as for import)")
    add_json_option(show)
    show.set_defaults(func=cmd_assignments)


def registry_dir(given: str | None) -> Path:
    from models.registry import BUILTIN_DIR, ENV_DIRS

    if given:
        return Path(given)
    extra = [p for p in os.environ.get(ENV_DIRS, "").split(os.pathsep) if p.strip()]
    return Path(extra[0]).expanduser() if extra else BUILTIN_DIR


def read_classes(value: str | None) -> list[str] | None:
    from models.class_lists import CLASS_LISTS

    if value is None:
        return None
    if value in CLASS_LISTS:
        return list(CLASS_LISTS[value])
    path = Path(value)
    if not path.is_file():
        raise CliError(f"--classes: {value!r} is neither a file nor one of {', '.join(CLASS_LISTS)}")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise CliError(f"--classes: {value} lists no class names")
    return names


def first_frame(value: str | None):
    """BGR uint8 image: a still image as it is, a video's first frame."""
    import cv2

    path = Path(value) if value else DEFAULT_FRAME
    if not path.is_file():
        raise CliError(f"--frame: {path} does not exist (give an image or a video of a street)")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is not None:
        return image
    import av

    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                return frame.to_ndarray(format="bgr24")
    except (av.error.FFmpegError, ValueError) as exc:
        raise CliError(f"--frame: cannot read {path}: {exc}") from None
    raise CliError(f"--frame: {path} has no video frame")


def cmd_import(args: argparse.Namespace) -> int:
    from models.importer import ImportRefused, import_model
    from models.manifest import ManifestError

    frame = first_frame(args.frame)
    try:
        result = import_model(args.file, args.name, registry_dir(args.registry), frame,
                              classes=read_classes(args.classes), licence=args.licence, imgsz=args.imgsz,
                              version=args.version, overwrite=args.force)
    except (ImportRefused, ManifestError) as exc:
        raise CliError(str(exc)) from None
    m = result.entry.manifest
    print(json.dumps({
        "name": m.name, "directory": str(result.entry.directory), "layout": result.layout.kind,
        "decoder": m.decoder, "input": f"{m.input.width}x{m.input.height} {m.input.layout} {m.input.color_order}",
        "classes": len(m.class_names), "license": m.license.model, "sha256": m.sha256,
        "sample_frame": [{"class": c, "score": s, "box": b} for c, s, b in result.check.detections[:20]],
    }, indent=2, ensure_ascii=False))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from models.registry import find_model, list_models

    rows = []
    for name in list_models():
        entry = find_model(name)
        rows.append({"name": name, "task": entry.manifest.task, "decoder": entry.manifest.decoder,
                     "classes": len(entry.manifest.class_names), "license": entry.manifest.license.model,
                     "directory": str(entry.directory)})
    print(json.dumps(rows, indent=2, ensure_ascii=False))
    return 0


def _store(args: argparse.Namespace):
    from streetsight.model_assignments import AssignmentStore, assignments_dir

    return AssignmentStore(Path(args.registry) if args.registry else assignments_dir())


def _configured_model(config: str | None) -> str:
    from streetsight.config import ModelConfig, load_config

    return load_config(config).model.name if config else ModelConfig().name


def _promotions(args: argparse.Namespace):
    """The one promotion service (streetsight/model_promotion.py); with --config, the deployment's records
    measure a shadow candidate and record the change in their audit log too."""
    from streetsight.config import load_config
    from streetsight.model_promotion import ModelPromotions
    from streetsight.runtime import open_records

    repository = open_records(load_config(args.config))[0] if getattr(args, "config", None) else None
    return ModelPromotions(_configured_model(getattr(args, "config", None)), repository, _store(args).dir)


def _cli_actor() -> str:
    from streetsight.model_assignments import _actor

    return f"cli:{_actor()}"


def cmd_promote(args: argparse.Namespace) -> int:
    from api.model_routes import ModelActionRefused, UnknownModel

    try:
        entry = _promotions(args).promote(args.name, args.camera, force=args.force, reason=args.reason,
                                          actor=_cli_actor())
    except (ModelActionRefused, UnknownModel) as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(entry, indent=2, ensure_ascii=False))
    return 0


def _comparison(config: str, name: str, camera: str | None = None):
    from api.model_compare import compare
    from streetsight.config import load_config
    from streetsight.runtime import open_records

    repository, _ = open_records(load_config(config))
    incidents = repository.list(limit=20000)
    return compare(name, [i for i in incidents if camera is None or i.source == camera])


def cmd_compare(args: argparse.Namespace) -> int:
    print(json.dumps(_comparison(args.config, args.name).as_dict(), indent=2, ensure_ascii=False))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from api.model_routes import ModelActionRefused

    try:
        entry = _promotions(args).rollback(args.camera, reason=args.reason, actor=_cli_actor())
    except ModelActionRefused as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(entry, indent=2, ensure_ascii=False))
    return 0


def cmd_assignments(args: argparse.Namespace) -> int:
    store = _store(args)
    state = store.current()
    print(json.dumps({"default": state.default, "cameras": state.cameras, "history": store.history()[-50:]},
                     indent=2, ensure_ascii=False))
    return 0
