"""`streetsight datasets ...`: YOLO dataset tools (no torch needed; they run in the serving install).

    validate  check a dataset; exit 1 on errors
    stats     images, backgrounds, instances per class and split, box sizes
    split     train/val/test, seeded, grouped (e.g. by camera or video), classes balanced
    merge     several datasets into one, classes unified by name
    import    labelme | coco | tianchi -> unsplit YOLO dataset
    export-reviews  confirmed incidents (positives) and rejected ones (hard negatives) from the records
    synth     synthetic street scenes with the urban classes

Every step prints its result as JSON (validate and stats print text unless ``--json``). DEST, the new
dataset folder, is positional everywhere (merge: SOURCE... DEST; ``--dest`` is deprecated).
"""
from __future__ import annotations

import argparse
import sys

from streetsight.commands import add_deprecated_option, add_json_option, print_json


def parse_mapping(items: list[str] | None) -> dict[str, str | None]:
    """OLD=NEW pairs; NEW empty drops the class (merge)."""
    out: dict[str, str | None] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{item!r} must be OLD=NEW")
        old, new = item.split("=", 1)
        out[old] = new or None
    return out


def _summary(manifest: dict) -> dict:
    keep = ("name", "version", "classes", "splits", "content_sha256", "imported_images", "imported_boxes",
            "skipped", "positives", "negatives", "skipped_incidents")
    return {k: manifest[k] for k in keep if k in manifest}


def cmd_validate(args: argparse.Namespace) -> int:
    from datasets.validate import validate_dataset

    report = validate_dataset(args.data, check_pixels=not args.headers_only, require_splits=args.require_splits)
    if args.json:
        print_json(report.to_dict())
    else:
        for e in report.errors:
            print(f"error: {e}")
        for w in report.warnings:
            print(f"warning: {w}")
        print(f"{'OK' if report.ok else 'FAILED'}: {len(report.errors)} error(s), {len(report.warnings)} warning(s); "
              f"images per split {report.images}")
    return 0 if report.ok else 1


def cmd_stats(args: argparse.Namespace) -> int:
    from datasets.stats import dataset_stats, format_stats

    stats = dataset_stats(args.data)
    if args.json:
        print_json(stats)
    else:
        print(format_stats(stats))
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from datasets.split import parse_ratios, split_dataset

    print_json(_summary(split_dataset(args.data, args.dest, parse_ratios(args.ratios), seed=args.seed,
                                  group_pattern=args.group, name=args.name, version=args.version)))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from datasets.merge import merge_datasets

    sources, dest = merge_paths(args)
    print_json(_summary(merge_datasets(sources, dest, names=args.names, rename=parse_mapping(args.rename),
                                   drop_unknown=args.drop_unknown, name=args.name, version=args.version)))
    return 0


def merge_paths(args: argparse.Namespace) -> tuple[list[str], str]:
    """(SOURCES, DEST): DEST is the last positional, as in `cp`; the deprecated ``--dest`` names it instead."""
    if args.dest is not None:
        return list(args.paths), args.dest
    if len(args.paths) < 2:
        raise ValueError("merge: give the datasets to merge and then DEST, the new dataset folder")
    return list(args.paths[:-1]), args.paths[-1]


def cmd_import(args: argparse.Namespace) -> int:
    class_map = {k: v for k, v in parse_mapping(args.class_map).items() if v}
    common = dict(class_map=class_map, names=args.names, skip_unknown=args.skip_unknown, name=args.name,
                  version=args.version)
    if args.format == "labelme":
        from datasets.importers.labelme import import_labelme

        manifest = import_labelme(args.src, args.dest, **common)
    elif args.format == "coco":
        from datasets.importers.coco import import_coco

        if not args.images:
            raise ValueError("--images: the folder of the COCO images is required")
        manifest = import_coco(args.src, args.images, args.dest, **common)
    else:
        from datasets.importers.tianchi import import_tianchi

        manifest = import_tianchi(args.src, args.dest, every=args.every, negatives=args.negatives,
                                  frame_base=args.frame_base, seed=args.seed, **common)
    print_json(_summary(manifest))
    return 0


def open_records(config_path: str) -> tuple[object, object]:
    """(IncidentRepository, EvidenceStore) of a serving config, for reading only (no tables created)."""
    from api.db import create_engine_for, make_session_factory
    from api.repository import IncidentRepository
    from streetsight.config import load_config
    from streetsight.evidence_backend import build_evidence_backend

    from sqlalchemy.exc import SQLAlchemyError

    from datasets.yolo import DatasetError

    cfg = load_config(config_path)
    url = cfg.storage.resolved_database_url()
    repository = IncidentRepository(make_session_factory(create_engine_for(url)))
    try:
        repository.count()
    except SQLAlchemyError as err:
        raise DatasetError(f"{config_path}: storage: cannot read incidents from the database "
                           f"({type(err).__name__}: {str(err).splitlines()[0]})") from None
    return repository, build_evidence_backend(cfg.storage).store


