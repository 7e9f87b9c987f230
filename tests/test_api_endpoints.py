"""Every endpoint through httpx against the ASGI app, each answer checked against the contract."""
# ruff: noqa: F811  (pytest fixtures imported from tests.api_world are parameters here)
from __future__ import annotations

import datetime as dt

from storage import clock
from storage.models import CrossClientTransaction, Subscription
from storage.outbox import record_callback_attempt
from tests.api_world import (  # noqa: F401
    api,
    api_world,
    assert_error,
    assert_schema,
    headers,
    latest_callback,
    latest_voucher,
)


async def purchase(api, w, customer_id=None, **body):
    response = await api.post(f"/products/shoppingCarts/{w.shop.basket.id}/purchase",
                              headers=headers(w.target_token),
                              json={"customerId": customer_id or w.south_customer.customer_number, **body})
    assert response.status_code == 201, response.text
    return response.json()


async def test_purchase_returns_order_without_voucher_codes(api, api_world):
    w = api_world
    order = await purchase(api, w)
    assert_schema("ShoppingCartOrder", order)
    assert order["customerId"] == w.south_customer.customer_number
    assert order["total"] == 12.98 and order["currency"] == "EUR"
    assert [s["plenigoOfferId"] for s in order["subscriptions"]] == [w.shop.own.plenigo_offer_id]
    [txn] = order["crossClientTransactions"]
    assert (txn["sourceCompanyId"], txn["connectedCompanyId"]) == (w.source.company_id, w.target.company_id)
    voucher = latest_voucher()
    assert voucher.code not in str(order) and voucher.code.replace("-", "") not in str(order)


async def test_purchase_with_optional_items_chosen(api, api_world):
    from storage.baskets import ItemSpec, update_basket
    from tests.world import OPS, offer

    w = api_world
    extra = offer(w.target, "Weekend", "1.50")
    update_basket(w.shop.basket.id, w.target, items=[
        ItemSpec(w.shop.own.id, 1), ItemSpec(w.shop.shared.id, 2, external=True),
        ItemSpec(extra.id, 3, option=True, default_selected=False)], actor=OPS)
    without = await purchase(api, w)
    assert without["total"] == 12.98
    chosen = await purchase(api, w, selectedPositions=[3])
    assert chosen["total"] == 14.48
    assert len(chosen["subscriptions"]) == 2
    refused = await api.post(f"/products/shoppingCarts/{w.shop.basket.id}/purchase",
                             headers=headers(w.target_token),
                             json={"customerId": w.south_customer.customer_number, "selectedPositions": [2]})
    assert_error(refused, 400, 99400, "selectedPositions")


async def test_redeem_voucher_and_see_subscription(api, api_world):
    w = api_world
    await purchase(api, w)
    code = latest_voucher().code
    redeemed = await api.post("/subscriptions/useCrossClientVoucher", headers=headers(w.source_token),
                              json={"customerId": w.north_customer.customer_number, "voucherCode": code.lower()})
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json() == {"success": True}
    assert_schema("SuccessStatus", redeemed.json())

    again = await api.post("/subscriptions/useCrossClientVoucher", headers=headers(w.source_token),
                           json={"customerId": w.north_customer.customer_number, "voucherCode": code})
    assert_error(again, 400, 35002, "voucherCode")

    for path in (f"/customers/{w.north_customer.customer_number}/subscriptions",
                 f"/customers/{w.north_customer.customer_number}/subscriptions/crossClient",
                 "/subscriptions/crossClient"):
        listed = await api.get(path, headers=headers(w.source_token))
        assert listed.status_code == 200, listed.text
        assert_schema("Subscriptions", listed.json())
        [sub] = listed.json()["items"]
        assert sub["subscriptionType"] == "CROSS_COMPANY_TIME_BASED" and sub["connectedOffer"] is True
        assert sub["invoiceCustomerId"] == w.north_customer.customer_number
        assert sub["plenigoOfferId"] == w.shop.shared.plenigo_offer_id
        info = sub["connectedOfferInfo"]
        assert info == {"contractCompanyId": str(w.target.contract_company_id),
                        "companyId": w.target.company_id,
                        "customerId": w.south_customer.customer_number,
                        "plenigoOfferId": w.shop.own.plenigo_offer_id}


