"""Purchases, cross-client vouchers and their redemption, subscriptions and settlement.

`place_order` writes the whole purchase in one transaction: the order, an ACTIVE subscription in
the target for each own offer, and for each external offer either the source subscription directly
(one contract company: customers are shared) or a single-use voucher plus the queued callback
(two contract companies); and a cross-client transaction for each external offer sold.
`redeem_voucher` turns a voucher into the source's subscription exactly once, even under
concurrent calls: the voucher row is claimed by a conditional UPDATE that must change one row.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from storage.audit import SYSTEM, Actor, record
from storage.baskets import basket_items, get_basket
from storage.clock import now
from storage.connections import require_usable
from storage.customers import get_customer
from storage.db import db
from storage.errors import (
    BASKET_EXTERNAL_WITHOUT_LEADING,
    VOUCHER_UNKNOWN,
    VOUCHER_USED_OR_INVALID,
    DomainError,
    FieldError,
    NotFound,
    invalid,
)
from storage.models import (
    Client,
    CrossClientTransaction,
    Customer,
    Offer,
    Order,
    Subscription,
    Voucher,
)
from storage.offers import is_shared_with
from storage.outbox import queue_callback
from storage.paging import Page, keyset
from storage.tenancy import same_contract_company
from storage.validation import customer_number

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_FIX = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})


def new_voucher_code() -> str:
    """80 random bits as 16 Crockford base32 characters in groups of four."""
    n = secrets.randbits(80)
    chars = "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in range(16))
    return "-".join(chars[i:i + 4] for i in range(0, 16, 4))


def normalize_voucher_code(code: str) -> str:
    """Accept lower case, spaces, missing dashes and the look-alikes Crockford allows."""
    raw = re.sub(r"[\s-]", "", (code or "")).upper().translate(_CROCKFORD_FIX)
    if len(raw) != 16 or any(c not in CROCKFORD for c in raw):
        return raw
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


@dataclass
class OrderResult:
    order: Order
    subscriptions: list[Subscription] = field(default_factory=list)
    vouchers: list[Voucher] = field(default_factory=list)
    callbacks: list = field(default_factory=list)
    transactions: list[CrossClientTransaction] = field(default_factory=list)


def _subscription(client: Client, customer: Customer, offer: Offer, order: Order | None, **extra):
    return Subscription.create(client=client, customer=customer, offer=offer, order=order,
                               term=offer.term, term_unit=offer.term_unit, price=offer.price,
                               currency=offer.currency, start_date=now(), **extra)


def _callback_entity(voucher: Voucher, order: Order, offer: Offer, leading: Offer | None,
                     source: Client, target: Client) -> dict:
    return {
        "voucherCode": voucher.code,
        "orderId": order.id,
        "orderDate": order.created_at.isoformat(timespec="seconds") + "Z",
        "sourceCompanyId": source.company_id,
        "targetCompanyId": target.company_id,
        "targetContractCompanyId": str(target.contract_company_id),
        "customer": {
            "customerId": voucher.target_customer_number,
            "email": voucher.customer_email,
            "firstName": voucher.customer_first_name,
            "lastName": voucher.customer_last_name,
            "language": voucher.customer_language,
        },
        "offer": {
            "offerId": offer.id,
            "plenigoOfferId": offer.plenigo_offer_id,
            "title": offer.public_title,
            "internalTitle": offer.internal_title,
            "price": float(offer.price),
            "currency": offer.currency,
            "term": offer.term,
            "termTimeSpan": offer.term_unit,
        },
        "leadingOffer": None if leading is None else {
            "plenigoOfferId": leading.plenigo_offer_id, "title": leading.public_title},
    }


def place_order(client: Client, basket_id, customer_id: str, *,
                selected_positions: list[int] | None = None, actor: Actor = SYSTEM) -> OrderResult:
    """A customer buys a basket of `client` (the target side). All rows commit, or none.

    `selected_positions` chooses among the optional items; None takes their defaults.
    """
    number = customer_number(customer_id)
    with db.atomic():
        basket = get_basket(basket_id, client)
        if basket.status != "ACTIVE":
            raise invalid("shoppingCartId", "basket is archived", basket.id)
        customer = get_customer(client.contract_company_id, number)
        if customer.status != "ACTIVATED":
            raise invalid("customerId", f"customer is {customer.status} and cannot buy", number)
        items = basket_items(basket)
        optional = {i.position for i in items if i.option}
        if selected_positions is None:
            chosen_optional = {i.position for i in items if i.option and i.default_selected}
        else:
            chosen_optional = set()
            for pos in selected_positions:
                try:
                    pos = int(pos)
                except (TypeError, ValueError):
                    raise invalid("selectedPositions", "must be whole numbers", pos) from None
                if pos not in optional:
                    raise invalid("selectedPositions", "is not an optional item of this basket", pos)
                chosen_optional.add(pos)
        chosen = [i for i in items if not i.option or i.position in chosen_optional]
        total = sum((i.offer.price for i in chosen), Decimal("0"))
        order = Order.create(client=client, customer=customer, basket=basket, total=total,
                             currency=chosen[0].offer.currency)
        result = OrderResult(order)
        leading = None
        for item in chosen:
            offer = item.offer
            field_name = f"items[{item.position}].offerId"
            if offer.status != "ACTIVE":
                raise invalid(field_name, "offer is archived and cannot be sold", offer.plenigo_offer_id)
            if offer.client_id == client.id:
                leading = leading or offer
                result.subscriptions.append(_subscription(client, customer, offer, order))
                continue
            source = offer.client
            if not is_shared_with(offer, client):
                raise NotFound("offer", offer.plenigo_offer_id, field_name)
            connection = require_usable(source, client, field_name)
            if leading is None:
                raise DomainError(BASKET_EXTERNAL_WITHOUT_LEADING,
                                  f"External offer {offer.plenigo_offer_id} needs a leading own offer "
                                  "bought in the same order",
                                  [FieldError(field_name, "no leading own offer bought",
                                              offer.plenigo_offer_id)])
            txn = dict(source=source, connected=client, order=order, amount=offer.price,
                       currency=offer.currency, type="PAYMENT", paid_status="OPEN")
            if same_contract_company(source, client):
                sub = _subscription(source, customer, offer, order, connected_offer=True,
                                    connected_contract_company_id=str(client.contract_company_id),
                                    connected_company_id=client.company_id,
                                    connected_customer_id=customer.customer_number,
                                    connected_offer_id=leading.plenigo_offer_id)
                result.subscriptions.append(sub)
                result.transactions.append(CrossClientTransaction.create(subscription=sub, **txn))
                continue
            voucher = Voucher.create(
                code=new_voucher_code(), source=source, target=client, connection=connection,
                offer=offer, leading_offer=leading, order=order,
                target_customer_number=customer.customer_number, customer_email=customer.email,
                customer_first_name=customer.first_name, customer_last_name=customer.last_name,
                customer_language=customer.language)
            result.vouchers.append(voucher)
            result.transactions.append(CrossClientTransaction.create(voucher=voucher, **txn))
            result.callbacks.append(queue_callback(
                connection, "CROSS_CLIENT_ORDER", "CREATION", str(order.id),
                _callback_entity(voucher, order, offer, leading, source, client)))
        record(actor, "order", order.id, "create",
               f"basket {basket.id} for customer {customer.customer_number}: "
               f"{len(result.subscriptions)} subscription(s), {len(result.vouchers)} voucher(s), "
               f"total {total} {order.currency}", client=client)
    return result


def get_voucher(code: str, client: Client) -> Voucher:
    """A voucher of source client `client`; another client's code is unknown to it."""
    canonical = normalize_voucher_code(code)
    voucher = Voucher.get_or_none(Voucher.code == canonical)
    if voucher is None or voucher.source_id != client.id:
        raise DomainError(VOUCHER_UNKNOWN, "The voucher code is unknown",
                          [FieldError("voucherCode", "unknown voucher code", code or "")])
    return voucher


