"""Bad input never causes a 500: every refusal is plenigo's error body with the field named."""
# ruff: noqa: F811  (pytest fixtures imported from tests.sqlite_world are parameters here)
from __future__ import annotations

import pytest

from api.app import create_app
from storage.config import Config
from storage.tokens import create_token, revoke_token
from tests.api_world import api, api_client, assert_error, headers, sqlite_world  # noqa: F401

VOUCHER = "/subscriptions/useCrossClientVoucher"


async def test_token_missing_wrong_or_revoked_is_401(api, sqlite_world):
    w = sqlite_world
    missing = await api.get("/customers")
    assert_error(missing, 401, 99401)
    wrong = await api.get("/customers", headers=headers("ccx_not-a-token"))
    assert_error(wrong, 401, 99008)
    token, plain = create_token(w.source, "short-lived")
    assert (await api.get("/customers", headers=headers(plain))).status_code == 200
    revoke_token(token.id)
    assert_error(await api.get("/customers", headers=headers(plain)), 401, 99008)
    # The token is checked before the body: a bad body without a token is still 401.
    assert_error(await api.post(VOUCHER, content=b"{nonsense"), 401, 99401)


@pytest.mark.parametrize("body, field", [
    (b"{nonsense", "body"),
    (b"", "body"),
    (b"[1, 2]", "body"),
    (b'"text"', "body"),
    (b'{"customerId": 123, "voucherCode": "ABCD"}', "customerId"),
    (b'{"customerId": "12a", "voucherCode": "ABCD"}', "customerId"),
    (b'{"customerId": "12", "voucherCode": 5}', "voucherCode"),
    (b'{"customerId": "12"}', "voucherCode"),
    (b'{"voucherCode": "ABCD"}', "customerId"),
    (b'{"customerId": "12", "voucherCode": "ABCD", "x": NaN}', "body"),
    (b'{"customerId": "12", "voucherCode": "\xff\xfe"}', "body"),
    (b"[" * 100000 + b"]" * 100000, "body"),
])
async def test_malformed_voucher_requests(api, sqlite_world, body, field):
    sent = headers(sqlite_world.source_token) | {"content-type": "application/json"}
    response = await api.post(VOUCHER, headers=sent, content=body)
    assert_error(response, 400, 99400, field)


@pytest.mark.parametrize("payload, field", [
    ({"language": "de"}, "email"),
    ({"email": "a@example.org"}, "language"),
    ({"email": "not-an-address", "language": "de"}, "email"),
    ({"email": "a@example.org", "language": "deu"}, "language"),
    ({"email": "a@example.org", "language": "de", "customerId": "A1"}, "customerId"),
    ({"email": "a@example.org", "language": "de", "firstName": 7}, "firstName"),
    ({"email": "a@example.org", "language": "de", "lastName": "x" * 101}, "lastName"),
    ({"email": "a@example.org", "language": "de", "addresses": [{"city": "Kiel"}]}, "addresses[0].type"),
])
async def test_malformed_customer_creation(api, sqlite_world, payload, field):
    response = await api.post("/customers", headers=headers(sqlite_world.source_token), json=payload)
    assert_error(response, 400, 99400, field)


@pytest.mark.parametrize("path, status, field", [
    ("/customers/abc", 404, "customerId"),
    ("/customers/1234567890123456789", 404, "customerId"),
    ("/customers/777777", 404, "customerId"),
    ("/customers/abc/subscriptions", 400, "customerId"),
    ("/customers/777777/subscriptions", 404, "customerId"),
    ("/customers/abc/subscriptions/crossClient", 400, "customerId"),
    ("/callbacks/logs/abc", 404, "callbackLogEntryId"),
    ("/orders/crossClientTransactions/-1", 404, "crossClientTransactionId"),
    ("/products/shoppingCarts/1.5", 400, "shoppingCartId"),
])
async def test_bad_and_unknown_path_ids(api, sqlite_world, path, status, field):
    response = await api.get(path, headers=headers(sqlite_world.source_token))
    assert_error(response, status, 99404 if status == 404 else 99400, field)


