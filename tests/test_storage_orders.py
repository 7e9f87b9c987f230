"""Purchases, vouchers, redemption and settlement (DOMAIN.md "Purchase", "Voucher redemption")."""
from __future__ import annotations

import json
import re

from storage.baskets import ItemSpec, update_basket
from storage.connections import block_connection, update_connection
from storage.customers import update_customer
from storage.models import (
    AuditEntry,
    Callback,
    CrossClientTransaction,
    Customer,
    Order,
    Subscription,
    Voucher,
)
from storage.offers import archive_offer, set_cross_client
from storage.orders import (
    list_subscriptions,
    list_transactions,
    list_vouchers,
    mark_transaction_paid,
    new_voucher_code,
    normalize_voucher_code,
    place_order,
    redeem_voucher,
)
from tests.world import OPS, customer, offer, redeem_concurrently, refused, shop


def buy(s, c, **kwargs):
    return place_order(s.target, s.basket.id, c.customer_number, actor=OPS, **kwargs)


def test_voucher_codes_are_80_bit_crockford_in_groups():
    codes = {new_voucher_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in list(codes)[:50]:
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", code)
    code = next(iter(codes))
    assert normalize_voucher_code(code.lower().replace("-", "")) == code


def test_two_company_purchase_writes_order_subscription_voucher_callback_transaction(any_db):
    s = shop()
    buyer = customer(s.world.south)
    result = buy(s, buyer)
    order = result.order
    assert (order.client_id, order.customer_id, str(order.total), order.currency) == (
        s.world.target.id, buyer.id, "12.98", "EUR")
    [sub] = result.subscriptions
    assert (sub.client_id, sub.offer_id, sub.status, sub.subscription_type) == (
        s.world.target.id, s.own.id, "ACTIVE", "TIME_BASED")
    [voucher] = result.vouchers
    assert (voucher.source_id, voucher.offer_id, voucher.status) == (s.world.source.id, s.shared.id, "OPEN")
    assert (voucher.target_customer_number, voucher.customer_email) == (buyer.customer_number, buyer.email)
    [callback] = result.callbacks
    body = json.loads(callback.payload_json)
    assert (body["entityType"], body["callbackType"], body["entityId"]) == (
        "CROSS_CLIENT_ORDER", "CREATION", str(order.id))
    entity = body["entity"]
    assert entity["voucherCode"] == voucher.code
    assert entity["customer"] == {"customerId": buyer.customer_number, "email": buyer.email,
                                  "firstName": "Berta", "lastName": "Buyer1", "language": "de"}
    assert entity["offer"]["plenigoOfferId"] == s.shared.plenigo_offer_id
    assert entity["offer"]["title"] == "Source Digital"
    assert (entity["sourceCompanyId"], entity["targetCompanyId"]) == (
        s.world.source.company_id, s.world.target.company_id)
    assert entity["orderId"] == order.id and entity["orderDate"]
    assert callback.client_id == s.world.source.id and callback.status == "PENDING"
    [txn] = result.transactions
    assert (txn.type, txn.paid_status, str(txn.amount), txn.source_id, txn.connected_id) == (
        "PAYMENT", "OPEN", "4.99", s.world.source.id, s.world.target.id)
    # The source client has nothing yet: the voucher travels by callback.
    assert Subscription.select().where(Subscription.client == s.world.source).count() == 0


def test_within_one_company_the_source_subscription_is_created_directly(any_db):
    s = shop(within=True)
    buyer = customer(s.world.north)
    result = buy(s, buyer)
    assert result.vouchers == [] and result.callbacks == []
    assert Callback.select().count() == 0 and Voucher.select().count() == 0
    source_sub = [x for x in result.subscriptions if x.client_id == s.world.source.id]
    assert len(source_sub) == 1 and source_sub[0].customer_id == buyer.id
    assert source_sub[0].connected_offer and source_sub[0].connected_company_id == s.world.sibling.company_id
    assert [t.subscription_id for t in result.transactions] == [source_sub[0].id]


def test_customer_of_another_contract_company_cannot_buy(any_db):
    s = shop()
    stranger = customer(s.world.north, 7)
    refused(99404, buy, s, stranger)


def test_customer_that_is_blocked_cannot_buy(any_db):
    s = shop()
    buyer = customer(s.world.south)
    update_customer(s.world.south, buyer.customer_number, status="BLOCKED")
    refused(99400, buy, s, buyer)


def test_selling_through_a_blocked_connection_is_refused_and_leaves_nothing(any_db):
    s = shop()
    buyer = customer(s.world.south)
    block_connection(s.connection.id, s.world.source, actor=OPS)
    err = refused(99412, buy, s, buyer)
    assert "BLOCKED" in err.message


def test_selling_with_access_to_offers_off_is_refused(any_db):
    s = shop()
    buyer = customer(s.world.south)
    update_connection(s.connection.id, s.world.source, access_to_offers=False, actor=OPS)
    refused(99412, buy, s, buyer)


def test_refusal_midway_rolls_back_rows_already_written(any_db):
    """Item 1 (own) is written before item 3 fails: nothing of the order may remain."""
    s = shop()
    late = offer(s.world.source, "Late", "1.00")
    set_cross_client(late.id, s.world.source, True, [s.world.target.company_id], actor=OPS)
    update_basket(s.basket.id, s.world.target, items=[
        ItemSpec(s.own.id, 1), ItemSpec(s.shared.id, 2, external=True), ItemSpec(late.id, 3, external=True)],
        actor=OPS)
    archive_offer(late.id, s.world.source, actor=OPS)
    buyer = customer(s.world.south)
    err = refused(99400, buy, s, buyer)
    assert err.errors[0].field == "items[3].offerId"


def test_subscriptions_existing_stay_when_connection_blocked(any_db):
    s = shop()
    buyer = customer(s.world.south)
    result = buy(s, buyer)
    block_connection(s.connection.id, s.world.target, actor=OPS)
    assert Subscription.get_by_id(result.subscriptions[0].id).status == "ACTIVE"
    assert Voucher.get_by_id(result.vouchers[0].id).status == "OPEN"


def test_optional_items_follow_defaults_or_the_buyers_choice(any_db):
    s = shop()
    week = offer(s.world.target, "Weekend", "2.49")
    update_basket(s.basket.id, s.world.target, items=[
        ItemSpec(s.own.id, 1), ItemSpec(s.shared.id, 2, external=True),
        ItemSpec(week.id, 3, option=True, default_selected=True)], actor=OPS)
    buyer = customer(s.world.south)
    assert len(buy(s, buyer).subscriptions) == 2
    assert len(buy(s, buyer, selected_positions=[]).subscriptions) == 1
    refused(99400, buy, s, buyer, selected_positions=[2])


def test_external_item_bought_without_its_leading_own_offer_is_refused(any_db):
    s = shop()
    update_basket(s.basket.id, s.world.target, items=[
        ItemSpec(s.own.id, 1, option=True), ItemSpec(s.shared.id, 2, external=True)], actor=OPS)
    buyer = customer(s.world.south)
    refused(78012, buy, s, buyer, selected_positions=[])


def redeem_setup(s):
    buyer = customer(s.world.south)
    voucher = buy(s, buyer).vouchers[0]
    match = customer(s.world.north, 2)
    return buyer, voucher, match


def test_redeem_creates_cross_company_subscription_once(any_db):
    s = shop()
    buyer, voucher, match = redeem_setup(s)
    sub = redeem_voucher(s.world.source, match.customer_number, voucher.code.lower(), actor=OPS)
    assert (sub.client_id, sub.customer_id, sub.offer_id) == (s.world.source.id, match.id, s.shared.id)
    assert sub.subscription_type == "CROSS_COMPANY_TIME_BASED" and sub.connected_offer
    assert (sub.connected_contract_company_id, sub.connected_company_id, sub.connected_customer_id,
            sub.connected_offer_id) == (str(s.world.south.id), s.world.target.company_id,
                                        buyer.customer_number, s.own.plenigo_offer_id)
    v = Voucher.get_by_id(voucher.id)
    assert v.status == "REDEEMED" and v.redeemed_customer_id == match.id
    assert CrossClientTransaction.get(CrossClientTransaction.voucher == v).subscription_id == sub.id
    [listed] = list_subscriptions(s.world.source, customer=match, cross_client_only=True)
    assert listed.id == sub.id
    assert AuditEntry.select().where(AuditEntry.action == "redeem").count() == 1
    err = refused(35002, redeem_voucher, s.world.source, match.customer_number, voucher.code, actor=OPS)
    assert err.errors[0].field == "voucherCode"


def test_unknown_voucher_35001(any_db):
    s = shop()
    _, _, match = redeem_setup(s)
    refused(35001, redeem_voucher, s.world.source, match.customer_number, "AAAA-BBBB-CCCC-DDDD", actor=OPS)


def test_voucher_of_another_client_is_unknown_to_it(any_db):
    s = shop()
    _, voucher, _ = redeem_setup(s)
    theirs = customer(s.world.south, 3)
    refused(35001, redeem_voucher, s.world.target, theirs.customer_number, voucher.code, actor=OPS)
    refused(35001, redeem_voucher, s.world.sibling, customer(s.world.north, 4).customer_number,
            voucher.code, actor=OPS)


def test_redeem_input_checks(any_db):
    s = shop()
    _, voucher, match = redeem_setup(s)
    err = refused(99400, redeem_voucher, s.world.source, "12a", voucher.code, actor=OPS)
    assert err.errors[0].field == "customerId"
    refused(99400, redeem_voucher, s.world.source, match.customer_number, "", actor=OPS)
    refused(99404, redeem_voucher, s.world.source, "999999999", voucher.code, actor=OPS)
    assert Voucher.get_by_id(voucher.id).status == "OPEN"


def test_two_threads_redeem_one_voucher_exactly_one_wins(any_db):
    s = shop()
    _, voucher, match = redeem_setup(s)
    other = customer(s.world.north, 5)
    outcomes = redeem_concurrently(s.world.source, voucher.code, [match.customer_number, other.customer_number])
    assert sorted(outcomes, key=str) == sorted(["ok", 35002], key=str)
    assert Subscription.select().where(Subscription.voucher == voucher.id).count() == 1


def test_settlement_paid_is_final_and_only_for_the_receiver(any_db):
    s = shop()
    buy(s, customer(s.world.south))
    [txn] = list_transactions(s.world.source)
    assert [t.id for t in list_transactions(s.world.target)] == [txn.id]
    refused(99403, mark_transaction_paid, txn.id, s.world.target, actor=OPS)
    assert mark_transaction_paid(txn.id, s.world.source, actor=OPS).paid_status == "PAID"
    refused(99400, mark_transaction_paid, txn.id, s.world.source, actor=OPS)
    refused(99404, mark_transaction_paid, txn.id, s.world.sibling, actor=OPS)


def test_vouchers_listed_for_both_sides_and_by_customer(any_db):
    s = shop()
    buyer, voucher, match = redeem_setup(s)
    assert [v.id for v in list_vouchers(s.world.target, customer=buyer)] == [voucher.id]
    redeem_voucher(s.world.source, match.customer_number, voucher.code, actor=OPS)
    assert [v.id for v in list_vouchers(s.world.source, customer=Customer.get_by_id(match.id))] == [voucher.id]
    assert list(list_vouchers(s.world.sibling)) == []
    assert Order.select().count() == 1
