"""Builders for the worlds tests start from: companies, clients, connections, offers, baskets."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from storage.audit import Actor
from storage.baskets import ItemSpec, create_basket
from storage.connections import accept_invitation, create_connection
from storage.customers import create_customer
from storage.errors import DomainError
from storage.models import ALL_MODELS, Basket, Client, Connection, ContractCompany, Offer
from storage.offers import create_offer, set_cross_client
from storage.tenancy import create_client, create_contract_company

OPS = Actor.operator("tester")
SOURCE_ID = "SOURCECLIENT00000001"
TARGET_ID = "TARGETCLIENT00000001"
SIBLING_ID = "SIBLINGCLIENT0000001"


@dataclass
class World:
    north: ContractCompany
    south: ContractCompany
    source: Client
    target: Client
    sibling: Client


def companies(module_north: bool = True, module_south: bool = True) -> World:
    north = create_contract_company("North Media", cross_client_module=module_north)
    south = create_contract_company("South Press", cross_client_module=module_south)
    source = create_client(north, SOURCE_ID, "North Digital", "digital@north.example")
    sibling = create_client(north, SIBLING_ID, "North Print", "print@north.example")
    target = create_client(south, TARGET_ID, "South Online", "online@south.example")
    return World(north, south, source, target, sibling)


def connect(source: Client, target: Client, url: str | None = "http://127.0.0.1:9/callbacks",
            **kwargs) -> Connection:
    """An ACTIVE connection from source to target."""
    conn = create_connection(source, target.company_id, callback_url=url, actor=OPS, **kwargs)
    return accept_invitation(conn.id, target, actor=OPS)


def offer(client: Client, title: str = "Plus", price: str = "9.99", **kwargs) -> Offer:
    return create_offer(client, internal_title=title.upper(), public_title=title, price=price,
                        currency="EUR", term=1, term_unit="MONTH", actor=OPS, **kwargs)


@dataclass
class Shop:
    world: World
    target: Client
    connection: Connection
    shared: Offer
    own: Offer
    basket: Basket


def shop(url: str | None = "http://127.0.0.1:9/callbacks", within: bool = False) -> Shop:
    """Source shares an offer with an ACTIVE target; the target sells it in a basket."""
    w = companies()
    target = w.sibling if within else w.target
    conn = connect(w.source, target, None if within else url)
    shared = offer(w.source, "Source Digital", "4.99")
    set_cross_client(shared.id, w.source, True, [target.company_id], actor=OPS)
    own = offer(target, "Target Basic", "7.99")
    basket = create_basket(target, internal_title="BUNDLE", title="Bundle",
                           items=[ItemSpec(own.id, 1), ItemSpec(shared.id, 2, external=True)], actor=OPS)
    return Shop(w, target, conn, shared, own, basket)


def customer(company, n: int = 1, **kwargs):
    return create_customer(company, email=f"buyer{n}@example.org", first_name="Berta",
                           last_name=f"Buyer{n}", language="de", **kwargs)


def rows() -> dict:
    """Every row of every table, for refusals that must leave the data as it was."""
    return {m.__name__: [tuple(r.values()) for r in m.select().order_by(m.id).dicts()]
            for m in ALL_MODELS}


def refused(code: int, fn, *args, **kwargs) -> DomainError:
    """Call `fn`, expect a refusal with `code`, and check that no row changed."""
    before = rows()
    with pytest.raises(DomainError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value.message
    assert rows() == before
    return info.value


def redeem_concurrently(source: Client, code: str, numbers: list[str]) -> list:
    """Redeem `code` for each customer number at once, one thread each; "ok" or the refusal code."""
    import threading

    from storage.db import db
    from storage.orders import redeem_voucher

    barrier = threading.Barrier(len(numbers))
    outcomes = []

    def attempt(number):
        barrier.wait()
        try:
            redeem_voucher(source, number, code, actor=OPS)
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            db.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