async def test_redeem_refusals(api, api_world):
    w = api_world
    await purchase(api, w)
    code = latest_voucher().code
    unknown = await api.post("/subscriptions/useCrossClientVoucher", headers=headers(w.source_token),
                             json={"customerId": w.north_customer.customer_number,
                                   "voucherCode": "0000-0000-0000-0000"})
    assert_error(unknown, 400, 35001, "voucherCode")
    no_customer = await api.post("/subscriptions/useCrossClientVoucher", headers=headers(w.source_token),
                                 json={"customerId": "999999", "voucherCode": code})
    assert_error(no_customer, 400, 99404, "customerId")
    assert latest_voucher().status == "OPEN"


async def test_customers_search_create_get(api, api_world):
    w = api_world
    token = headers(w.source_token)
    created = await api.post("/customers", headers=token,
                             json={"email": "New.Reader@Example.org", "firstName": "Nina", "lastName": "Neu",
                                   "language": "en", "salutation": "MRS"})
    assert created.status_code == 201, created.text
    assert_schema("Customer", created.json())
    number = created.json()["customerId"]
    assert created.json()["firstName"] == "Nina" and created.json()["language"] == "en"

    found = await api.get("/customers", headers=token, params={"email": "new.reader@example.org"})
    assert found.status_code == 200
    assert_schema("Customers", found.json())
    assert [c["customerId"] for c in found.json()["items"]] == [number]
    nobody = await api.get("/customers", headers=token, params={"email": "nobody@example.org"})
    assert nobody.json() == {"items": []}
    by_username = await api.get("/customers", headers=token, params={"username": "nina"})
    assert by_username.json() == {"items": []}

    got = await api.get(f"/customers/{number}", headers=token)
    assert got.status_code == 200 and got.json()["email"] == "New.Reader@Example.org"
    assert_schema("Customer", got.json())

    with_id = {"customerId": "4711", "email": "fixed@example.org", "language": "de"}
    first = await api.post("/customers", headers=token, json=with_id)
    assert first.status_code == 201 and first.json()["customerId"] == "4711"
    repeat = await api.post("/customers", headers=token, json=with_id)
    assert repeat.status_code == 208 and repeat.json()["customerId"] == "4711"
    assert_schema("Customer", repeat.json())
    taken = await api.post("/customers", headers=token, json={**with_id, "email": "other@example.org"})
    assert_error(taken, 400, 99400, "customerId")
    duplicate_email = await api.post("/customers", headers=token, json={"email": "FIXED@example.org", "language": "de"})
    assert_error(duplicate_email, 400, 99400, "email")


async def test_customer_paging_size_cursors_and_sort(api, api_world):
    from storage.customers import create_customer

    w = api_world
    for i in range(12):
        create_customer(w.shop.world.north, email=f"page{i}@example.org")
    token = headers(w.source_token)
    everyone = []
    after = None
    while True:
        params = {"size": 5} | ({"startingAfter": after} if after else {})
        page = (await api.get("/customers", headers=token, params=params)).json()["items"]
        everyone += [c["customerId"] for c in page]
        if len(page) < 5:
            break
        after = page[-1]["customerId"]
    assert len(everyone) == 13 and everyone == sorted(everyone, key=int)
    desc = (await api.get("/customers", headers=token, params={"sort": "DESC", "size": 100})).json()["items"]
    assert [c["customerId"] for c in desc] == everyone[::-1]
    before = (await api.get("/customers", headers=token, params={"endingBefore": everyone[7]})).json()["items"]
    assert [c["customerId"] for c in before] == everyone[2:7]
    # Out of range sizes fall back to 5, as the contract says.
    for size in (1, 101, 4):
        page = (await api.get("/customers", headers=token, params={"size": size})).json()["items"]
        assert len(page) == 5
    big = (await api.get("/customers", headers=token, params={"size": 100})).json()["items"]
    assert len(big) == 13
    unknown_cursor = await api.get("/customers", headers=token, params={"startingAfter": "99999999"})
    assert_error(unknown_cursor, 400, 99400, "startingAfter")


