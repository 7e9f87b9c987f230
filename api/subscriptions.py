"""Voucher redemption, the heart of the cross-client flow, and the client's cross-client subscriptions.

`useCrossClientVoucher` takes `{customerId, voucherCode}`: the customer is one of the token's
contract company, the voucher one the token's client receives as source. It answers
`{"success": true}` once per voucher; a used code is 35002, an unknown code (or another client's)
35001, an unknown customer 99404 (status 400: the contract lists no 404 here).
`GET /subscriptions/crossClient` lists the client's subscriptions of connected offers. Filters on
data crossclient does not keep (`subscriptionItemId`, `externalSystemId`) match nothing.
"""
from __future__ import annotations

from api import shapes
from api.operation import Call, Reply, operation
from storage.orders import list_subscriptions, redeem_voucher


@operation("useCrossClientVoucher", "POST", "/subscriptions/useCrossClientVoucher",
           body="CrossClientVoucherRequest", required=("customerId", "voucherCode"))
def use_cross_client_voucher(call: Call) -> Reply:
    redeem_voucher(call.client, call.body["customerId"], call.body["voucherCode"], actor=call.actor)
    return Reply({"success": True})


@operation("searchCrossClientSubscriptions", "GET", "/subscriptions/crossClient")
def search_cross_client(call: Call) -> Reply:
    q = call.query
    paging = q.paging()
    since, until = q.time_range()
    item_id, external = q.integer("subscriptionItemId"), q.text("externalSystemId")
    q.done()
    if item_id is not None or external:
        return Reply({"items": []})
    page = list_subscriptions(call.client, cross_client_only=True, since=since, until=until,
                              **paging.kwargs())
    return Reply({"items": [shapes.subscription(s) for s in page]})
