"""Demo data: two publishers that sell each other's subscriptions, written through the domain.

Everything is created by the same operations the backoffice uses, so the demo obeys every rule.
The demo connections share one fixed, documented signing secret (DEMO_SECRET) so integrators can
verify demo callbacks; everything else is ordinary data, generated from a fixed seed.
"""
from __future__ import annotations

import random

from storage.audit import Actor
from storage.baskets import ItemSpec, create_basket
from storage.connections import accept_invitation, create_connection
from storage.customers import create_customer
from storage.db import db
from storage.models import Callback, Client, Connection
from storage.offers import create_offer, set_cross_client
from storage.orders import place_order, redeem_voucher
from storage.outbox import record_callback_attempt
from storage.tenancy import create_client, create_contract_company

DEMO_SECRET = "whsec_Y3Jvc3NjbGllbnQtZGVtby1zZWNyZXQtMDE="
DEMO_CALLBACK_URL = "http://127.0.0.1:8080/sample-merchant/callbacks"
NORDPOST_DIGITAL = "NORDPOSTDIGITAL00001"
NORDPOST_PRINT = "NORDPOSTPRINT0000001"
SUEDBLICK_ONLINE = "SUEDBLICKONLINE00001"
SUEDBLICK_SPORT = "SUEDBLICKSPORT000001"

FIRST = ["Anna", "Ben", "Clara", "David", "Elif", "Felix", "Greta", "Hannes", "Ida", "Jonas", "Katrin",
         "Lukas", "Mia", "Noah", "Olga", "Paul", "Rosa", "Simon", "Tara", "Uwe", "Vera", "Wim", "Yusuf",
         "Zoe"]
LAST = ["Albrecht", "Bauer", "Claassen", "Dietrich", "Engel", "Fischer", "Graf", "Hoffmann", "Imhof",
        "Jansen", "Krause", "Lorenz", "Meyer", "Neumann", "Ostertag", "Peters", "Quast", "Richter",
        "Schulz", "Thiele", "Ulrich", "Vogel", "Weber", "Zimmermann"]


def demo_exists() -> bool:
    return Client.get_or_none(Client.company_id == NORDPOST_DIGITAL) is not None


def _customers(company, domain: str, rng: random.Random, count: int, actor: Actor) -> list:
    people = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}.{i}@{domain}".lower()
        people.append(create_customer(company, email=email, first_name=first, last_name=last,
                                      language=rng.choice(["de", "de", "de", "en"]), actor=actor))
    return people