def redeem_voucher(client: Client, customer_id: str, voucher_code: str, *,
                   actor: Actor = SYSTEM) -> Subscription:
    """The source client links its customer to a new cross-company subscription, exactly once."""
    number = customer_number(customer_id)
    if not (voucher_code or "").strip():
        raise invalid("voucherCode", "is required", voucher_code)
    with db.atomic():
        voucher = get_voucher(voucher_code, client)
        if voucher.status != "OPEN":
            raise DomainError(VOUCHER_USED_OR_INVALID, "The voucher code was already used",
                              [FieldError("voucherCode", "already used", voucher_code)])
        customer = get_customer(client.contract_company_id, number)
        claimed = (Voucher.update(status="REDEEMED", redeemed_at=now(), redeemed_customer=customer)
                   .where((Voucher.id == voucher.id) & (Voucher.status == "OPEN")).execute())
        if claimed != 1:
            raise DomainError(VOUCHER_USED_OR_INVALID, "The voucher code was already used",
                              [FieldError("voucherCode", "already used", voucher_code)])
        target = voucher.target
        leading = voucher.leading_offer
        sub = _subscription(client, customer, voucher.offer, voucher.order, voucher=voucher,
                            subscription_type="CROSS_COMPANY_TIME_BASED", connected_offer=True,
                            connected_contract_company_id=str(target.contract_company_id),
                            connected_company_id=target.company_id,
                            connected_customer_id=voucher.target_customer_number,
                            connected_offer_id=(leading or voucher.offer).plenigo_offer_id)
        (CrossClientTransaction.update(subscription=sub, changed_at=now())
         .where(CrossClientTransaction.voucher == voucher).execute())
        record(actor, "voucher", voucher.code, "redeem",
               f"customer {customer.customer_number}; subscription {sub.id}", client=client)
    return sub


