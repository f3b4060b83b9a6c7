"""`streetsight sources check|import|export`: try the configured sources; the camera records in bulk.

    streetsight sources check --config FILE [--timeout S]  (validate the config and try every source; JSON)

    streetsight sources import cameras.csv --config FILE    (a platform's catalogue: id, name, url, lng, lat,
                                                            address, grid, area; optional kind, analysis_fps,
                                                            enabled; UTF-8, Excel's BOM welcome)
    streetsight sources import sources.yaml --config FILE   (a config's ``sources:`` list, or a bare list)
    streetsight sources export [DEST.yaml] --config FILE    (the records as a config's ``sources:``; stdout
                                                            without DEST)

Import adds new ids and updates known ones (fields the file does not give keep their stored value: a
catalogue of places keeps each camera's zones); nothing is written when any row is invalid, and the error
names the row and the field. A running `serve` picks the change up within seconds, no restart. Each change
is audited with the actor ``cli:<user>``. The export holds the URLs as stored (passwords and ``${ENV}``
references): it is config-as-code, written readable by its owner only.

The database is the config's (``storage``), or ``--database-url``, or ``$STREETSIGHT_DATABASE_URL``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from streetsight.commands import CliError, add_database_options, add_json_option, database_url, print_json

CSV_COLUMNS = ("id", "name", "url", "lng", "lat", "address", "grid", "area", "kind", "analysis_fps", "enabled")


def register(subparsers: argparse._SubParsersAction) -> None:
    src = subparsers.add_parser("sources", help="source tools")
    sources_subparsers = src.add_subparsers(dest="sources_command", required=True)
    chk = sources_subparsers.add_parser("check", help="validate the config and try every source")
    chk.add_argument("--config", required=True)
    chk.add_argument("--timeout", type=float, default=10.0)
    add_json_option(chk)
    chk.set_defaults(func=cmd_check)

    imp = add_database_options(sources_subparsers.add_parser(
        "import", help="add or update camera records from a catalogue (.csv) or a sources list (.yaml)"))
    imp.add_argument("file", metavar="FILE", help="cameras.csv or sources.yaml")
    add_json_option(imp)
    imp.set_defaults(func=cmd_import)

    exp = add_database_options(sources_subparsers.add_parser("export", help="write the camera records as YAML"))
    exp.add_argument("dest", metavar="DEST", nargs="?", default="-", help="a .yaml file (default: stdout)")
    exp.set_defaults(func=cmd_export)


def cmd_check(args: argparse.Namespace) -> int:
    """The report is JSON with or without ``--json``; exit 1 when a source failed."""
    from streetsight.config import load_config
    from streetsight.sources_check import check_sources

    report = check_sources(load_config(args.config), timeout_s=args.timeout)
    print_json(report)
    return 0 if all(r["ok"] for r in report) else 1


def _catalog(args: argparse.Namespace):
    from api.db import create_engine_for, init_db, make_session_factory
    from api.source_catalog import SourceCatalog
    from streetsight.source_records import validate_source_body

    if args.config:
        from streetsight.config import load_config

        url = load_config(args.config).storage.resolved_database_url()
    else:
        url = database_url(args)
    engine = create_engine_for(url)
    init_db(engine)
    return SourceCatalog(make_session_factory(engine), validate_source_body), engine


def read_catalogue(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The bodies in ``path`` and, for each, where it is in the file (for error messages)."""
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text (save the catalogue as UTF-8 CSV)") from None
    if suffix == ".csv":
        return _read_csv(path, text)
    if suffix in (".yaml", ".yml"):
        return _read_yaml(path, text)
    raise CliError(f"{path}: unknown kind of file; give a .csv catalogue or a .yaml sources list")


def _read_csv(path: Path, text: str) -> tuple[list[dict[str, Any]], list[str]]:
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if "id" not in header:
        raise CliError(f"{path}: the header row has no 'id' column (columns: {', '.join(CSV_COLUMNS)})")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise CliError(f"{path}: unknown column(s) {unknown}; known: {', '.join(CSV_COLUMNS)}")
    reader.fieldnames = header
    bodies, where = [], []
    for row in reader:  # empty cells are not given (an update keeps the stored value)
        bodies.append({k: v.strip() for k, v in row.items() if k is not None and v is not None and v.strip()})
        where.append(f"line {reader.line_num}")
    return bodies, where


def _read_yaml(path: Path, text: str) -> tuple[list[dict[str, Any]], list[str]]:
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise CliError(f"{path}: not valid YAML: {exc}") from None
    items = data.get("sources") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise CliError(f"{path}: expected a 'sources:' list (or a bare list of sources)")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise CliError(f"{path}: sources[{i}]: a source must be a mapping")
    return items, [f"sources[{i}]" for i in range(len(items))]


def cmd_import(args: argparse.Namespace) -> int:
    import getpass

    from api.source_catalog import SourceInvalid

    path = Path(args.file)
    bodies, where = read_catalogue(path)
    catalog, engine = _catalog(args)
    try:
        added, updated, unchanged = catalog.upsert_many(bodies, actor=f"cli:{getpass.getuser()}")
    except SourceInvalid as exc:
        index, *loc = exc.loc
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        ident = bodies[index].get("id") if isinstance(index, int) else None
        raise CliError(f"{path}: {where[index]} ({ident or 'no id'}): {field or 'source'}: {exc.message}; "
                       "nothing imported") from None
    finally:
        engine.dispose()
    if args.json:
        print_json({"file": str(path), "added": added, "updated": updated, "unchanged": unchanged})
    else:
        print(f"{path}: {added} added, {updated} updated, {unchanged} unchanged")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import yaml

    catalog, engine = _catalog(args)
    try:
        bodies = catalog.list()
        text = yaml.safe_dump({"sources": bodies}, allow_unicode=True, sort_keys=False)
    finally:
        engine.dispose()
    if args.dest == "-":
        sys.stdout.write(text)
        return 0
    dest = Path(args.dest)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds camera passwords
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{dest}: {len(bodies)} source(s) written", file=sys.stderr)
    return 0
