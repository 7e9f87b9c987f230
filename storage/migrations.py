"""Schema migrations, applied in order by `crossclient migrate` and on every start.

Each migration is a function taking the database; `schema_migrations` records which have run.
A migration is written against the schema as it stood after the one before it: a later change to a
table adds a migration here (playhouse.migrate's `SchemaMigrator` for columns) and never edits an
old one.
"""
from __future__ import annotations

from collections.abc import Callable

import peewee as pw

from storage.clock import now
from storage.db import db
from storage.models import ALL_MODELS, Customer


class SchemaMigration(pw.Model):
    version = pw.IntegerField(primary_key=True)
    name = pw.CharField(max_length=100)
    applied_at = pw.DateTimeField(default=now)

    class Meta:
        database = db
        table_name = "schema_migrations"


def _indexes(model: type[pw.Model], unique: bool) -> list:
    return [ix for ix in model._meta.fields_to_index() if bool(getattr(ix, "_unique", False)) == unique]


def _create_indexes(database: pw.Database, unique: bool) -> None:
    for model in ALL_MODELS:
        for index in _indexes(model, unique):
            database.execute(model._schema._create_index(index, safe=True))


def m0001_tables(database: pw.Database) -> None:
    """Every table, with the unique indexes that carry integrity rules."""
    for model in ALL_MODELS:
        database.execute(model._schema._create_table(safe=True))
    _create_indexes(database, unique=True)


def m0002_lookup_indexes(database: pw.Database) -> None:
    """Indexes for the lists and look-ups of the screens and the API (keyset paging, search)."""
    _create_indexes(database, unique=False)


def m0003_search_collation(database: pw.Database) -> None:
    """PostgreSQL: the columns the customer search matches by prefix compare byte-wise (C).

    The search finds a prefix as a range (`>= 'wa' and < 'wa' || U+10FFFF`), the form an index
    answers, which holds in code point order. In a database created with a linguistic collation,
    as initdb does under en_US.UTF-8, glibc ignores U+10FFFF and punctuation: searching 'w' found
    only a customer named exactly 'w', and a customer number prefix found none. ICU collations
    matched 'wä' for 'wa'. The columns hold lower-cased text and digits, which byte order sorts
    as wanted; their indexes are rebuilt with the column. SQLite compares byte-wise already.
    """
    if not isinstance(database, pw.PostgresqlDatabase):
        return
    table = Customer._meta.table_name
    for field in (Customer.customer_number, Customer.email_lc, Customer.first_name_lc, Customer.last_name_lc):
        database.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{field.column_name}" '
                             f'TYPE varchar({field.max_length}) COLLATE "C"')


MIGRATIONS: list[tuple[int, str, Callable[[pw.Database], None]]] = [
    (1, "tables", m0001_tables),
    (2, "lookup_indexes", m0002_lookup_indexes),
    (3, "search_collation", m0003_search_collation),
]


def applied_versions() -> set[int]:
    database = db.obj
    if not database.table_exists(SchemaMigration._meta.table_name):
        return set()
    return {row.version for row in SchemaMigration.select()}


def migrate(up_to: int | None = None) -> list[int]:
    """Apply every pending migration (up to `up_to`), each in its own transaction."""
    database = db.obj
    with database.atomic():
        database.execute(SchemaMigration._schema._create_table(safe=True))
    done = applied_versions()
    ran = []
    for version, name, step in MIGRATIONS:
        if version in done or (up_to is not None and version > up_to):
            continue
        with database.atomic():
            # Another process may have applied it while we waited for the lock.
            if SchemaMigration.get_or_none(SchemaMigration.version == version):
                continue
            step(database)
            SchemaMigration.create(version=version, name=name)
        ran.append(version)
    return ran


def latest_version() -> int:
    return MIGRATIONS[-1][0]
