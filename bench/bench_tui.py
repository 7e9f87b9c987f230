"""How fast the backoffice's screens answer on a large database.

Seeds a SQLite database with (by default) 1,000,000 customers, 2,000,000 subscriptions and
1,000,000 callback log entries through bulk inserts, then drives the real app headless and prints
how long it takes to open each screen, to page, to open a customer, and to answer one search
keystroke on the Customers screen (target: each under 200 ms). Timings include the thread worker's
query and filling the table, measured from the key press until the table shows the rows.

    python bench/bench_tui.py                      # full size, database in a temp dir
    python bench/bench_tui.py --customers 100000 --subscriptions 200000 --attempts 100000
    python bench/bench_tui.py --db /tmp/big.sqlite3 --keep   # reuse a seeded database
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peewee import chunked  # noqa: E402

from storage.audit import Actor  # noqa: E402
from storage.baskets import ItemSpec, create_basket  # noqa: E402
from storage.connections import accept_invitation, create_connection  # noqa: E402
from storage.customers import create_customer  # noqa: E402
from storage.db import db, open_database  # noqa: E402
from storage.models import Callback, CallbackAttempt, Client, Customer, Subscription  # noqa: E402
from storage.offers import create_offer, set_cross_client  # noqa: E402
from storage.orders import place_order  # noqa: E402
from storage.tenancy import create_client, create_contract_company  # noqa: E402

SOURCE, TARGET = "BENCHSOURCE000000001", "BENCHTARGET000000001"
FIRST = ["anna", "ben", "clara", "david", "elif", "felix", "greta", "hannes", "ida", "jonas", "katrin", "lukas",
         "mia", "noah", "olga", "paul", "rosa", "simon", "tara", "uwe", "vera", "wim", "yusuf", "zoe"]
LAST = ["albrecht", "bauer", "claassen", "dietrich", "engel", "fischer", "graf", "hoffmann", "imhof", "jansen",
        "krause", "lorenz", "meyer", "neumann", "ostertag", "peters", "quast", "richter", "schulz", "thiele",
        "ulrich", "vogel", "weber", "zimmermann"]
BATCH = 20_000


def insert(rows: list, model, fields) -> None:
    """One transaction per batch; statements of 2,000 rows stay under SQLite's variable limit."""
    with db.atomic():
        for chunk in chunked(rows, 2000):
            model.insert_many(chunk, fields=fields).execute()