def list_subscriptions(client: Client, *, customer: Customer | None = None,
                       cross_client_only: bool = False, limit: int = 50, after: int | None = None,
                       before: int | None = None, descending: bool = True, since=None,
                       until=None) -> Page:
    """Subscriptions of `client` (with offer and customer); `since`/`until` bound the start."""
    query = (Subscription.select(Subscription, Offer, Customer).join(Offer).switch(Subscription)
             .join(Customer).where(Subscription.client == client))
    if customer is not None:
        query = query.where(Subscription.customer == customer)
    if cross_client_only:
        query = query.where(Subscription.connected_offer)
    if since is not None:
        query = query.where(Subscription.created_at >= since)
    if until is not None:
        query = query.where(Subscription.created_at <= until)
    return keyset(query, Subscription.id, limit=limit, after=after, before=before,
                  descending=descending)


def list_orders(client: Client, *, customer: Customer | None = None, limit: int = 50,
                after: int | None = None, before: int | None = None) -> Page:
    query = Order.select().where(Order.client == client)
    if customer is not None:
        query = query.where(Order.customer == customer)
    return keyset(query, Order.id, limit=limit, after=after, before=before, descending=True)


def list_vouchers(client: Client, *, customer: Customer | None = None, status: str | None = None,
                  limit: int = 50, after: int | None = None, before: int | None = None) -> Page:
    """Vouchers `client` issued (as target) or receives (as source), newest first."""
    query = Voucher.select().where((Voucher.source == client) | (Voucher.target == client))
    if customer is not None:
        query = query.where((Voucher.redeemed_customer == customer)
                            | Voucher.order.in_(Order.select(Order.id).where(Order.customer == customer)))
    if status:
        query = query.where(Voucher.status == status)
    return keyset(query, Voucher.id, limit=limit, after=after, before=before, descending=True)


def list_transactions(client: Client, *, paid_status: str | None = None, limit: int = 50,
                      after: int | None = None, before: int | None = None, type: str | None = None,
                      order_id: int | None = None, subscription_id: int | None = None,
                      other: Client | None = None, since=None, until=None,
                      descending: bool = True) -> Page:
    """The payout list: cross-client transactions where `client` is either side, newest first.

    `other` keeps those with that client on the other side; `since`/`until` bound the last change.
    """
    T = CrossClientTransaction
    query = T.select().where((T.source == client) | (T.connected == client))
    if paid_status:
        query = query.where(T.paid_status == paid_status)
    if type:
        query = query.where(T.type == type)
    if order_id is not None:
        query = query.where(T.order == order_id)
    if subscription_id is not None:
        query = query.where(T.subscription == subscription_id)
    if other is not None:
        query = query.where((T.source == other) | (T.connected == other))
    if since is not None:
        query = query.where(T.changed_at >= since)
    if until is not None:
        query = query.where(T.changed_at <= until)
    return keyset(query, T.id, limit=limit, after=after, before=before, descending=descending)


def get_transaction(transaction_id, client: Client) -> CrossClientTransaction:
    try:
        tid = int(transaction_id)
    except (TypeError, ValueError):
        raise invalid("crossClientTransactionId", "must be a number", transaction_id) from None
    txn = CrossClientTransaction.get_or_none(CrossClientTransaction.id == tid)
    if txn is None or client.id not in (txn.source_id, txn.connected_id):
        raise NotFound("cross-client transaction", transaction_id, "crossClientTransactionId")
    return txn


def mark_transaction_paid(transaction_id, client: Client, *, actor: Actor = SYSTEM) -> CrossClientTransaction:
    """OPEN -> PAID, by the receiving (source) client; PAID is final."""
    with db.atomic():
        txn = get_transaction(transaction_id, client)
        if txn.source_id != client.id:
            raise DomainError(99403, "Only the receiving client marks a transaction paid",
                              [FieldError("crossClientTransactionId", "not the receiving client",
                                          str(transaction_id))])
        changed = (CrossClientTransaction.update(paid_status="PAID", changed_at=now())
                   .where((CrossClientTransaction.id == txn.id)
                          & (CrossClientTransaction.paid_status == "OPEN")).execute())
        if changed != 1:
            raise invalid("paidStatus", "transaction is already PAID; PAID is final", "PAID")
        record(actor, "cross_client_transaction", txn.id, "paid", "paidStatus: OPEN -> PAID",
               client=client)
    return CrossClientTransaction.get_by_id(txn.id)