def write_demo(callback_url: str | None = None, *, customers_per_side: int = 36) -> dict[str, str]:
    """Write the demo data into the open, empty database; returns client names by company id."""
    from storage import connections

    # The demo's callbacks go to the sample merchant on 127.0.0.1: the demo allows private addresses.
    connections.ALLOW_PRIVATE_CALLBACK_URLS = True
    rng = random.Random(20261129)
    ops = Actor.operator("demo")
    url = callback_url or DEMO_CALLBACK_URL
    nordpost = create_contract_company("Nordpost Medien", cross_client_module=True, actor=ops)
    suedblick = create_contract_company("Suedblick Verlag", cross_client_module=True, actor=ops)
    digital = create_client(nordpost, NORDPOST_DIGITAL, "Nordpost Digital", "digital@nordpost.example", actor=ops)
    printed = create_client(nordpost, NORDPOST_PRINT, "Nordpost Print", "print@nordpost.example", actor=ops)
    online = create_client(suedblick, SUEDBLICK_ONLINE, "Suedblick Online", "online@suedblick.example",
                           actor=ops)
    sport = create_client(suedblick, SUEDBLICK_SPORT,
                          "Suedblick Sport", "sport@suedblick.example", actor=ops)

    # Nordpost Digital -> Suedblick Online (two companies) and -> Nordpost Print (one company).
    cross = create_connection(digital, SUEDBLICK_ONLINE, callback_url=url, actor=ops)
    inside = create_connection(digital, NORDPOST_PRINT, actor=ops)
    # Suedblick Sport invites Nordpost Digital: a pending invitation to accept right away.
    create_connection(sport, NORDPOST_DIGITAL, callback_url="https://sport.suedblick.example/crossclient",
                      actor=ops)
    with db.atomic():
        Connection.update(signing_secret=DEMO_SECRET).execute()
    accept_invitation(cross.id, online, actor=Actor.operator("demo-suedblick"))
    accept_invitation(inside.id, printed, actor=Actor.operator("demo-print"))

    create_offer(digital, internal_title="ND-PLUS-M", public_title="Nordpost Plus monthly",
                               price="9.99", currency="EUR", term=1, term_unit="MONTH", actor=ops)
    shared = create_offer(digital, internal_title="ND-XC-DIGITAL", public_title="Nordpost Digital for partners",
                          price="4.99", currency="EUR", term=1, term_unit="MONTH", actor=ops)
    set_cross_client(shared.id, digital, True, [SUEDBLICK_ONLINE, NORDPOST_PRINT], actor=ops)
    create_offer(digital, internal_title="ND-YEAR", public_title="Nordpost Digital yearly", price="99.00",
                 currency="EUR", term=1, term_unit="YEAR", actor=ops)
    online_own = create_offer(online, internal_title="SO-BASIC", public_title="Suedblick Online Basic",
                              price="7.99", currency="EUR", term=1, term_unit="MONTH", actor=ops)
    online_week = create_offer(online, internal_title="SO-WEEKEND", public_title="Suedblick weekend pass",
                               price="2.49", currency="EUR", term=1, term_unit="WEEK", actor=ops)
    print_own = create_offer(printed, internal_title="NP-PAPER", public_title="Nordpost Print daily paper",
                             price="34.90", currency="EUR", term=1, term_unit="MONTH", actor=ops)

    bundle = create_basket(online, internal_title="SO-BUNDLE-NORDPOST", title="Suedblick + Nordpost Digital",
                           items=[ItemSpec(online_own.id, 1), ItemSpec(shared.id, 2, external=True),
                                  ItemSpec(online_week.id, 3, option=True, default_selected=False)],
                           actor=ops)
    print_bundle = create_basket(printed, internal_title="NP-BUNDLE-DIGITAL", title="Paper + digital",
                                 items=[ItemSpec(print_own.id, 1), ItemSpec(shared.id, 2, external=True)],
                                 actor=ops)

    north = _customers(nordpost, "nordpost-leser.example", rng, customers_per_side, ops)
    south = _customers(suedblick, "suedblick-leser.example", rng, customers_per_side, ops)
    shop = Actor.operator("demo-shop")
    # Purchases in Suedblick Online; about two thirds are already redeemed by Nordpost Digital.
    for i, buyer in enumerate(south[: customers_per_side // 2]):
        result = place_order(online, bundle.id, buyer.customer_number,
                             selected_positions=[3] if i % 4 == 0 else [], actor=shop)
        for voucher, callback in zip(result.vouchers, result.callbacks, strict=True):
            if i % 3 == 2:
                continue  # left open: the callback is still queued for the sample merchant
            with db.atomic():
                record_callback_attempt(Callback.get_by_id(callback.id), success=True, final_try=False,
                                        trigger="SCHEDULED", http_status=204, duration_ms=rng.randint(8, 60),
                                        url=url)
            match = create_customer(nordpost, email=f"xc.{buyer.email}", first_name=buyer.first_name,
                                    last_name=buyer.last_name, language=buyer.language,
                                    actor=Actor.api("sample-merchant"))
            redeem_voucher(digital, match.customer_number, voucher.code, actor=Actor.api("sample-merchant"))
    # Within Nordpost Medien no voucher is needed: customers are shared.
    for buyer in north[:8]:
        place_order(printed, print_bundle.id, buyer.customer_number, actor=shop)
    return {c.company_id: c.name for c in (digital, printed, online, sport)}
