"""How fast the backoffice's screens answer on a large database.

Seeds a SQLite database with (by default) 1,000,000 customers, 2,000,000 subscriptions and
1,000,000 callback log entries through bulk inserts, then drives the real app headless and prints
how long it takes to open each screen, to page, to open a customer, and to answer one search
keystroke on the Customers screen (target: each under 200 ms). The app figure a user waits is "key
to screen": from the Key event entering the app (posted as a terminal driver posts it) until the
first frame rendered with the result, so it includes the thread worker's query, filling the table
and rendering. It also prints "key to rows" (the tables hold the rows, not yet drawn) and the same
step driven by Textual's test Pilot, whose idle waits are harness time, not app time.

    python bench/bench_tui.py                      # full size, database in a temp dir
    python bench/bench_tui.py --customers 100000 --subscriptions 200000 --attempts 100000
    python bench/bench_tui.py --db /tmp/big.sqlite3 --keep   # reuse a seeded database
    python bench/bench_tui.py --db postgresql://user@host/empty_db   # on PostgreSQL (seeded once)
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
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
from storage.db import db, is_postgres, open_database  # noqa: E402
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
    from storage import connections

    connections.ALLOW_PRIVATE_CALLBACK_URLS = True  # the bench never sends; the URL only has to be valid
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
    sqlite = not is_postgres()
    if sqlite:
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
    if sqlite:
        db.execute_sql("PRAGMA synchronous=FULL")
        db.execute_sql("ANALYZE")
    else:
        # What autovacuum does some time after a bulk load: statistics, and the visibility map that
        # lets the search's bounded count read only the index (without it, a number search after
        # name searches read 5,000 table rows: 90-140 ms instead of 3).
        db.execute_sql("VACUUM ANALYZE")


def key_event(key: str):
    """The Key event a terminal driver posts for `key` (a key name such as "greater_than_sign" or "w")."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _get_unicode_name_from_key

    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


def steps(app):
    """The measured steps: (label, keys, done) where done() says the screen shows the step's result.

    Untimed steps (label None) only move the app to where the next timed step starts.
    """
    from tui.screens.customers import CustomerDetailScreen
    from tui.widgets.paged_table import PagedTable

    def tables():
        return list(app.screen.query(PagedTable))

    def loaded() -> bool:
        return all(t.loaded_seq == t._seq and t.page is not None for t in tables())

    def on(mode: str):
        return lambda: app.current_mode == mode and getattr(app.screen, "MODE", "") == mode and loaded()

    def new_rows(table_id: str):
        """The table has the rows of a request made after the step began."""
        state = {}

        def begin() -> None:
            state["seq"] = app.screen.query_one(f"#{table_id}", PagedTable)._seq

        def done() -> bool:
            table = app.screen.query_one(f"#{table_id}", PagedTable)
            return table._seq > state["seq"] and table.loaded_seq == table._seq

        done.begin = begin
        return done

    plan = []
    for digit, mode, name in (("2", "offers", "Offers"), ("3", "baskets", "Baskets"),
                              ("4", "customers", "Customers"), ("5", "callbacks", "Callback log"),
                              ("6", "settings", "Settings"), ("1", "connections", "Connections")):
        plan.append((f"open {digit} {name}", [digit], on(mode)))
    plan += [
        ("open 4 Customers", ["4"], on("customers")),
        ("Customers: next page", ["greater_than_sign"], new_rows("customers")),
        ("Customers: previous page", ["less_than_sign"], new_rows("customers")),
        (None, ["slash"], lambda: app.focused is not None and app.focused.id == "customer-search"),
        ("Customers: search keystroke 'w'", ["w"], new_rows("customers")),
        ("Customers: search keystroke 'e'", ["e"], new_rows("customers")),
        (None, ["backspace"], new_rows("customers")),
        (None, ["backspace"], new_rows("customers")),
        ("Customers: search keystroke '5' (number)", ["5"], new_rows("customers")),
        ("Customers: clear search (backspace)", ["backspace"], new_rows("customers")),
        (None, ["enter"], lambda: app.focused is not None and app.focused.id == "customers"),
        ("open customer detail", ["enter"],
         lambda: isinstance(app.screen, CustomerDetailScreen) and bool(tables()) and loaded()),
        ("customer detail: back", ["escape"], on("customers")),
        ("open 5 Callback log", ["5"], on("callbacks")),
        ("Callback log: next page", ["greater_than_sign"], new_rows("log")),
        ("Callback log: failed only", ["f"], new_rows("log")),
        ("Callback log: all again", ["f"], new_rows("log")),
    ]
    return plan


