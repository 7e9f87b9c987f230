"""Customers of the token's contract company, and their subscriptions in the token's client.

- `GET /customers`: `email` matches one address exactly (any case). plenigo's `username` and
  `externalSystemId` searches match nothing, because crossclient keeps neither. The contract's
  priority applies: email, then username, then externalSystemId.
- `POST /customers`: keeps email, firstName, lastName, language and an optional customerId; the
  contract's other fields (username, salutation, addresses, ...) are accepted and not stored.
  Answers 201 with the new customer, or 208 with the existing one when a customer with the same
  customerId and e-mail already exists (a safe retry).
- Paging cursors of customer lists are customerIds.
"""
from __future__ import annotations

from api import shapes
from api.operation import Call, Reply, operation
from storage.customers import create_customer, get_customer, search_customers
from storage.errors import DomainError
from storage.orders import list_subscriptions
from storage.validation import CUSTOMER_ID


def _customer_cursor(call: Call):
    company = call.client.contract_company_id

    def cursor(name: str, text: str):
        if not CUSTOMER_ID.match(text):
            call.query.check.fail(name, "must be a customerId of the list", text[:40])
            return None
        try:
            return get_customer(company, text, name).id
        except DomainError:
            call.query.check.fail(name, "no customer with this customerId", text)
            return None

    return cursor


@operation("searchCustomers", "GET", "/customers")
def search(call: Call) -> Reply:
    q = call.query
    paging = q.paging(cursor=_customer_cursor(call))
    since, until = q.time_range()
    email, username, external = q.text("email", 254), q.text("username"), q.text("externalSystemId")
    q.done()
    if not email and (username or external):
        return Reply({"items": []})
    page = search_customers(call.client.contract_company_id, email=email or None, since=since,
                            until=until, **paging.kwargs())
    return Reply({"items": [shapes.customer(c) for c in page]})


@operation("createCustomer", "POST", "/customers", body="CustomerCreation")
def create(call: Call) -> Reply:
    data = call.body
    company = call.client.contract_company_id
    number = data.get("customerId")
    if number:
        try:
            existing = get_customer(company, number)
        except DomainError:
            existing = None
        if existing is not None and existing.email_lc == str(data.get("email", "")).strip().lower():
            return Reply(shapes.customer(existing), 208)
    customer = create_customer(company, email=data.get("email"), first_name=data.get("firstName", ""),
                               last_name=data.get("lastName", ""), language=data.get("language"),
                               number=number, actor=call.actor, client=call.client)
    return Reply(shapes.customer(customer), 201)


@operation("getCustomer", "GET", "/customers/{customerId}")
def get(call: Call) -> Reply:
    return Reply(shapes.customer(get_customer(call.client.contract_company_id, call.path["customerId"])))


def _subscriptions(call: Call, cross_client_only: bool) -> Reply:
    q = call.query
    paging = q.paging()
    since, until = q.time_range()
    q.done()
    customer = get_customer(call.client.contract_company_id, call.path["customerId"])
    page = list_subscriptions(call.client, customer=customer, cross_client_only=cross_client_only,
                              since=since, until=until, **paging.kwargs())
    return Reply({"items": [shapes.subscription(s) for s in page]})


@operation("searchCustomerSubscriptions", "GET", "/customers/{customerId}/subscriptions")
def subscriptions(call: Call) -> Reply:
    return _subscriptions(call, False)


@operation("searchCustomerCrossClientSubscriptions", "GET", "/customers/{customerId}/subscriptions/crossClient")
def cross_client_subscriptions(call: Call) -> Reply:
    return _subscriptions(call, True)
