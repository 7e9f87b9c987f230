"""Shopping carts (baskets) of the token's client, and our purchase extension.

The list holds the active carts (those that can be sold); a cart by id is shown archived or not,
so older orders can still be explained. `plenigoShoppingCartId` filters by the 20-character id.
`POST /products/shoppingCarts/{shoppingCartId}/purchase` (operationId purchaseShoppingCart) is a
crossclient extension: an existing customer of the token's contract company buys the cart; it
answers 201 with the order, the subscriptions created in the token's client and the cross-client
transactions written. Voucher codes are never in the answer: they reach the source client only by
signed callback.
"""
from __future__ import annotations

import re

from api import shapes
from api.operation import Call, Reply, operation
from storage.baskets import basket_items, get_basket, list_baskets
from storage.orders import place_order

PLENIGO_CART_ID = re.compile(r"^SC_([0-9]{17})$")


@operation("searchProductShoppingCarts", "GET", "/products/shoppingCarts")
def search(call: Call) -> Reply:
    q = call.query
    paging = q.paging(sortable=False)
    since, until = q.time_range()
    plenigo_id = q.text("plenigoShoppingCartId", 20)
    basket_id = None
    if plenigo_id:
        match = PLENIGO_CART_ID.match(plenigo_id)
        if not match:
            q.check.fail("plenigoShoppingCartId", "must be a plenigo shopping cart id such as "
                         "SC_00000000000000001", plenigo_id)
        else:
            basket_id = int(match.group(1))
    q.done()
    page = list_baskets(call.client, basket_id=basket_id, since=since, until=until, **paging.kwargs())
    names = shapes.ClientNames()
    language = call.settings.cart_language
    return Reply({"items": [shapes.shopping_cart(b, basket_items(b), names, language) for b in page]})


@operation("getProductShoppingCart", "GET", "/products/shoppingCarts/{shoppingCartId}")
def get(call: Call) -> Reply:
    basket = get_basket(call.path["shoppingCartId"], call.client)
    return Reply(shapes.shopping_cart(basket, basket_items(basket), shapes.ClientNames(),
                                      call.settings.cart_language))


@operation("purchaseShoppingCart", "POST", "/products/shoppingCarts/{shoppingCartId}/purchase",
           body="ShoppingCartPurchase")
def purchase(call: Call) -> Reply:
    result = place_order(call.client, call.path["shoppingCartId"], call.body["customerId"],
                         selected_positions=call.body.get("selectedPositions"), actor=call.actor)
    order = result.order
    names = shapes.ClientNames()
    return Reply({
        "orderId": order.id,
        "orderDate": shapes.iso(order.created_at),
        "shoppingCartId": order.basket_id,
        "plenigoShoppingCartId": order.basket.plenigo_shopping_cart_id,
        "customerId": order.customer.customer_number,
        "total": shapes.money(order.total),
        "currency": order.currency,
        "subscriptions": [shapes.subscription(s) for s in result.subscriptions
                          if s.client_id == call.client.id],
        "crossClientTransactions": [shapes.transaction(t, names) for t in result.transactions],
    }, 201)