async def test_time_range_filters(api, api_world):
    w = api_world
    clock.fix(dt.datetime(2024, 3, 1, 12, 0))
    await purchase(api, w)
    clock.fix(dt.datetime(2024, 6, 1, 12, 0))
    await purchase(api, w)
    clock.fix(None)
    token = headers(w.target_token)
    spring = await api.get("/orders/crossClientTransactions", headers=token,
                           params={"startTime": "2024-02-01T00:00:00Z", "endTime": "2024-04-01T00:00:00+00:00"})
    assert [t["createdDate"] for t in spring.json()["items"]] == ["2024-03-01T12:00:00Z"]
    summer = await api.get("/orders/crossClientTransactions", headers=token, params={"startTime": "2024-05-01"})
    assert [t["createdDate"] for t in summer.json()["items"]] == ["2024-06-01T12:00:00Z"]
    wrong = await api.get("/orders/crossClientTransactions", headers=token,
                          params={"startTime": "2024-06-01T00:00:00Z", "endTime": "2024-01-01T00:00:00Z"})
    assert_error(wrong, 400, 99400, "endTime")


async def test_callback_logs_with_filters(api, api_world):
    from storage.db import db

    w = api_world
    await purchase(api, w)
    await purchase(api, w)
    callbacks = [latest_callback()]
    callbacks.insert(0, type(callbacks[0]).get_by_id(callbacks[0].id - 1))
    with db.atomic():
        record_callback_attempt(callbacks[0], success=False, final_try=False, trigger="SCHEDULED",
                                http_status=503, error_kind="http", error_message="HTTP 503",
                                response_excerpt="busy", url="http://127.0.0.1:9/callbacks")
        record_callback_attempt(callbacks[0], success=True, final_try=False, trigger="SCHEDULED",
                                http_status=200, url="http://127.0.0.1:9/callbacks")
        record_callback_attempt(callbacks[1], success=True, final_try=False, trigger="MANUAL",
                                http_status=204, url="http://127.0.0.1:9/callbacks")
    token = headers(w.source_token)
    logs = await api.get("/callbacks/logs", headers=token)
    assert logs.status_code == 200
    assert_schema("CallbackLogEntries", logs.json())
    entries = logs.json()["items"]
    assert [e["success"] for e in entries] == [False, True, True]
    assert entries[0]["errorMsg"] == "HTTP 503" and entries[0]["msg"] == "busy"
    assert entries[0]["httpStatusCode"] == 503 and entries[0]["tryNumber"] == 1
    errors = await api.get("/callbacks/logs", headers=token, params={"errorOnly": "true"})
    assert [e["callbackLogEntryId"] for e in errors.json()["items"]] == [entries[0]["callbackLogEntryId"]]
    one = await api.get("/callbacks/logs", headers=token, params={"plenigoCallbackId": callbacks[1].id})
    assert len(one.json()["items"]) == 1
    by_type = await api.get("/callbacks/logs", headers=token,
                            params={"entityType": "CROSS_CLIENT_ORDER", "callbackType": "CREATION"})
    assert len(by_type.json()["items"]) == 3
    other_type = await api.get("/callbacks/logs", headers=token, params={"entityType": "INVOICE"})
    assert other_type.json() == {"items": []}
    bad = await api.get("/callbacks/logs", headers=token, params={"entityType": "NONSENSE", "errorOnly": "maybe"})
    body = assert_error(bad, 400, 99400)
    assert {e["field"] for e in body["validationErrors"]} == {"entityType", "errorOnly"}
    entry = await api.get(f"/callbacks/logs/{entries[0]['callbackLogEntryId']}", headers=token)
    assert entry.status_code == 200 and entry.json() == entries[0]
    assert_schema("CallbackLogEntry", entry.json())
    missing = await api.get("/callbacks/logs/987654", headers=token)
    assert_error(missing, 404, 99404)


