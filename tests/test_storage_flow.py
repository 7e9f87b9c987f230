"""The whole flow through storage functions only: two contract companies, and within one."""
from __future__ import annotations

import json

from storage.audit import Actor
from storage.baskets import ItemSpec, create_basket
from storage.connections import accept_invitation_code, create_connection
from storage.customers import create_customer, find_by_email
from storage.models import EmailOutbox
from storage.offers import create_offer, list_external_offers, set_cross_client
from storage.orders import list_subscriptions, place_order, redeem_voucher
from tests.world import companies

SOURCE_OPS = Actor.operator("source-support")
TARGET_OPS = Actor.operator("target-support")


def test_two_company_flow(any_db):
    w = companies()
    conn = create_connection(w.source, w.target.company_id, callback_url="https://source.example/cb",
                             actor=SOURCE_OPS)
    code = json.loads(EmailOutbox.get(EmailOutbox.kind == "invitation").params_json)["code"]
    assert accept_invitation_code(w.target, code, actor=TARGET_OPS).status == "ACTIVE"
    digital = create_offer(w.source, internal_title="XC", public_title="North for partners", price="4.99",
                           currency="EUR", term=1, term_unit="MONTH", actor=SOURCE_OPS)
    set_cross_client(digital.id, w.source, True, [w.target.company_id], actor=SOURCE_OPS)
    assert [o.id for o in list_external_offers(w.target)] == [digital.id]
    basic = create_offer(w.target, internal_title="BASIC", public_title="South Basic", price="7.99",
                         currency="EUR", term=1, term_unit="MONTH", actor=TARGET_OPS)
    basket = create_basket(w.target, internal_title="BUNDLE", title="South + North",
                           items=[ItemSpec(basic.id, 1), ItemSpec(digital.id, 2, external=True)],
                           actor=TARGET_OPS)
    buyer = create_customer(w.south, email="carla@south.example", first_name="Carla", last_name="Kunde")
    result = place_order(w.target, basket.id, buyer.customer_number, actor=TARGET_OPS)
    [callback] = result.callbacks
    assert callback.connection_id == conn.id
    # The source's web service receives the callback, finds or creates the customer and redeems.
    entity = json.loads(callback.payload_json)["entity"]
    mine = find_by_email(w.north, entity["customer"]["email"]) or create_customer(
        w.north, email=entity["customer"]["email"], first_name=entity["customer"]["firstName"],
        last_name=entity["customer"]["lastName"], language=entity["customer"]["language"])
    sub = redeem_voucher(w.source, mine.customer_number, entity["voucherCode"], actor=Actor.api("shop"))
    [seen] = list_subscriptions(w.source, customer=mine)
    assert seen.id == sub.id and seen.subscription_type == "CROSS_COMPANY_TIME_BASED"
    assert seen.connected_customer_id == buyer.customer_number


def test_within_company_flow(any_db):
    w = companies()
    conn = create_connection(w.source, w.sibling.company_id, actor=SOURCE_OPS)
    code = json.loads(EmailOutbox.get(EmailOutbox.kind == "invitation").params_json)["code"]
    accept_invitation_code(w.sibling, code, actor=TARGET_OPS)
    digital = create_offer(w.source, internal_title="XC", public_title="Digital", price="4.99",
                           currency="EUR", term=1, term_unit="MONTH", actor=SOURCE_OPS)
    set_cross_client(digital.id, w.source, True, [w.sibling.company_id], actor=SOURCE_OPS)
    paper = create_offer(w.sibling, internal_title="PAPER", public_title="Paper", price="30",
                         currency="EUR", term=1, term_unit="MONTH", actor=TARGET_OPS)
    basket = create_basket(w.sibling, internal_title="B", title="Paper + digital",
                           items=[ItemSpec(paper.id, 1), ItemSpec(digital.id, 2, external=True)],
                           actor=TARGET_OPS)
    shared = create_customer(w.north, email="dora@north.example")
    result = place_order(w.sibling, basket.id, shared.customer_number, actor=TARGET_OPS)
    assert result.vouchers == [] and result.callbacks == [] and conn.callback_url is None
    [in_source] = list_subscriptions(w.source, customer=shared)
    [in_target] = list_subscriptions(w.sibling, customer=shared)
    assert in_source.offer_id == digital.id and in_target.offer_id == paper.id