def seed(customers: int, subscriptions: int, attempts: int) -> None:
    """The world through the domain, then the bulk rows with insert_many in big transactions."""
    ops = Actor.operator("bench")
    north = create_contract_company("Bench North", cross_client_module=True, actor=ops)
    south = create_contract_company("Bench South", cross_client_module=True, actor=ops)
    source = create_client(north, SOURCE, "Bench Source", "source@bench.example", actor=ops)
    target = create_client(south, TARGET, "Bench Target", "target@bench.example", actor=ops)
    conn = create_connection(source, TARGET, callback_url="http://127.0.0.1:9/cb", actor=ops)
    accept_invitation(conn.id, target, actor=ops)
    shared = create_offer(source, internal_title="XC", public_title="Shared", price="4.99", currency="EUR",
                          term=1, term_unit="MONTH", actor=ops)
    set_cross_client(shared.id, source, True, [TARGET], actor=ops)
    own = create_offer(target, internal_title="OWN", public_title="Own", price="7.99", currency="EUR", term=1,
                       term_unit="MONTH", actor=ops)
    basket = create_basket(target, internal_title="B", title="B", items=[ItemSpec(own.id, 1),
                                                                          ItemSpec(shared.id, 2, external=True)],
                           actor=ops)
    buyer = create_customer(south, email="buyer@bench.example", actor=ops)
    result = place_order(target, basket.id, buyer.customer_number, actor=ops)
    callback = Callback.get_by_id(result.callbacks[0].id)

    rng = random.Random(7)
    base = dt.datetime(2025, 1, 1)
    db.execute_sql("PRAGMA synchronous=OFF")
    t0 = time.perf_counter()
    fields = [Customer.contract_company, Customer.customer_number, Customer.email, Customer.email_lc,
              Customer.first_name, Customer.last_name, Customer.first_name_lc, Customer.last_name_lc,
              Customer.language, Customer.status, Customer.registration_date, Customer.changed_at]
    for start in range(0, customers, BATCH):
        rows = []
        for i in range(start, min(start + BATCH, customers)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}.{i}@bench.example"
            at = base + dt.timedelta(seconds=i)
            rows.append((north.id, str(500000 + i), email, email, first.title(), last.title(), first, last, "de",
                         "ACTIVATED", at, at))
        insert(rows, Customer, fields)
    print(f"seeded {customers:,} customers in {time.perf_counter() - t0:.1f} s", flush=True)

    first_id = Customer.select(Customer.id).where(Customer.contract_company == north.id).order_by(
        Customer.id).limit(1).scalar()
    t0 = time.perf_counter()
    fields = [Subscription.client, Subscription.customer, Subscription.offer, Subscription.subscription_type,
              Subscription.status, Subscription.start_date, Subscription.term, Subscription.term_unit,
              Subscription.price, Subscription.currency, Subscription.connected_offer, Subscription.created_at]
    for start in range(0, subscriptions, BATCH):
        rows = []
        for i in range(start, min(start + BATCH, subscriptions)):
            at = base + dt.timedelta(seconds=i)
            rows.append((source.id, first_id + (i % customers), shared.id, "TIME_BASED", "ACTIVE", at, 1, "MONTH",
                         "4.99", "EUR", False, at))
        insert(rows, Subscription, fields)
    print(f"seeded {subscriptions:,} subscriptions in {time.perf_counter() - t0:.1f} s", flush=True)

    t0 = time.perf_counter()
    fields = [CallbackAttempt.callback, CallbackAttempt.client, CallbackAttempt.connection,
              CallbackAttempt.entity_type, CallbackAttempt.callback_type, CallbackAttempt.entity_id,
              CallbackAttempt.try_number, CallbackAttempt.final_try, CallbackAttempt.success,
              CallbackAttempt.http_status, CallbackAttempt.error_message, CallbackAttempt.duration_ms,
              CallbackAttempt.trigger, CallbackAttempt.url, CallbackAttempt.created_at]
    for start in range(0, attempts, BATCH):
        rows = []
        for i in range(start, min(start + BATCH, attempts)):
            ok = i % 5 != 0
            rows.append((callback.id, source.id, conn.id, "CROSS_CLIENT_ORDER", "CREATION", str(i), 1 + i % 4,
                         i % 4 == 3, ok, 204 if ok else 503, None if ok else "HTTP 503", 10 + i % 90,
                         "SCHEDULED", "http://127.0.0.1:9/cb", base + dt.timedelta(seconds=i)))
        insert(rows, CallbackAttempt, fields)
    print(f"seeded {attempts:,} callback attempts in {time.perf_counter() - t0:.1f} s", flush=True)
    db.execute_sql("PRAGMA synchronous=FULL")
    db.execute_sql("ANALYZE")


