"""Customers: numbers and e-mails unique per contract company, search by prefix, keyset paging."""
from __future__ import annotations

import threading

import pytest

from storage.customers import create_customer, find_by_email, get_customer, search_customers, update_customer
from storage.db import close_database, db, open_database
from storage.errors import DomainError
from storage.models import Customer
from storage.tenancy import create_contract_company
from tests.world import companies


def test_numbers_are_numeric_strings_unique_per_contract_company(any_db):
    w = companies()
    a = create_customer(w.north, email="a@x.example")
    b = create_customer(w.north, email="b@x.example")
    c = create_customer(w.south, email="a@x.example")  # same e-mail, other company: fine
    assert a.customer_number.isdigit() and len(a.customer_number) <= 18
    assert a.customer_number != b.customer_number
    assert c.customer_number == a.customer_number  # each company counts on its own
    assert get_customer(w.south, c.customer_number).id == c.id


def test_email_unique_per_contract_company_case_insensitive(any_db):
    w = companies()
    first = create_customer(w.north, email="Anna@X.example")
    with pytest.raises(DomainError) as info:
        create_customer(w.north, email="anna@x.EXAMPLE")
    assert info.value.code == 99400 and info.value.field == "email"
    assert first.customer_number in info.value.message
    assert Customer.select().count() == 1
    assert find_by_email(w.north, "ANNA@x.example").id == first.id


def test_explicit_number_is_checked_and_not_handed_out_again(any_db):
    w = companies()
    with pytest.raises(DomainError) as info:
        create_customer(w.north, email="x@x.example", number="12ab")
    assert info.value.field == "customerId"
    taken = create_customer(w.north, email="y@x.example", number="100001")
    auto = create_customer(w.north, email="z@x.example")
    assert taken.customer_number == "100001" and auto.customer_number != "100001"
    with pytest.raises(DomainError):
        create_customer(w.north, email="w@x.example", number="100001")


def test_fields_are_validated_by_name(any_db):
    w = companies()
    with pytest.raises(DomainError) as info:
        create_customer(w.north, email="not-an-email", language="deutsch", status="GONE")
    assert {e.field for e in info.value.errors} == {"email", "language", "status"}
    assert Customer.select().count() == 0


def test_concurrent_creation_never_shares_a_number(any_db):
    w = companies()
    numbers, errors = [], []

    def make(i):
        try:
            for j in range(10):
                numbers.append(create_customer(w.north, email=f"c{i}.{j}@x.example").customer_number)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=make, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(numbers) == 40 and len(set(numbers)) == 40


def test_search_by_number_email_and_name_prefix(any_db):
    w = companies()
    anna = create_customer(w.north, email="anna.meyer@post.example", first_name="Anna", last_name="Meyer")
    bert = create_customer(w.north, email="bert@mail.example", first_name="Bert", last_name="Meyerhoff")
    create_customer(w.south, email="anna.meyer@post.example", first_name="Anna", last_name="Meyer")
    ids = lambda text: [c.id for c in search_customers(w.north, text)]  # noqa: E731
    assert ids("meyer") == [anna.id, bert.id]
    assert ids("MEYERH") == [bert.id]
    assert ids("anna") == [anna.id]
    assert ids("bert@") == [bert.id]
    assert ids(anna.customer_number) == [anna.id]
    assert ids("zz") == []


def test_search_pages_by_key(any_db):
    w = companies()
    made = [create_customer(w.north, email=f"p{i}@x.example", last_name="Page").id for i in range(7)]
    first = search_customers(w.north, "page", limit=3)
    second = search_customers(w.north, "page", limit=3, after=first.last_key)
    third = search_customers(w.north, "page", limit=3, after=second.last_key)
    assert [c.id for c in first] + [c.id for c in second] + [c.id for c in third] == made
    assert first.has_more and second.has_more and not third.has_more


def test_update_customer_checks_email_and_status(any_db):
    w = companies()
    a = create_customer(w.north, email="a@x.example")
    create_customer(w.north, email="b@x.example")
    with pytest.raises(DomainError) as info:
        update_customer(w.north, a.customer_number, email="B@x.example")
    assert info.value.field == "email"
    assert update_customer(w.north, a.customer_number, status="BLOCKED", last_name="Neu").status == "BLOCKED"
    assert [c.id for c in search_customers(w.north, "neu")] == [a.id]


def test_search_gives_the_same_pages_whether_matches_are_few_or_many(any_db, monkeypatch):
    import storage.customers as customers

    w = companies()
    for i in range(9):
        create_customer(w.north, email=f"m{i}@x.example", last_name="Many" if i % 3 else "Other")

    def pages():
        out, after = [], None
        while True:
            page = search_customers(w.north, "many", limit=2, after=after)
            out.append([c.id for c in page])
            if not page.has_more:
                return out
            after = page.last_key

    few = pages()
    monkeypatch.setattr(customers, "FEW", 2)  # now the same search counts as "many"
    assert pages() == few and sum(len(p) for p in few) == 6


@pytest.fixture
def pg_linguistic():
    """A PostgreSQL database whose default collation is linguistic, as initdb makes it on a machine
    whose locale is en_US.UTF-8: glibc's en_US.UTF-8 where the server has it, else ICU's en-US."""
    import os
    import uuid
    from urllib.parse import urlparse, urlunparse

    admin = os.environ.get("CROSSCLIENT_TEST_POSTGRES")
    if not admin:
        pytest.skip("PostgreSQL run skipped: set CROSSCLIENT_TEST_POSTGRES")
    import psycopg2

    try:
        conn = psycopg2.connect(admin)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL does not answer ({exc})")
    conn.autocommit = True
    name = f"cc_coll_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    made = None
    for options in ("LC_COLLATE 'en_US.UTF-8' LC_CTYPE 'en_US.UTF-8'",
                    "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"):
        try:
            conn.cursor().execute(f'CREATE DATABASE "{name}" {options} TEMPLATE template0')
            made = options
            break
        except psycopg2.Error:
            continue
    if made is None:
        conn.close()
        pytest.skip("this PostgreSQL server has neither the en_US.UTF-8 locale nor ICU")
    try:
        close_database()
        open_database(urlunparse(urlparse(admin)._replace(path=f"/{name}")))
        yield made
    finally:
        close_database()
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def test_prefix_search_on_a_linguistically_collated_postgresql(pg_linguistic):
    """The search matches prefixes in code point order, whatever the database's collation: under
    glibc's en_US.UTF-8 the prefix range found only exact names (U+10FFFF is ignored there), under
    ICU 'wa' also found 'Wäscher'."""
    company = create_contract_company("Linguistic")
    names = ["Wa", "Waz", "Wäscher", "Weber", "W-b", "Vogel", "O'Neil", "Oneil"]
    numbers = {name: create_customer(company, email=f"c{i}@example.org", last_name=name).customer_number
               for i, name in enumerate(names)}

    def found(text: str) -> set[str]:
        return {c.last_name for c in search_customers(company, text, limit=50)}

    assert found("w") == {"Wa", "Waz", "Wäscher", "Weber", "W-b"}
    assert found("wa") == {"Wa", "Waz"}
    assert found("wä") == {"Wäscher"}
    assert found("w-") == {"W-b"}
    assert found("o'") == {"O'Neil"}
    assert found("c1@") == {"Waz"}
    assert found(numbers["Wa"][:3]) == set(names)  # every number shares the first digits
    assert found(numbers["Vogel"]) == {"Vogel"}
