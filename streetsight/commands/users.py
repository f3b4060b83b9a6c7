"""`streetsight users`: accounts for the API and review UI.

    streetsight users add NAME --role reviewer --config FILE     (password from stdin or $STREETSIGHT_PASSWORD)
    streetsight users list --config FILE
    streetsight users token NAME --days 365 --config FILE        (an API token, e.g. for the dispatch system)
    streetsight users disable NAME --config FILE

The database is the config's (``storage``), or ``--database-url``, or ``$STREETSIGHT_DATABASE_URL``.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from streetsight.commands import add_database_options, add_json_option, bounded_number, database_url, print_json

PASSWORD_ENV = "STREETSIGHT_PASSWORD"
MAX_TOKEN_DAYS = 3650  # api.auth.MAX_TOKEN_TTL_S, without importing the API for --help
ROLES = ("reviewer", "admin", "trainer", "dispatch-callback", "docking-station")


def register(subparsers: argparse._SubParsersAction) -> None:
    users = subparsers.add_parser("users", help="manage the accounts of the API and review UI")
    sub = users.add_subparsers(dest="users_command", required=True)

    add = add_database_options(
        sub.add_parser("add", help=f"add a user; the password comes from stdin or ${PASSWORD_ENV}"))
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--update", action="store_true", help="reset the password and role of an existing user")
    add_json_option(add)
    add.set_defaults(func=cmd_add)

    ls = add_database_options(sub.add_parser("list", help="list users (JSON)"))
    add_json_option(ls)
    ls.set_defaults(func=cmd_list)

    token = add_database_options(
        sub.add_parser("token", help="print a new API token for a user (machine accounts)"))
    token.add_argument("name")
    token.add_argument("--days", type=bounded_number(MAX_TOKEN_DAYS, "days"), default=365.0,
                       help=f"lifetime in days, at most {MAX_TOKEN_DAYS} (default 365)")
    add_json_option(token)
    token.set_defaults(func=cmd_token)

    disable = add_database_options(sub.add_parser("disable", help="disable a user and end its sessions"))
    disable.add_argument("name")
    add_json_option(disable)
    disable.set_defaults(func=cmd_disable)


def _auth(args: argparse.Namespace):
    from api.auth import AuthService
    from api.db import create_engine_for, init_db, make_session_factory

    if args.config:
        from streetsight.config import load_config

        cfg = load_config(args.config)
        url, settings = cfg.storage.resolved_database_url(), cfg.auth
    else:
        from api.settings import AuthSettings

        url = database_url(args)
        settings = AuthSettings()
    engine = create_engine_for(url)
    init_db(engine)
    return AuthService(make_session_factory(engine), settings), engine


def _read_password() -> str:
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValueError("password: the two entries differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _run(args: argparse.Namespace, action) -> int:
    from api.auth import AuthError

    try:
        auth, engine = _auth(args)
    except Exception as exc:  # a database that cannot be reached: say so, no traceback
        print(f"streetsight users: database: {exc}", file=sys.stderr)
        return 2
    try:
        return action(auth)
    except (AuthError, ValueError) as exc:
        print(f"streetsight users: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


def cmd_add(args: argparse.Namespace) -> int:
    def action(auth) -> int:
        user = auth.add_user(args.name, _read_password(), args.role, update=args.update)
        if args.json:
            print_json({"user": user.username, "role": user.role, "updated": bool(args.update)})
        else:
            print(f"{'updated' if args.update else 'added'} user {user.username} ({user.role})")
        return 0

    return _run(args, action)


def cmd_list(args: argparse.Namespace) -> int:
    def action(auth) -> int:
        print(json.dumps([u.model_dump(mode="json") for u in auth.list_users()], ensure_ascii=False, indent=2))
        return 0

    return _run(args, action)


def cmd_token(args: argparse.Namespace) -> int:
    def action(auth) -> int:
        token = auth.issue_token(args.name, kind="api", ttl_s=args.days * 86400)
        print_json({"user": args.name, "token": token}) if args.json else print(token)
        return 0

    return _run(args, action)


def cmd_disable(args: argparse.Namespace) -> int:
    def action(auth) -> int:
        auth.set_disabled(args.name, True)
        print_json({"user": args.name, "disabled": True}) if args.json else print(f"disabled user {args.name}")
        return 0

    return _run(args, action)