async def measure(rounds: int) -> list[tuple[str, list[float]]]:
    from tui.app import Backoffice

    app = Backoffice(operator="bench", client=SOURCE, start_worker=False, poll_seconds=0)
    figures: dict[str, list[float]] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        from tui.widgets.paged_table import PagedTable

        def filled() -> bool:
            tables = list(app.screen.query(PagedTable))
            return bool(tables) and all(t.loaded_seq == t._seq and t.page is not None for t in tables)

        async def timed(label: str, *presses: str) -> None:
            t0 = time.perf_counter()
            for key in presses:
                await pilot.press(key)
            # Until every list on the screen holds the rows of its latest request.
            while not filled():
                await asyncio.sleep(0.002)
            figures.setdefault(label, []).append((time.perf_counter() - t0) * 1000)
            await pilot.pause()

        await timed("start (Connections)")
        for _ in range(rounds):
            for digit, name in (("2", "Offers"), ("3", "Baskets"), ("4", "Customers"), ("5", "Callback log"),
                                ("6", "Settings"), ("1", "Connections")):
                await timed(f"open {digit} {name}", digit)
            await timed("open 4 Customers", "4")
            await timed("Customers: next page", "greater_than_sign")
            await timed("Customers: previous page", "less_than_sign")
            await pilot.press("slash")
            await timed("Customers: search keystroke 'w'", "w")
            await timed("Customers: search keystroke 'e'", "e")
            await timed("Customers: search keystroke '5' (number)", "backspace", "backspace", "5")
            await pilot.press("escape")
            for _ in range(3):
                await pilot.press("backspace")
            await timed("Customers: clear search", "enter")
            await timed("open customer detail", "enter")
            await timed("customer detail: back", "escape")
            await timed("open 5 Callback log", "5")
            await timed("Callback log: next page", "greater_than_sign")
            await timed("Callback log: failed only", "f")
            await timed("Callback log: all again", "f")
    return list(figures.items())


def measure_queries(rounds: int) -> list[tuple[str, list[float]]]:
    """The storage calls behind the same steps, without the UI: what the database costs."""
    from storage.callbacks import list_attempts
    from storage.customers import search_customers
    from storage.orders import list_subscriptions
    from storage.tenancy import get_client

    client = get_client(SOURCE)
    company = client.contract_company_id
    first = search_customers(company, "", limit=50)
    customer = first.items[0]
    attempts = list_attempts(client, limit=50)
    steps = [
        ("customers: first page", lambda: search_customers(company, "", limit=50)),
        ("customers: next page", lambda: search_customers(company, "", limit=50, after=first.last_key)),
        ("customers: search 'w'", lambda: search_customers(company, "w", limit=50)),
        ("customers: search 'we'", lambda: search_customers(company, "we", limit=50)),
        ("customers: search '5' (number)", lambda: search_customers(company, "5", limit=50)),
        ("customers: search 'zoe.weber'", lambda: search_customers(company, "zoe.weber", limit=50)),
        ("customer: subscriptions", lambda: list_subscriptions(client, customer=customer, limit=20)),
        ("callback log: first page", lambda: list_attempts(client, limit=50)),
        ("callback log: next page", lambda: list_attempts(client, limit=50, after=attempts.last_key)),
        ("callback log: failed only", lambda: list_attempts(client, errors_only=True, limit=50)),
    ]
    figures = []
    for label, call in steps:
        values = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            call()
            values.append((time.perf_counter() - t0) * 1000)
        figures.append((label, values))
    return figures


def report(title: str, figures) -> None:
    print(f"\n{title:<44} {'median ms':>10} {'max ms':>8}  (target < 200 ms)")
    slow = 0
    for label, values in figures:
        med, worst = statistics.median(values), max(values)
        flag = "" if worst < 200 else "  SLOW"
        slow += bool(flag)
        print(f"{label:<44} {med:>10.1f} {worst:>8.1f}{flag}")
    print(f"{len(figures) - slow} of {len(figures)} steps under 200 ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--subscriptions", type=int, default=2_000_000)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--db", help="database file (default: a new one in a temp dir)")
    parser.add_argument("--keep", action="store_true", help="reuse the --db file if it is already seeded")
    parser.add_argument("--rounds", type=int, default=3, help="how often each step is measured")
    args = parser.parse_args()
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "bench.sqlite3"
    fresh = not (args.keep and path.exists())
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    open_database(str(path))
    if fresh or not Client.get_or_none(Client.company_id == SOURCE):
        seed(args.customers, args.subscriptions, args.attempts)
    print(f"database {path}: {Customer.select().count():,} customers, {Subscription.select().count():,} "
          f"subscriptions, {CallbackAttempt.select().count():,} callback attempts")
    report("storage query behind the step", measure_queries(args.rounds))
    report("in the app: key press until the rows are in the table", asyncio.run(measure(args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
