"""The sample merchant web service: signature checks, find-or-create, redemption, idempotency."""
# ruff: noqa: F811  (pytest fixtures imported from tests.sqlite_world are parameters here)
from __future__ import annotations

import json
import time

import httpx
import pytest

from api.app import create_app
from storage.config import Config
from storage.models import Customer, Subscription, Voucher
from tests.api_world import (  # noqa: F401
    callback_request,
    headers,
    latest_callback,
    signed_headers,
    sqlite_world,
)

CALLBACKS = "http://testserver/sample-merchant/callbacks"


@pytest.fixture
async def merchant(sqlite_world):
    """An app whose sample merchant holds the source's token and calls the API in-process."""
    app = create_app(Config(data={"sample_merchant": {"token": sqlite_world.source_token,
                                                      "secret": sqlite_world.shop.connection.signing_secret}}))
    app.state.sample_merchant.transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        client.app = app
        yield client


async def buy(client, w, customer=None):
    response = await client.post(f"/api/v3.0/products/shoppingCarts/{w.shop.basket.id}/purchase",
                                 headers=headers(w.target_token),
                                 json={"customerId": (customer or w.south_customer).customer_number})
    assert response.status_code == 201, response.text
    return latest_callback()


@pytest.mark.parametrize("plenigo, standard", [(True, True), (True, False), (False, True)])
async def test_signed_callback_creates_customer_and_redeems(merchant, sqlite_world, plenigo, standard):
    w = sqlite_world
    callback = await buy(merchant, w)
    body, sent = callback_request(callback, plenigo=plenigo, standard=standard)
    response = await merchant.post(CALLBACKS, content=body, headers=sent)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "redeemed"
    created = Customer.get((Customer.contract_company == w.shop.world.north)
                           & (Customer.email_lc == w.south_customer.email.lower()))
    assert response.json()["customerId"] == created.customer_number
    assert (created.first_name, created.last_name) == (w.south_customer.first_name, w.south_customer.last_name)
    sub = Subscription.get(Subscription.customer == created)
    assert sub.client_id == w.source.id and sub.subscription_type == "CROSS_COMPANY_TIME_BASED"
    assert Voucher.get().status == "REDEEMED"


async def test_repeated_delivery_is_harmless(merchant, sqlite_world):
    w = sqlite_world
    callback = await buy(merchant, w)
    body, sent = callback_request(callback)
    first = await merchant.post(CALLBACKS, content=body, headers=sent)
    second = await merchant.post(CALLBACKS, content=body, headers=sent)
    assert first.json()["result"] == "redeemed"
    assert second.status_code == 200 and second.json()["result"] == "already redeemed"
    assert second.json()["customerId"] == first.json()["customerId"]
    assert Subscription.select().where(Subscription.client == w.source).count() == 1


async def test_existing_customer_is_found_by_email(merchant, sqlite_world):
    from storage.customers import create_customer

    w = sqlite_world
    known = create_customer(w.shop.world.north, email=w.south_customer.email.upper(), first_name="Known")
    callback = await buy(merchant, w)
    body, sent = callback_request(callback)
    response = await merchant.post(CALLBACKS, content=body, headers=sent)
    assert response.json() == {"result": "redeemed", "customerId": known.customer_number,
                               "orderId": json.loads(body)["entity"]["orderId"]}


@pytest.mark.parametrize("tamper", ["wrong secret", "stale", "future", "unsigned", "body changed",
                                    "one of two wrong", "garbage header"])
async def test_bad_signatures_are_refused(merchant, sqlite_world, tamper):
    w = sqlite_world
    callback = await buy(merchant, w)
    body, sent = callback_request(callback)
    if tamper == "wrong secret":
        sent = signed_headers("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", body, callback.webhook_id)
    elif tamper == "stale":
        body, sent = callback_request(callback, at=int(time.time()) - 3600)
    elif tamper == "future":
        body, sent = callback_request(callback, at=int(time.time()) + 3600)
    elif tamper == "unsigned":
        sent = {"content-type": "application/json"}
    elif tamper == "body changed":
        body = body.replace(b"CROSS_CLIENT_ORDER", b"CROSS_CLIENT_ORDEr")
    elif tamper == "one of two wrong":
        sent["plenigo-signature"] = sent["plenigo-signature"][:-4] + "0000"
    elif tamper == "garbage header":
        sent = {"plenigo-signature": "nonsense", "webhook-signature": "v1"}
    response = await merchant.post(CALLBACKS, content=body, headers=sent)
    assert response.status_code == 401
    assert Voucher.get().status == "OPEN"


async def test_other_events_are_acknowledged_and_ignored(merchant, sqlite_world):
    body = json.dumps({"entityType": "CUSTOMER", "callbackType": "CHANGE", "entityId": "1", "entity": {}}).encode()
    secret = sqlite_world.shop.connection.signing_secret
    response = await merchant.post(CALLBACKS, content=body, headers=signed_headers(secret, body))
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    broken = b'{"entityType": "CROSS_CLIENT_ORDER"'
    assert (await merchant.post(CALLBACKS, content=broken, headers=signed_headers(secret, broken))).status_code == 400


async def test_api_refusal_is_reported_for_the_callback_log(merchant, sqlite_world):
    w = sqlite_world
    callback = await buy(merchant, w)
    payload = json.loads(callback.payload_json)
    payload["entity"]["voucherCode"] = "0000-0000-0000-0000"
    body = json.dumps(payload).encode()
    response = await merchant.post(CALLBACKS, content=body,
                                   headers=signed_headers(w.shop.connection.signing_secret, body))
    assert response.status_code == 422
    assert response.json()["errorCode"] == 35001


async def test_without_token_the_sender_is_asked_to_retry(sqlite_world, tmp_path):
    secret = sqlite_world.shop.connection.signing_secret
    app = create_app(Config(data={"sample_merchant": {"token_file": str(tmp_path / "none"), "secret": secret}}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        callback = await buy(client, sqlite_world)
        body, sent = callback_request(callback)
        response = await client.post(CALLBACKS, content=body, headers=sent)
    assert response.status_code == 503
    assert Voucher.get().status == "OPEN"


async def test_token_file_is_read_at_each_callback(sqlite_world, tmp_path):
    token_file = tmp_path / "sample-merchant-token"
    secret = sqlite_world.shop.connection.signing_secret
    app = create_app(Config(data={"sample_merchant": {"token_file": str(token_file), "secret": secret}}))
    app.state.sample_merchant.transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        callback = await buy(client, sqlite_world)
        body, sent = callback_request(callback)
        assert (await client.post(CALLBACKS, content=body, headers=sent)).status_code == 503
        token_file.write_text(sqlite_world.source_token + "\n")
        assert (await client.post(CALLBACKS, content=body, headers=sent)).json()["result"] == "redeemed"
