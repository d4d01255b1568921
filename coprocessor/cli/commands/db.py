"""``coproc db migrate|status``: the service database's schema (docs/operations.md,
"PostgreSQL backend")."""

from __future__ import annotations

import argparse
import json
from typing import Any

from coprocessor.paths import data_dir


def register(sub: Any) -> None:
    """Add the ``db`` command group."""
    parser = sub.add_parser(
        "db", help="the service database: apply schema migrations, show the schema version"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    migrate = actions.add_parser(
        "migrate",
        help="bring the database of database_url to this coproc's schema (refuses a newer one)",
    )
    status = actions.add_parser("status", help="print the database's and this coproc's schema")
    for action in (migrate, status):
        action.add_argument("--config", help="service config JSON (its database_url)")
        action.add_argument("--database-url", help="overrides the config's database_url")
    migrate.set_defaults(handler=_migrate)
    status.set_defaults(handler=_status)


def _database_url(args: argparse.Namespace) -> str:
    from coprocessor.service.config import load_config

    overrides = {} if args.database_url is None else {"database_url": args.database_url}
    return load_config(args.config, overrides).database_url


def _migrate(args: argparse.Namespace) -> int:
    from coprocessor.service.store.database import migrate_database

    done = migrate_database(_database_url(args), data_dir(args.data_dir))
    print(json.dumps({"backend": done.kind, "schema": done.version, "applied": done.applied}))
    return 0


def _status(args: argparse.Namespace) -> int:
    from coprocessor.service.store.database import schema_status

    kind, found, code = schema_status(_database_url(args), data_dir(args.data_dir))
    print(json.dumps({"backend": kind, "schema": found, "code_schema": code}))
    return 0
