"""The `crossclient` command line: opens the backoffice, or runs one job (migrate, demo, ...).

Imports stay lazy, so `crossclient worker` or `serve` never loads textual.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from storage.db import default_data_dir


def _operator_default() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a bare container
        return "operator"


def _options(top: bool) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The options every command takes, and the backoffice's.

    They are accepted before the command and after it (`crossclient --db X token list` and
    `crossclient token list --db X`). A subcommand's copy has no defaults (SUPPRESS): argparse
    lets a subparser's default overwrite what was given before the command, which would silently
    open the default database instead of X.
    """
    def default(value):
        return value if top else argparse.SUPPRESS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=default(None),
                        help="SQLite file path or database URL (sqlite:///..., postgresql://...); "
                        "default: env CROSSCLIENT_DATABASE or crossclient.sqlite3 in the data directory")
    common.add_argument("--config", default=default(None), help="config file (TOML); default: env "
                        "CROSSCLIENT_CONFIG or config.toml in the data directory")

    tui_opts = argparse.ArgumentParser(add_help=False)
    tui_opts.add_argument("--readonly", action="store_true", default=default(False),
                          help="hide every action that changes data")
    tui_opts.add_argument("--operator", default=default(_operator_default()),
                          help="name recorded in the audit trail (default: the OS user)")
    tui_opts.add_argument("--client", default=default(None), help="company id of the client to act as at start")
    tui_opts.add_argument("--api", metavar="HOST:PORT", default=default(None),
                          help="also serve the HTTP API in-process")
    return common, tui_opts


def build_parser() -> argparse.ArgumentParser:
    top_common, top_tui = _options(top=True)
    common, tui_opts = _options(top=False)

    parser = argparse.ArgumentParser(
        prog="crossclient", parents=[top_common, top_tui],
        description="Backoffice for cross-client connections between subscription businesses. "
                    "Without a command it opens the backoffice on the configured database.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("migrate", parents=[common], help="apply pending database migrations",
                   description="Create the database if needed and apply every pending migration.")

    demo = sub.add_parser("demo", parents=[common, tui_opts], help="open the backoffice on demo data",
                          description="Open the backoffice on the demo database (demo.sqlite3 in the data "
                                      "directory unless --db), writing the demo data if it is new.")
    demo.add_argument("--no-tui", action="store_true", help="write the demo data, print the clients, exit")
    demo.add_argument("--reset", action="store_true", help="delete the demo database and start over")
    demo.add_argument("--callback-url", help="send the demo connections' callbacks to this URL "
                      "instead of the bundled sample merchant web service")
    demo.add_argument("--no-api", action="store_true", help="do not serve the API in the demo")

    serve = sub.add_parser("serve", parents=[common], help="serve the HTTP API and the outbox worker",
                           description="Serve the plenigo-compatible HTTP API under /api/v3.0 and run "
                                       "the outbox worker in the same process.")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)

    worker = sub.add_parser("worker", parents=[common], help="deliver queued e-mails and callbacks",
                            description="Run the outbox worker headless until SIGTERM or ctrl+c.")
    worker.add_argument("--once", action="store_true", help="deliver what is due now, then exit")

    token = sub.add_parser("token", parents=[common], help="manage API tokens",
                           description="Create, list and revoke API tokens of a client.")
    tsub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    tcreate = tsub.add_parser("create", parents=[common], help="create a token; printed once, last line")
    tcreate.add_argument("--client", required=True, help="company id of the token's client")
    tcreate.add_argument("--name", default="api", help="a name to recognise the token by")
    tlist = tsub.add_parser("list", parents=[common], help="list tokens")
    tlist.add_argument("--client", help="only this client's tokens")
    trevoke = tsub.add_parser("revoke", parents=[common], help="revoke a token by id")
    trevoke.add_argument("token_id", type=int)
    return parser


def _demo_db(args) -> str:
    if args.db:
        return args.db
    if os.environ.get("CROSSCLIENT_DEMO_DATABASE"):
        return os.environ["CROSSCLIENT_DEMO_DATABASE"]
    return str(default_data_dir() / "demo.sqlite3")


def cmd_migrate(args) -> int:
    from storage.db import open_database, resolve_url
    from storage.migrations import applied_versions

    open_database(args.db)
    print(f"database {resolve_url(args.db)} at schema version {max(applied_versions())}")
    return 0


def prepare_demo(args) -> str:
    """Open (and if new, write) the demo database; returns its target."""
    from pathlib import Path

    from storage import connections
    from storage.db import close_database, open_database, resolve_url
    from storage.demo import demo_exists, write_demo

    # The demo's callbacks go to the sample merchant on loopback, which the default policy refuses.
    connections.ALLOW_PRIVATE_CALLBACK_URLS = True
    target = _demo_db(args)
    url = resolve_url(target)
    if args.reset and url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    open_database(target)
    if args.reset and not url.startswith("sqlite:///") and demo_exists():
        raise SystemExit("demo: --reset only deletes SQLite demo databases; drop the PostgreSQL "
                         "database by hand")
    if not demo_exists():
        clients = write_demo(args.callback_url)
        print(f"demo data written to {url}")
    else:
        from storage.models import Client

        clients = {c.company_id: c.name for c in Client.select().order_by(Client.id)}
        if args.callback_url:
            from storage.audit import Actor
            from storage.connections import update_connection
            from storage.models import Connection
            from storage.tenancy import get_client

            source = get_client("NORDPOSTDIGITAL00001")
            for conn in Connection.select().where((Connection.source == source)
                                                  & (Connection.callback_url.is_null(False))
                                                  & Connection.status.in_(["INVITED", "ACTIVE", "BLOCKED"])):
                update_connection(conn.id, source, callback_url=args.callback_url,
                                  actor=Actor.operator("demo"))
        print(f"demo database {url}")
    for company_id, name in clients.items():
        print(f"{company_id}  {name}")
    if args.no_tui:
        close_database()
    return target


def cmd_token(args) -> int:
    from storage.audit import Actor
    from storage.db import open_database
    from storage.errors import DomainError
    from storage.tenancy import get_client
    from storage.tokens import create_token, list_tokens, revoke_token

    open_database(args.db)
    actor = Actor.operator(_operator_default())
    try:
        if args.token_command == "create":
            client = get_client(args.client, "--client")
            token, plain = create_token(client, args.name, actor=actor)
            print(f"token #{token.id} '{token.name}' for {client.company_id} ({client.name}); "
                  "shown once, store it now:")
            print(plain)
        elif args.token_command == "list":
            client = get_client(args.client, "--client") if args.client else None
            after = None
            while True:
                page = list_tokens(client, after=after)
                for t in page:
                    state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
                    used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
                    print(f"#{t.id:<5} {t.client.company_id} {t.prefix}...  {t.name:<20} {state:<24} "
                          f"last used {used}")
                if not page.has_more:
                    break
                after = page.last_key
        else:
            token = revoke_token(args.token_id, actor=actor)
            print(f"token #{token.id} '{token.name}' revoked")
    except DomainError as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command
    if command == "migrate":
        return cmd_migrate(args)
    if command == "token":
        return cmd_token(args)
    if command == "serve":
        from api.server import run_server

        return run_server(args)
    if command == "worker":
        from mailer.worker import run_worker

        return run_worker(args)
    if command == "demo":
        target = prepare_demo(args)
        if args.no_tui:
            return 0
        args.db = target
        if not args.api and not args.no_api:
            args.api = "127.0.0.1:8080"
    from tui.app import run_app

    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