def cmd_export_reviews(args: argparse.Namespace) -> int:
    from datasets.reviews import export_reviews

    repository, store = open_records(args.config)
    class_map = {k: v for k, v in parse_mapping(args.class_map).items() if v}
    manifest = export_reviews(repository, store, args.dest, names=args.names, class_map=class_map,
                              label_from=args.label_from, types=args.types, negatives=not args.no_negatives,
                              name=args.name, version=args.version)
    print_json(_summary(manifest))
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from datasets.synthetic.generate import run

    return run(args)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("datasets", help="YOLO dataset tools: validate, stats, split, merge, import, "
                              "export-reviews, synth", description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="\n".join(__doc__.split("\n\n")[1:]))
    sub = p.add_subparsers(dest="datasets_command", required=True)

    v = sub.add_parser("validate", help="check a dataset (exit 1 on errors)")
    v.add_argument("data", help="dataset folder or its data.yaml")
    v.add_argument("--headers-only", action="store_true", help="read image headers only (faster)")
    v.add_argument("--require-splits", action="store_true", help="train and val must exist")
    add_json_option(v)
    v.set_defaults(func=_wrap(cmd_validate))

    st = sub.add_parser("stats", help="counts per class and split, box sizes")
    st.add_argument("data")
    add_json_option(st)
    st.set_defaults(func=_wrap(cmd_stats))

    sp = sub.add_parser("split", help="train/val/test split into a new dataset folder")
    sp.add_argument("data")
    sp.add_argument("dest")
    sp.add_argument("--ratios", default="0.8,0.1,0.1", help="train,val,test (default 0.8,0.1,0.1)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--group", help=r"regex on the file stem; images with the same group key stay together, "
                    r"e.g. '^(.+)_f\d+$' (frames of a video), '^(.+?)__' (camera of exported reviews)")
    sp.add_argument("--name")
    sp.add_argument("--version", default="1")
    add_json_option(sp)
    sp.set_defaults(func=_wrap(cmd_split))

    mg = sub.add_parser("merge", help="merge datasets, classes unified by name")
    mg.add_argument("paths", nargs="+", metavar="PATH", help="SOURCE... DEST: the datasets, then the new folder")
    add_deprecated_option(mg, "--dest", "the last positional argument (DEST)", dest="dest")
    mg.add_argument("--names", nargs="+", help="the merged class list (default: all, in order of appearance)")
    mg.add_argument("--rename", nargs="*", help="OLD=NEW class renames; OLD= drops the class")
    mg.add_argument("--drop-unknown", action="store_true", help="drop classes not in --names instead of failing")
    mg.add_argument("--name")
    mg.add_argument("--version", default="1")
    add_json_option(mg)
    mg.set_defaults(func=_wrap(cmd_merge))

    im = sub.add_parser("import", help="labelme / COCO / Tianchi annotations -> unsplit YOLO dataset")
    im.add_argument("format", choices=["labelme", "coco", "tianchi"])
    im.add_argument("src", help="labelme: folder of JSONs; coco: the instances JSON; tianchi: folder of videos + JSONs")
    im.add_argument("dest")
    im.add_argument("--images", help="coco: folder of the images")
    im.add_argument("--class-map", nargs="*", help="OLD=NEW label renames")
    im.add_argument("--names", nargs="+", help="fixed class list (others: error, or skipped with --skip-unknown)")
    im.add_argument("--skip-unknown", action="store_true")
    im.add_argument("--every", type=int, default=5, help="tianchi: keep one annotated frame in N (default 5)")
    im.add_argument("--negatives", type=int, default=0, help="tianchi: unannotated frames per video as backgrounds")
    im.add_argument("--frame-base", type=int, default=0, help="tianchi: frame_id of the first frame (default 0)")
    im.add_argument("--seed", type=int, default=0)
    im.add_argument("--name")
    im.add_argument("--version", default="1")
    add_json_option(im)
    im.set_defaults(func=_wrap(cmd_import))

    ex = sub.add_parser("export-reviews", help="reviewed incidents -> dataset (confirmed: boxes; rejected: negatives)")
    ex.add_argument("--config", required=True, help="the serving config whose records and evidence are read")
    ex.add_argument("dest")
    ex.add_argument("--names", nargs="+", help="class list (e.g. the base dataset's); incidents of others are skipped")
    ex.add_argument("--class-map", nargs="*", help="incident class (or type) -> dataset class, OLD=NEW")
    ex.add_argument("--label-from", choices=["class", "type"], default="class")
    ex.add_argument("--types", nargs="*", help="only incidents of these event types")
    ex.add_argument("--no-negatives", action="store_true", help="leave rejected incidents out")
    ex.add_argument("--name")
    ex.add_argument("--version", default="1")
    add_json_option(ex)
    ex.set_defaults(func=_wrap(cmd_export_reviews))

    sy = sub.add_parser("synth", help="synthetic street scenes with vendor stalls, parasols, bins, overflowing bins, "
                        "debris piles and garbage bags on real frames")
    from datasets.synthetic.generate import build_parser

    build_parser(sy)
    add_json_option(sy)
    sy.set_defaults(func=_wrap(cmd_synth))


def _wrap(func):
    """Dataset errors print one line naming the file and field, exit code 2."""
    def wrapped(args: argparse.Namespace) -> int:
        from datasets.yolo import DatasetError

        try:
            return func(args)
        except (DatasetError, ValueError, FileNotFoundError) as err:
            print(f"streetsight datasets: {err}", file=sys.stderr)
            return 2
    return wrapped
