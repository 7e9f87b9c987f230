"""Tenant isolation: every endpoint asked with another client's token.

A token sees its own client's data and its contract company's customers, nothing else: another
client's voucher, callback log, basket or transaction is "not found" to it, exactly like an id
that does not exist.
"""
# ruff: noqa: F811  (pytest fixtures imported from tests.api_world are parameters here)
from __future__ import annotations

import pytest

from storage.customers import create_customer
from storage.db import db
from storage.outbox import record_callback_attempt
from storage.tenancy import create_client, create_contract_company
from storage.tokens import create_token
from tests.api_world import api, api_world, assert_error, headers, latest_callback, latest_voucher  # noqa: F401


@pytest.fixture
async def sold(api, api_world):
    """A purchase in the target, redeemed by the source, with a callback log entry; and an outsider."""
    w = api_world
    order = await api.post(f"/products/shoppingCarts/{w.shop.basket.id}/purchase", headers=headers(w.target_token),
                           json={"customerId": w.south_customer.customer_number})
    assert order.status_code == 201
    code = latest_voucher().code
    with db.atomic():
        attempt = record_callback_attempt(latest_callback(), success=True, final_try=False, trigger="SCHEDULED",
                                          http_status=200, url="http://127.0.0.1:9/callbacks")
    # A second, open voucher that nobody else may redeem.
    await api.post(f"/products/shoppingCarts/{w.shop.basket.id}/purchase", headers=headers(w.target_token),
                   json={"customerId": w.south_customer.customer_number})
    open_code = latest_voucher().code
    redeemed = await api.post("/subscriptions/useCrossClientVoucher", headers=headers(w.source_token),
                              json={"customerId": w.north_customer.customer_number, "voucherCode": code})
    assert redeemed.status_code == 200
    third = create_contract_company("Third House", cross_client_module=True)
    outsider = create_client(third, "OUTSIDERCLIENT000001", "Outsider", "out@third.example")
    create_customer(third, email="third@example.org")
    only_north = create_customer(w.shop.world.north, email="only.north@example.org")
    return {
        "order": order.json(), "open_code": open_code, "attempt_id": attempt.id,
        "txn_id": order.json()["crossClientTransactions"][0]["crossClientTransactionId"],
        "outsider_token": create_token(outsider, "outsider")[1], "only_north": only_north.customer_number,
    }


async def test_vouchers_of_another_client_are_unknown(api, api_world, sold):
    w = api_world
    for token, customer in ((w.sibling_token, w.north_customer.customer_number),
                            (w.target_token, w.south_customer.customer_number)):
        response = await api.post("/subscriptions/useCrossClientVoucher", headers=headers(token),
                                  json={"customerId": customer, "voucherCode": sold["open_code"]})
        assert_error(response, 400, 35001, "voucherCode")
    assert latest_voucher().status == "OPEN"
    # The owner still can.
    ok = await api.post("/subscriptions/useCrossClientVoucher", headers=headers(w.source_token),
                        json={"customerId": w.north_customer.customer_number, "voucherCode": sold["open_code"]})
    assert ok.status_code == 200


async def test_subscription_lists_show_only_the_tokens_client(api, api_world, sold):
    w = api_world
    north = w.north_customer.customer_number
    assert len((await api.get("/subscriptions/crossClient", headers=headers(w.source_token))).json()["items"]) == 1
    for token in (w.sibling_token, w.target_token, sold["outsider_token"]):
        assert (await api.get("/subscriptions/crossClient", headers=headers(token))).json() == {"items": []}
    # The sibling shares the customer base, not the source's subscriptions.
    for suffix in ("", "/crossClient"):
        shared = await api.get(f"/customers/{north}/subscriptions{suffix}", headers=headers(w.sibling_token))
        assert shared.status_code == 200 and shared.json() == {"items": []}
        for token in (w.target_token, sold["outsider_token"]):
            response = await api.get(f"/customers/{sold['only_north']}/subscriptions{suffix}", headers=headers(token))
            assert_error(response, 404, 99404, "customerId")


async def test_customers_belong_to_the_contract_company(api, api_world, sold):
    w = api_world
    email = w.north_customer.email
    for token in (w.source_token, w.sibling_token):
        found = await api.get("/customers", headers=headers(token), params={"email": email})
        assert [c["customerId"] for c in found.json()["items"]] == [w.north_customer.customer_number]
        got = await api.get(f"/customers/{sold['only_north']}", headers=headers(token))
        assert got.status_code == 200
    for token in (w.target_token, sold["outsider_token"]):
        assert (await api.get("/customers", headers=headers(token), params={"email": email})).json() == {"items": []}
        assert_error(await api.get(f"/customers/{sold['only_north']}", headers=headers(token)), 404, 99404)
        everyone = (await api.get("/customers", headers=headers(token), params={"size": 100})).json()["items"]
        assert email not in [c["email"] for c in everyone]
    # Creating with a north customer's id and e-mail in another company makes a new customer there.
    created = await api.post("/customers", headers=headers(sold["outsider_token"]),
                             json={"customerId": sold["only_north"], "email": "only.north@example.org",
                                   "language": "de"})
    assert created.status_code == 201


async def test_callback_logs_of_another_client_are_not_found(api, api_world, sold):
    w = api_world
    assert len((await api.get("/callbacks/logs", headers=headers(w.source_token))).json()["items"]) == 1
    for token in (w.sibling_token, w.target_token, sold["outsider_token"]):
        assert (await api.get("/callbacks/logs", headers=headers(token))).json() == {"items": []}
        assert_error(await api.get(f"/callbacks/logs/{sold['attempt_id']}", headers=headers(token)), 404, 99404)


async def test_baskets_of_another_client_are_not_found(api, api_world, sold):
    w = api_world
    basket = w.shop.basket.id
    for token in (w.source_token, w.sibling_token, sold["outsider_token"]):
        assert (await api.get("/products/shoppingCarts", headers=headers(token))).json() == {"items": []}
        assert_error(await api.get(f"/products/shoppingCarts/{basket}", headers=headers(token)), 404, 99404)
        bought = await api.post(f"/products/shoppingCarts/{basket}/purchase", headers=headers(token),
                                json={"customerId": w.north_customer.customer_number})
        assert_error(bought, 404, 99404, "shoppingCartId")


async def test_transactions_of_other_clients_are_not_found(api, api_world, sold):
    w = api_world
    for token in (w.source_token, w.target_token):
        assert len((await api.get("/orders/crossClientTransactions", headers=headers(token))).json()["items"]) == 2
    for token in (w.sibling_token, sold["outsider_token"]):
        assert (await api.get("/orders/crossClientTransactions", headers=headers(token))).json() == {"items": []}
        response = await api.get(f"/orders/crossClientTransactions/{sold['txn_id']}", headers=headers(token))
        assert_error(response, 404, 99404, "crossClientTransactionId")