@pytest.mark.parametrize("path, params, field", [
    ("/customers", {"size": "ten"}, "size"),
    ("/customers", {"sort": "UP"}, "sort"),
    ("/customers", {"startTime": "yesterday"}, "startTime"),
    ("/customers", {"startingAfter": "x" * 101}, "startingAfter"),
    ("/customers", {"startingAfter": "1", "endingBefore": "2"}, "endingBefore"),
    ("/subscriptions/crossClient", {"startingAfter": "abc"}, "startingAfter"),
    ("/subscriptions/crossClient", {"subscriptionItemId": "abc"}, "subscriptionItemId"),
    ("/callbacks/logs", {"plenigoCallbackId": "1e3"}, "plenigoCallbackId"),
    ("/callbacks/logs", {"callbackType": "create"}, "callbackType"),
    ("/orders/crossClientTransactions", {"orderId": "-5"}, "orderId"),
    ("/orders/crossClientTransactions", {"paidStatus": "open"}, "paidStatus"),
    ("/orders/crossClientTransactions", {"endTime": "2024-13-01"}, "endTime"),
    ("/products/shoppingCarts", {"plenigoShoppingCartId": "SC_1"}, "plenigoShoppingCartId"),
])
async def test_bad_query_parameters(api, sqlite_world, path, params, field):
    response = await api.get(path, headers=headers(sqlite_world.source_token), params=params)
    assert_error(response, 400, 99400, field)


async def test_purchase_refusals(api, sqlite_world):
    w = sqlite_world
    url = f"/products/shoppingCarts/{w.shop.basket.id}/purchase"
    token = headers(w.target_token)
    assert_error(await api.post(url, headers=token, json={}), 400, 99400, "customerId")
    assert_error(await api.post(url, headers=token, json={"customerId": "1", "selectedPositions": "all"}),
                 400, 99400, "selectedPositions")
    assert_error(await api.post(url, headers=token, json={"customerId": "999999"}), 404, 99404, "customerId")
    assert_error(await api.post("/products/shoppingCarts/999/purchase", headers=token,
                                json={"customerId": w.south_customer.customer_number}), 404, 99404, "shoppingCartId")
    # A customer of the other contract company does not exist for this token.
    from storage.customers import create_customer

    only_north = create_customer(w.shop.world.north, email="only.north@example.org")
    assert_error(await api.post(url, headers=token, json={"customerId": only_north.customer_number}),
                 404, 99404, "customerId")


async def test_domain_refusals_carry_their_codes(api, sqlite_world):
    from storage.connections import block_connection
    from tests.world import OPS

    w = sqlite_world
    block_connection(w.shop.connection.id, w.target, actor=OPS)
    response = await api.post(f"/products/shoppingCarts/{w.shop.basket.id}/purchase",
                              headers=headers(w.target_token),
                              json={"customerId": w.south_customer.customer_number})
    body = assert_error(response, 400, 99412)
    assert body["validationErrors"][0]["field"].startswith("items[")


async def test_body_over_the_limit(sqlite_world):
    app = create_app(Config(data={"api": {"max_body_bytes": 1024}}))
    async with api_client(app) as client:
        big = {"customerId": "1", "voucherCode": "x" * 2000}
        response = await client.post(VOUCHER, headers=headers(sqlite_world.source_token), json=big)
        assert_error(response, 400, 99400, "body")

        async def chunks():  # no Content-Length: the cap applies while reading
            for _ in range(10):
                yield b" " * 200

        streamed = await client.post(VOUCHER, headers=headers(sqlite_world.source_token), content=chunks())
        assert_error(streamed, 400, 99400, "body")
        small = await client.post(VOUCHER, headers=headers(sqlite_world.source_token),
                                  json={"customerId": "1", "voucherCode": "AAAA"})
        assert_error(small, 400, 35001)


async def test_rate_limit_per_token(sqlite_world):
    app = create_app(Config(data={"api": {"rate_limit_per_second": 0.5, "rate_limit_burst": 3}}))
    w = sqlite_world
    async with api_client(app) as client:
        answers = [await client.get("/customers", headers=headers(w.source_token)) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        body = assert_error(answers[-1], 429, 99429)
        assert "rate limit" in body["errorMessage"]
        assert int(answers[-1].headers["Retry-After"]) >= 1
        # Another token has its own bucket.
        assert (await client.get("/customers", headers=headers(w.sibling_token))).status_code == 200


async def test_unknown_endpoint_and_method(api, sqlite_world):
    assert_error(await api.get("/nothing/here", headers=headers(sqlite_world.source_token)), 404, 99404)
    response = await api.delete("/customers", headers=headers(sqlite_world.source_token))
    assert response.status_code == 405
    assert response.json()["errorCode"] == 99405
