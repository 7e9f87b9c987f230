"""Storage rows as plenigo's JSON objects (the contract's component schemas).

Mapping decisions where our model is smaller than plenigo's:
- ids: plenigo's integer ids are our row ids; `customerId` is the customer number (a numeric string);
  `plenigoOfferId` / `plenigoShoppingCartId` are the 20-character ids storage gives offers and carts.
- Subscription: the accounting period is the term (a subscription is billed once per term); there is
  no cancellation period (0, NONE); `paymentMethod` is BILLING (settled by invoice, between the two
  clients for cross-client subscriptions), or ZERO for a free offer; invoice and delivery customer
  are the subscriber; `cancellationType` TIME_BASED; no endDate (subscriptions renew).
- CallbackLogEntry: `msg` is the receiver's response excerpt, `errorMsg` the failure; both cut to
  the contract's 4000 characters.
- ShoppingCart: one translation, in `default_language` (config [api] cart_language, default de),
  carrying the basket's title. An external item names the shared offer as
  connectedOfferId / connectedPlenigoOfferId / connectedOfferCompanyId and its leading own offer
  as connectedLeadingPlenigoOfferId.
Times are RFC 3339 in UTC with a trailing Z. Money is a JSON number with two decimals.
"""
from __future__ import annotations

import datetime as dt

from storage.models import (
    Basket,
    BasketItem,
    CallbackAttempt,
    Client,
    CrossClientTransaction,
    Customer,
    Subscription,
)


def iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def money(value) -> float:
    return float(round(value, 2))


def customer(c: Customer) -> dict:
    return {
        "customerId": c.customer_number,
        "email": c.email,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "language": c.language,
        "status": c.status,
        "registrationDate": iso(c.registration_date),
        "createdDate": iso(c.registration_date),
        "changedDate": iso(c.changed_at),
    }


def subscription(s: Subscription) -> dict:
    offer = s.offer
    number = s.customer.customer_number
    out = {
        "subscriptionId": s.id,
        "plenigoOfferId": offer.plenigo_offer_id,
        "invoiceCustomerId": number,
        "deliveryCustomerId": number,
        "startDate": iso(s.start_date),
        "term": s.term,
        "termTimeSpan": s.term_unit,
        "accountingPeriod": s.term,
        "accountingPeriodTimeSpan": s.term_unit,
        "cancellationPeriod": 0,
        "cancellationPeriodTimeSpan": "NONE",
        "cancellationType": "TIME_BASED",
        "status": s.status if s.status in ("ACTIVE", "INACTIVE", "IGNORED") else "INACTIVE",
        "currency": s.currency,
        "paymentMethod": "ZERO" if s.price == 0 else "BILLING",
        "subscriptionType": s.subscription_type,
        "connectedOffer": bool(s.connected_offer),
        "createdDate": iso(s.created_at),
        "changedDate": iso(s.created_at),
    }
    if s.connected_offer:
        info = {"contractCompanyId": s.connected_contract_company_id or "",
                "companyId": s.connected_company_id or "",
                "plenigoOfferId": s.connected_offer_id or offer.plenigo_offer_id}
        if s.connected_customer_id:
            info["customerId"] = s.connected_customer_id
        out["connectedOfferInfo"] = info
    return out


def callback_log_entry(a: CallbackAttempt) -> dict:
    out = {
        "callbackLogEntryId": a.id,
        "entityType": a.entity_type,
        "callbackType": a.callback_type,
        "entityId": a.entity_id[:20],
        "success": bool(a.success),
        "tryNumber": a.try_number,
        "finalTry": bool(a.final_try),
        "createdDate": iso(a.created_at),
        "changedDate": iso(a.created_at),
    }
    if a.http_status is not None:
        out["httpStatusCode"] = a.http_status
    if a.error_message:
        out["errorMsg"] = a.error_message[:4000]
    if a.response_excerpt:
        out["msg"] = a.response_excerpt[:4000]
    return out


class ClientNames:
    """company ids by row id, read once per request instead of once per row."""

    def __init__(self):
        self._ids: dict[int, str] = {}

    def __call__(self, client_id: int) -> str:
        if client_id not in self._ids:
            self._ids[client_id] = Client.get_by_id(client_id).company_id
        return self._ids[client_id]


def transaction(t: CrossClientTransaction, names: ClientNames) -> dict:
    out = {
        "crossClientTransactionId": t.id,
        "sourceCompanyId": names(t.source_id),
        "connectedCompanyId": names(t.connected_id),
        "orderId": t.order_id,
        "type": t.type,
        "paidStatus": t.paid_status,
        "paymentMethod": t.payment_method,
        "amount": money(t.amount),
        "currency": t.currency,
        "createdDate": iso(t.created_at),
        "changedDate": iso(t.changed_at),
    }
    if t.subscription_id is not None:
        out["subscriptionId"] = t.subscription_id
    return out


def shopping_cart(b: Basket, items: list[BasketItem], names: ClientNames, language: str = "de") -> dict:
    out_items = []
    leading = None
    for item in items:
        offer = item.offer
        entry = {
            "shoppingCartItemId": item.id,
            "position": item.position,
            "option": bool(item.option),
            "defaultSelected": bool(item.default_selected),
            "createdDate": iso(item.created_at),
            "changedDate": iso(item.created_at),
        }
        if offer.client_id == b.client_id:
            leading = leading or offer
            entry["offerId"] = offer.id
            entry["plenigoOfferId"] = offer.plenigo_offer_id
        else:
            entry["connectedOfferId"] = offer.id
            entry["connectedPlenigoOfferId"] = offer.plenigo_offer_id
            entry["connectedOfferCompanyId"] = names(offer.client_id)
            if leading is not None:
                entry["connectedLeadingPlenigoOfferId"] = leading.plenigo_offer_id
        out_items.append(entry)
    return {
        "shoppingCartId": b.id,
        "plenigoShoppingCartId": b.plenigo_shopping_cart_id,
        "internalTitle": b.internal_title[:100],
        "translations": [{"language": language, "title": b.title[:100], "preferred": True}],
        "items": out_items,
        "createdDate": iso(b.created_at),
        "changedDate": iso(b.changed_at),
    }
