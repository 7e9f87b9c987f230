"""Shared fixtures: a real SQLite file per test, and PostgreSQL too when CROSSCLIENT_TEST_POSTGRES is set."""
from __future__ import annotations

import os
import uuid
from urllib.parse import urlparse, urlunparse

import pytest

from storage import clock
from storage.db import close_database, db, open_database

PG_ENV = "CROSSCLIENT_TEST_POSTGRES"


@pytest.fixture(autouse=True)
def allow_private_callback_urls(monkeypatch):
    """Tests call back to receivers on 127.0.0.1 (tests/world.py too), so private addresses are
    allowed at save time; a test of the refusal sets the switch back with monkeypatch."""
    from storage import connections

    monkeypatch.setattr(connections, "ALLOW_PRIVATE_CALLBACK_URLS", True)


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(scope="session")
def pg_database_url():
    """A PostgreSQL database of our own for this test run, dropped at the end."""
    admin = _pg_admin_url()
    if not admin:
        pytest.skip(f"PostgreSQL run skipped: set {PG_ENV}=postgresql://user@host:port/db to run it")
    import psycopg2

    name = f"cc_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        conn = psycopg2.connect(admin)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL run skipped: {admin} does not answer ({exc})")
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    parsed = urlparse(admin)
    yield urlunparse(parsed._replace(path=f"/{name}"))
    close_database()
    conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def _reset_pg_schema(url: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    conn.cursor().execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    conn.close()


@pytest.fixture
def sqlite_db(tmp_path):
    """A fresh, migrated SQLite file under tmp_path; yields its path."""
    path = tmp_path / "crossclient.sqlite3"
    open_database(str(path))
    yield path
    close_database()
    clock.fix(None)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request, tmp_path):
    """The same test on a SQLite file and (when configured) on PostgreSQL; yields the URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crossclient.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_database_url")
        close_database()
        _reset_pg_schema(url)
    open_database(url)
    yield url
    close_database()
    clock.fix(None)


@pytest.fixture
def database():
    return db