async def test_shopping_carts(api, api_world):
    w = api_world
    token = headers(w.target_token)
    carts = await api.get("/products/shoppingCarts", headers=token)
    assert carts.status_code == 200
    assert_schema("ShoppingCarts", carts.json())
    [cart] = carts.json()["items"]
    assert cart["shoppingCartId"] == w.shop.basket.id
    assert cart["plenigoShoppingCartId"] == w.shop.basket.plenigo_shopping_cart_id
    own, external = cart["items"]
    assert own["offerId"] == w.shop.own.id and own["plenigoOfferId"] == w.shop.own.plenigo_offer_id
    assert external["connectedOfferId"] == w.shop.shared.id
    assert external["connectedOfferCompanyId"] == w.source.company_id
    assert external["connectedLeadingPlenigoOfferId"] == w.shop.own.plenigo_offer_id
    got = await api.get(f"/products/shoppingCarts/{w.shop.basket.id}", headers=token)
    assert got.json() == cart
    assert_schema("ShoppingCart", got.json())
    by_id = await api.get("/products/shoppingCarts", headers=token,
                          params={"plenigoShoppingCartId": cart["plenigoShoppingCartId"]})
    assert by_id.json()["items"] == [cart]
    bad = await api.get("/products/shoppingCarts/abc", headers=token)
    assert_error(bad, 400, 99400, "shoppingCartId")
    missing = await api.get("/products/shoppingCarts/4242", headers=token)
    assert_error(missing, 404, 99404, "shoppingCartId")


async def test_cross_client_transactions(api, api_world):
    w = api_world
    order = await purchase(api, w)
    code = latest_voucher().code
    await api.post("/subscriptions/useCrossClientVoucher", headers=headers(w.source_token),
                   json={"customerId": w.north_customer.customer_number, "voucherCode": code})
    txn_id = order["crossClientTransactions"][0]["crossClientTransactionId"]
    for token in (w.source_token, w.target_token):  # both sides see it
        listed = await api.get("/orders/crossClientTransactions", headers=headers(token))
        assert_schema("CrossClientTransactions", listed.json())
        [txn] = listed.json()["items"]
        assert txn["crossClientTransactionId"] == txn_id
        assert txn["subscriptionId"] == Subscription.select().where(Subscription.voucher.is_null(False)).get().id
        got = await api.get(f"/orders/crossClientTransactions/{txn_id}", headers=headers(token))
        assert got.status_code == 200 and got.json() == txn
        assert_schema("CrossClientTransaction", got.json())
    token = headers(w.source_token)
    filters = {"orderId": order["orderId"], "type": "PAYMENT", "paidStatus": "OPEN",
               "connectedCompanyId": w.target.company_id, "subscriptionId": txn["subscriptionId"]}
    assert len((await api.get("/orders/crossClientTransactions", headers=token, params=filters)).json()["items"]) == 1
    for miss in ({"paidStatus": "PAID"}, {"type": "REFUND"}, {"orderId": 99999}, {"invoiceId": 1},
                 {"connectedCompanyId": "NOSUCHCLIENT00000000"}):
        assert (await api.get("/orders/crossClientTransactions", headers=token, params=miss)).json() == {"items": []}
    assert CrossClientTransaction.select().count() == 1
    missing = await api.get("/orders/crossClientTransactions/abc", headers=token)
    assert_error(missing, 404, 99404, "crossClientTransactionId")


async def test_openapi_documents_every_served_endpoint(api, api_world):
    from starlette.routing import Mount

    doc = (await api.get("/openapi.json")).json()
    assert doc["servers"] == [{"url": "/api/v3.0", "description": "this crossclient server"}]
    documented = {(path, method.upper()) for path, item in doc["paths"].items()
                  for method in item if method != "parameters"}
    mount = next(r for r in api.app.routes if isinstance(r, Mount) and r.path == "/api/v3.0")
    served = {(route.path, method) for route in mount.routes for method in route.methods or ()
              if method != "HEAD" and route.path != "/openapi.json"}
    assert served == documented
    purchase_op = doc["paths"]["/products/shoppingCarts/{shoppingCartId}/purchase"]["post"]
    assert purchase_op["operationId"] == "purchaseShoppingCart"
    assert purchase_op["x-crossclient-extension"] is True
