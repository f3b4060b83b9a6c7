"""`streetsight evidence ...`: retention sweep, spool drain, protection and links, from the shell.

    streetsight evidence sweep --config FILE [--dry-run]
    streetsight evidence drain --config FILE [--timeout S]
    streetsight evidence protect PREFIX_OR_KEY... --config FILE
    streetsight evidence link KEY --config FILE [--expires S]

Each prints JSON (``link`` prints the bare URL without ``--json``). Secrets (S3 keys) never appear in the output.
"""
from __future__ import annotations

import argparse
import json

from evidence.signing import MAX_EXPIRY_S as MAX_LINK_EXPIRY_S  # standard library only: --help stays fast
from streetsight.commands import CliError, add_json_option, bounded_number, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser("evidence", help="evidence storage: retention, spool, protection, links")
    sub = ev.add_subparsers(dest="evidence_command", required=True)

    sweep = sub.add_parser("sweep", help="delete evidence older than its retention, unless protected")
    sweep.add_argument("--config", required=True)
    sweep.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    add_json_option(sweep)
    sweep.set_defaults(func=cmd_sweep)

    drain = sub.add_parser("drain", help="upload the evidence spooled while object storage was down")
    drain.add_argument("--config", required=True)
    drain.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    add_json_option(drain)
    drain.set_defaults(func=cmd_drain)

    protect = sub.add_parser("protect", help="keep evidence from retention (an incident prefix or keys)")
    protect.add_argument("targets", nargs="+", help="YYYY/MM/DD/<source>/<incident> prefix, or object keys")
    protect.add_argument("--config", required=True)
    add_json_option(protect)
    protect.set_defaults(func=cmd_protect)

    link = sub.add_parser("link", help="an expiring URL for one evidence object")
    link.add_argument("key")
    link.add_argument("--config", required=True)
    link.add_argument("--expires", type=bounded_number(MAX_LINK_EXPIRY_S, "s", int),
                      help=f"seconds, at most {MAX_LINK_EXPIRY_S} (default storage.presign_expiry_s)")
    add_json_option(link)
    link.set_defaults(func=cmd_link)


def _backend(args: argparse.Namespace):
    from streetsight.config import load_config
    from streetsight.evidence_backend import build_evidence_backend

    return build_evidence_backend(load_config(args.config).storage)


def cmd_sweep(args: argparse.Namespace) -> int:
    report = _backend(args).sweep(dry_run=args.dry_run)
    print(json.dumps({**report.summary(), "dry_run": args.dry_run, "deleted_keys": report.deleted,
                      "protected_keys": report.protected, "error_messages": report.errors}, indent=2))
    return 1 if report.errors else 0


def cmd_drain(args: argparse.Namespace) -> int:
    backend = _backend(args)
    if backend.spooling is None:
        print(json.dumps({"backend": backend.backend, "uploaded": 0, "remaining": 0}))
        return 0
    result = backend.spooling.drain(args.timeout)
    print(json.dumps({"backend": backend.backend, "uploaded": result.uploaded, "bytes": result.bytes,
                      "remaining": result.remaining, "error": result.error}, indent=2))
    return 1 if result.remaining else 0


def _checked_key(key: str) -> str:
    """A key (or prefix) inside the store: relative, no '.' or '..' segments, nothing that escapes it."""
    from evidence.store import validate_key

    try:
        return validate_key(key.rstrip("/") or key)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_protect(args: argparse.Namespace) -> int:
    for target in args.targets:
        _checked_key(target)
    backend = _backend(args)
    keys: list[str] = []
    for target in args.targets:
        keys += backend.protect(target)
    print(json.dumps({"protected": keys}, indent=2))
    return 0


def cmd_link(args: argparse.Namespace) -> int:
    key = _checked_key(args.key)
    url = _backend(args).presign(key, args.expires)
    print_json({"key": key, "url": url}) if args.json else print(url)
    return 0
