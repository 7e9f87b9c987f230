"""Migrations, tokens, audit, demo data and import hygiene."""
from __future__ import annotations

import subprocess
import sys

import pytest

from storage.audit import Actor, history
from storage.db import close_database, db, open_database
from storage.errors import DomainError
from storage.migrations import applied_versions, latest_version, migrate
from storage.models import Client, Connection, Customer, Subscription, Voucher
from storage.tokens import authenticate, create_token, list_tokens, revoke_token
from tests.world import companies


def index_names(table: str) -> set[str]:
    return {ix.name for ix in db.obj.get_indexes(table)}


def test_upgrade_from_a_database_created_by_the_first_migration(tmp_path):
    path = tmp_path / "old.sqlite3"
    open_database(str(path), migrate=False)
    migrate(up_to=1)
    assert applied_versions() == {1}
    assert not any("last_name_lc" in name for name in index_names("customer"))
    w = companies()
    kept = w.source.company_id
    close_database()
    open_database(str(path))  # applies the rest on start
    assert applied_versions() == set(range(1, latest_version() + 1))
    assert any("last_name_lc" in name for name in index_names("customer"))
    assert Client.get(Client.company_id == kept).name == "North Digital"
    assert migrate() == []  # idempotent
    close_database()


def test_sqlite_is_durable_and_strict(sqlite_db):
    pragma = lambda name: db.obj.execute_sql(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
    assert pragma("journal_mode") == "wal"
    assert pragma("synchronous") == 2  # FULL
    assert pragma("foreign_keys") == 1
    assert pragma("busy_timeout") >= 5000
    assert db.obj._lock_type == "IMMEDIATE"


def test_tokens_are_shown_once_hashed_and_revocable(any_db):
    w = companies()
    token, plain = create_token(w.source, "shop", actor=Actor.operator("t"))
    assert plain.startswith("ccx_") and plain not in token.token_hash and len(token.token_hash) == 64
    assert authenticate(plain).client.company_id == w.source.company_id
    with pytest.raises(DomainError) as info:
        authenticate(None)
    assert info.value.code == 99401
    with pytest.raises(DomainError) as info:
        authenticate(plain + "x")
    assert info.value.code == 99008
    revoke_token(token.id, w.source)
    with pytest.raises(DomainError) as info:
        authenticate(plain)
    assert info.value.code == 99008
    with pytest.raises(DomainError):
        revoke_token(token.id, w.target)
    assert [t.id for t in list_tokens(w.source)] == [token.id]


def test_audit_records_who_when_what(any_db):
    w = companies()
    from storage.connections import create_connection

    conn = create_connection(w.source, w.target.company_id, callback_url="http://127.0.0.1:9/cb",
                             actor=Actor.operator("alice"))
    [entry] = history("connection", conn.id)
    assert (entry.actor, entry.actor_type, entry.action) == ("alice", "OPERATOR", "create")
    assert w.target.company_id in entry.summary and entry.at is not None


def test_demo_data_is_complete(sqlite_db):
    from storage.demo import DEMO_SECRET, write_demo

    clients = write_demo()
    assert {"NORDPOSTDIGITAL00001", "NORDPOSTPRINT0000001", "SUEDBLICKONLINE00001"} <= set(clients)
    statuses = sorted(c.status for c in Connection.select())
    assert statuses == ["ACTIVE", "ACTIVE", "INVITED"]
    assert {c.signing_secret for c in Connection.select()} == {DEMO_SECRET}
    assert Customer.select().count() >= 60
    vouchers = {v.status for v in Voucher.select()}
    assert vouchers == {"OPEN", "REDEEMED"}
    assert Subscription.select().where(Subscription.subscription_type == "CROSS_COMPANY_TIME_BASED").count() > 0


def test_storage_mailer_and_api_never_import_textual():
    code = ("import sys, importlib, pkgutil\n"
            "for pkg in ('storage', 'mailer', 'api'):\n"
            "    mod = importlib.import_module(pkg)\n"
            "    for info in pkgutil.walk_packages(mod.__path__, pkg + '.'):\n"
            "        importlib.import_module(info.name)\n"
            "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_storage_imports_no_face():
    code = ("import sys, importlib, pkgutil, storage\n"
            "for info in pkgutil.walk_packages(storage.__path__, 'storage.'):\n"
            "    importlib.import_module(info.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('textual', 'starlette', 'httpx', 'tui', 'api', 'mailer', 'uvicorn')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)