async def measure(rounds: int) -> tuple[list, list, list]:
    """Drive the real app headless; per step three figures.

    - key to screen: from the Key event entering the app (posted the way a terminal driver posts it)
      until the first frame the app renders that shows the step's result. This is what a user waits.
    - key to rows: until the tables hold the rows (before that frame is rendered).
    - pilot: the same step driven by Textual's test Pilot (`pilot.press`), which after every key
      also waits for the process to go idle (sleeps of 20 ms until the CPU is quiet) and for
      animations; the difference to the first figure is the test harness, not the app.
    """
    from tui.app import Backoffice

    app = Backoffice(operator="bench", client=SOURCE, start_worker=False, poll_seconds=0)
    to_screen: dict[str, list[float]] = {}
    to_rows: dict[str, list[float]] = {}
    by_pilot: dict[str, list[float]] = {}
    watch: dict = {"done": None, "at": None, "rows": None}
    display = app._display

    def frame(screen, renderable) -> None:
        # A frame is rendered (headless: composed, not written to a terminal): does it show the result?
        if renderable is not None and watch["done"] is not None and watch["at"] is None and watch["done"]():
            watch["at"] = time.perf_counter()
        display(screen, renderable)

    app._display = frame

    from tui.widgets.paged_table import PagedTable

    fill = PagedTable._fill

    def filled(table) -> None:
        # The moment a table takes its rows, inside the app (the poll below sees it later).
        fill(table)
        if watch["done"] is not None and watch["rows"] is None and watch["done"]():
            watch["rows"] = time.perf_counter()

    PagedTable._fill = filled

    # Full garbage collections, and whether one ran while a measured step was under way (the user
    # waiting) or while the user rested (tui/collector.py moves them there).
    full: dict = {"start": None, "in_step": [], "at_rest": [], "step": False}

    def collection(phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            full["start"] = time.perf_counter()
        elif full["start"] is not None:
            full["in_step" if full["step"] else "at_rest"].append((time.perf_counter() - full["start"]) * 1000)

    async def settle(done, timeout: float = 10.0) -> None:
        limit = time.perf_counter() + timeout
        while not done():
            if time.perf_counter() > limit:
                raise TimeoutError("the step did not finish")
            await asyncio.sleep(0.001)

    def all_loaded() -> bool:
        # Every mode's screen is built (the app prepares them shortly after start) and every list
        # on them holds its first page.
        return app.screens_prepared and all(
            t.page is not None for stack in app._screen_stacks.values() for t in stack[0].query(PagedTable))

    async with app.run_test(size=(160, 50)) as pilot:
        started = time.perf_counter()
        await settle(lambda: all(t.page is not None for t in app.screen.query(PagedTable)))
        first_screen = (time.perf_counter() - started) * 1000
        lag = {"max": 0.0, "on": True}

        async def probe() -> None:
            # How late a 1 ms sleep wakes: the longest stretch the event loop was busy, which is the
            # most a key pressed while the app prepares its screens waits before it is handled.
            while lag["on"]:
                t0 = time.perf_counter()
                await asyncio.sleep(0.001)
                lag["max"] = max(lag["max"], (time.perf_counter() - t0) * 1000 - 1)

        prober = asyncio.create_task(probe())
        await settle(all_loaded)
        lag["on"] = False
        await prober
        print(f"\nstart: first screen with its rows after {first_screen:.0f} ms; the other screens built and "
              f"loaded in the background by {(time.perf_counter() - started) * 1000:.0f} ms (the event loop "
              f"was busy for at most {lag['max']:.0f} ms at a time meanwhile)", flush=True)

        async def direct(label, keys, done) -> None:
            await pilot.pause()  # start from a quiet app
            getattr(done, "begin", lambda: None)()
            watch.update(done=done, at=None, rows=None)
            full["step"] = True
            t0 = time.perf_counter()
            for key in keys:
                app._driver.send_message(key_event(key))
            await settle(done)
            rows = min(time.perf_counter(), watch["rows"] or float("inf"))
            await settle(lambda: watch["at"] is not None)
            watch["done"] = None
            full["step"] = False
            if label:
                to_rows.setdefault(label, []).append((rows - t0) * 1000)
                to_screen.setdefault(label, []).append((watch["at"] - t0) * 1000)

        async def piloted(label, keys, done) -> None:
            await pilot.pause()
            getattr(done, "begin", lambda: None)()
            t0 = time.perf_counter()
            await pilot.press(*keys)
            await settle(done)
            if label:
                by_pilot.setdefault(label, []).append((time.perf_counter() - t0) * 1000)

        gc.callbacks.append(collection)
        for _ in range(rounds):
            for step in steps(app):
                await direct(*step)
            # The user rests between rounds (the steps of one round follow each other at once).
            await asyncio.sleep(app.collector.rest * 1.6)
        gc.callbacks.remove(collection)
        for _ in range(rounds):
            for step in steps(app):
                await piloted(*step)
    PagedTable._fill = fill
    print(f"\nfull garbage collections during the key-to-screen rounds: {len(full['in_step'])} while a step was "
          f"under way{_longest(full['in_step'])}, {len(full['at_rest'])} while the user rested"
          f"{_longest(full['at_rest'])}", flush=True)
    return list(to_screen.items()), list(to_rows.items()), list(by_pilot.items())


def _longest(pauses: list[float]) -> str:
    return f" (longest {max(pauses):.0f} ms)" if pauses else ""


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


def report_app(screen, rows, pilot) -> None:
    """The app's steps: the user's wait (key to screen) judged against the target; the rest shown."""
    rows, pilot = dict(rows), dict(pilot)
    print(f"\n{'in the app (ms; target: key to screen < 200)':<44} {'key to screen':>13} {'':>8} "
          f"{'key to rows':>11} {'pilot.press':>11}")
    print(f"{'':<44} {'median':>13} {'max':>8} {'median':>11} {'median':>11}")
    slow = 0
    for label, values in screen:
        med, worst = statistics.median(values), max(values)
        flag = "" if worst < 200 else "  SLOW"
        slow += bool(flag)
        print(f"{label:<44} {med:>13.1f} {worst:>8.1f} {statistics.median(rows[label]):>11.1f} "
              f"{statistics.median(pilot[label]):>11.1f}{flag}")
    print(f"{len(screen) - slow} of {len(screen)} steps under 200 ms from key to screen (max of the rounds)")
    print("key to screen: the Key event posted as a terminal driver posts it, until the first frame rendered "
          "with the result.\nkey to rows: until the tables hold the rows. pilot.press: Textual's test pilot, "
          "which adds its own\nwaits for an idle CPU (20 ms sleeps) and animations after each key: harness, "
          "not app.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--subscriptions", type=int, default=2_000_000)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--db", help="SQLite file (default: a new one in a temp dir), or a PostgreSQL URL "
                        "of an empty database (seeded once, then reused)")
    parser.add_argument("--keep", action="store_true", help="reuse the --db file if it is already seeded")
    parser.add_argument("--rounds", type=int, default=3, help="how often each step is measured")
    args = parser.parse_args()
    if args.db and "://" in args.db and not args.db.startswith("sqlite:"):
        # A server database is never dropped here: it is seeded if it has no bench data yet.
        target, fresh = args.db, False
        open_database(target)
        if Client.get_or_none(Client.company_id == SOURCE) is None and Client.select().exists():
            raise SystemExit(f"{target} holds other data: give the bench an empty database")
    else:
        path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "bench.sqlite3"
        target, fresh = str(path), not (args.keep and path.exists())
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        open_database(target)
    if fresh or not Client.get_or_none(Client.company_id == SOURCE):
        seed(args.customers, args.subscriptions, args.attempts)
    print(f"database {target}: {Customer.select().count():,} customers, {Subscription.select().count():,} "
          f"subscriptions, {CallbackAttempt.select().count():,} callback attempts")
    report("storage query behind the step", measure_queries(args.rounds))
    report_app(*asyncio.run(measure(args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
