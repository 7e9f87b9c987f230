"""Peewee models: every entity of DOMAIN.md, bound to the proxy in `storage.db`.

Times are naive UTC. Money is Decimal. Enumerations are short upper-case strings so that the API
can hand them out as plenigo's enum values without translation.
"""
from __future__ import annotations

import peewee as pw

from storage.clock import now
from storage.db import db


class BaseModel(pw.Model):
    class Meta:
        database = db
        legacy_table_names = False


class ContractCompany(BaseModel):
    """Vertragsunternehmen: owns the customer base and the contract modules."""

    name = pw.CharField(max_length=200)
    cross_client_module = pw.BooleanField(default=False)
    # Next customer number handed out; bumped in the creating transaction (row-locked).
    next_customer_number = pw.BigIntegerField(default=100001)
    created_at = pw.DateTimeField(default=now)


class Client(BaseModel):
    """Mandant; plenigo's API calls it company. `company_id` is the 20-character public id."""

    company_id = pw.CharField(max_length=20, unique=True)
    contract_company = pw.ForeignKeyField(ContractCompany, backref="clients", on_delete="RESTRICT")
    name = pw.CharField(max_length=200)
    contact_email = pw.CharField(max_length=254)
    created_at = pw.DateTimeField(default=now)


class Connection(BaseModel):
    """A cross-client connection from a source client to a target client."""

    source = pw.ForeignKeyField(Client, backref="outgoing", on_delete="RESTRICT")
    target = pw.ForeignKeyField(Client, backref="incoming", on_delete="RESTRICT")
    status = pw.CharField(max_length=16)  # INVITED ACTIVE DECLINED REVOKED EXPIRED BLOCKED
    access_to_offers = pw.BooleanField(default=True)
    callback_url = pw.CharField(max_length=2000, null=True)
    auth_type = pw.CharField(max_length=8, default="NONE")  # NONE BASIC HEADERS
    basic_user = pw.CharField(max_length=200, null=True)
    basic_password = pw.CharField(max_length=200, null=True)
    headers_json = pw.TextField(default="[]")  # [[key, value], ...]
    signing_secret = pw.CharField(max_length=100)
    invitation_token_hash = pw.CharField(max_length=64, null=True, index=True)
    invitation_expires_at = pw.DateTimeField(null=True)
    blocked_by = pw.CharField(max_length=8, null=True)  # SOURCE or TARGET
    created_at = pw.DateTimeField(default=now)
    changed_at = pw.DateTimeField(default=now)
    answered_at = pw.DateTimeField(null=True)


# At most one live connection per ordered pair, enforced by the database too.
Connection.add_index(
    Connection.index(Connection.source, Connection.target, unique=True,
                     where=Connection.status.in_(["INVITED", "ACTIVE", "BLOCKED"]),
                     name="connection_live_pair"))


class Offer(BaseModel):
    """An offer of a client; a cross-client one is shared with connected targets."""

    client = pw.ForeignKeyField(Client, backref="offers", on_delete="RESTRICT")
    internal_title = pw.CharField(max_length=200)
    public_title = pw.CharField(max_length=200)
    price = pw.DecimalField(max_digits=12, decimal_places=2, auto_round=True)
    currency = pw.CharField(max_length=3)
    term = pw.IntegerField()
    term_unit = pw.CharField(max_length=5)  # DAY WEEK MONTH YEAR
    status = pw.CharField(max_length=8, default="ACTIVE")  # ACTIVE ARCHIVED
    cross_client = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=now)
    changed_at = pw.DateTimeField(default=now)

    @property
    def plenigo_offer_id(self) -> str:
        """plenigo's 20-character offer id (the contract fixes the length): O_ and 18 digits."""
        return f"O_{self.id:018d}"

    class Meta:
        indexes = ((("client", "status", "id"), False),)


class OfferShare(BaseModel):
    """A cross-client offer shared with one target client."""

    offer = pw.ForeignKeyField(Offer, backref="shares", on_delete="CASCADE")
    target = pw.ForeignKeyField(Client, backref="external_shares", on_delete="RESTRICT")
    created_at = pw.DateTimeField(default=now)

    class Meta:
        indexes = ((("offer", "target"), True), (("target", "offer"), False))


class Basket(BaseModel):
    """Warenkorb / shopping cart of a (target) client."""

    client = pw.ForeignKeyField(Client, backref="baskets", on_delete="RESTRICT")
    internal_title = pw.CharField(max_length=200)
    title = pw.CharField(max_length=200)
    status = pw.CharField(max_length=8, default="ACTIVE")
    created_at = pw.DateTimeField(default=now)
    changed_at = pw.DateTimeField(default=now)

    @property
    def plenigo_shopping_cart_id(self) -> str:
        """plenigo's 20-character shopping cart id: SC_ and 17 digits."""
        return f"SC_{self.id:017d}"

    class Meta:
        indexes = ((("client", "status", "id"), False),)


class BasketItem(BaseModel):
    basket = pw.ForeignKeyField(Basket, backref="items", on_delete="CASCADE")
    position = pw.IntegerField()
    offer = pw.ForeignKeyField(Offer, backref="basket_items", on_delete="RESTRICT")
    option = pw.BooleanField(default=False)
    default_selected = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=now)

    @property
    def external(self) -> bool:
        return self.offer.client_id != self.basket.client_id

    class Meta:
        indexes = ((("basket", "position"), True),)


class Customer(BaseModel):
    """A customer of a contract company, shared by all its clients."""

    contract_company = pw.ForeignKeyField(ContractCompany, backref="customers", on_delete="RESTRICT")
    customer_number = pw.CharField(max_length=18)
    email = pw.CharField(max_length=254)
    email_lc = pw.CharField(max_length=254)
    first_name = pw.CharField(max_length=100, default="")
    last_name = pw.CharField(max_length=100, default="")
    last_name_lc = pw.CharField(max_length=100, default="")
    first_name_lc = pw.CharField(max_length=100, default="")
    language = pw.CharField(max_length=2, default="de")
    status = pw.CharField(max_length=12, default="ACTIVATED")
    registration_date = pw.DateTimeField(default=now)
    changed_at = pw.DateTimeField(default=now)

    class Meta:
        indexes = (
            (("contract_company", "customer_number"), True),
            (("contract_company", "email_lc"), True),
            (("contract_company", "last_name_lc", "id"), False),
            (("contract_company", "first_name_lc", "id"), False),
        )


class Order(BaseModel):
    client = pw.ForeignKeyField(Client, backref="orders", on_delete="RESTRICT")
    customer = pw.ForeignKeyField(Customer, backref="orders", on_delete="RESTRICT")
    basket = pw.ForeignKeyField(Basket, backref="orders", null=True, on_delete="RESTRICT")
    total = pw.DecimalField(max_digits=12, decimal_places=2)
    currency = pw.CharField(max_length=3)
    created_at = pw.DateTimeField(default=now)

    class Meta:
        indexes = ((("customer", "id"), False), (("client", "id"), False))


class Voucher(BaseModel):
    """A single-use cross-client voucher for the source client, made at purchase time."""

    code = pw.CharField(max_length=32, unique=True)
    source = pw.ForeignKeyField(Client, backref="vouchers", on_delete="RESTRICT")
    target = pw.ForeignKeyField(Client, backref="issued_vouchers", on_delete="RESTRICT")
    connection = pw.ForeignKeyField(Connection, backref="vouchers", on_delete="RESTRICT")
    offer = pw.ForeignKeyField(Offer, backref="vouchers", on_delete="RESTRICT")
    # The target's own offer that led the external one in the basket.
    leading_offer = pw.ForeignKeyField(Offer, null=True, backref="led_vouchers", on_delete="RESTRICT")
    order = pw.ForeignKeyField(Order, backref="vouchers", on_delete="RESTRICT")
    # The target-side customer as they were at purchase time.
    target_customer_number = pw.CharField(max_length=18)
    customer_email = pw.CharField(max_length=254)
    customer_first_name = pw.CharField(max_length=100, default="")
    customer_last_name = pw.CharField(max_length=100, default="")
    customer_language = pw.CharField(max_length=2, default="de")
    status = pw.CharField(max_length=8, default="OPEN")  # OPEN REDEEMED
    redeemed_at = pw.DateTimeField(null=True)
    redeemed_customer = pw.ForeignKeyField(Customer, null=True, backref="redeemed_vouchers",
                                           on_delete="RESTRICT")
    created_at = pw.DateTimeField(default=now)

    class Meta:
        indexes = ((("source", "status", "id"), False), (("order",), False))


class Subscription(BaseModel):
    client = pw.ForeignKeyField(Client, backref="subscriptions", on_delete="RESTRICT")
    customer = pw.ForeignKeyField(Customer, backref="subscriptions", on_delete="RESTRICT")
    offer = pw.ForeignKeyField(Offer, backref="subscriptions", on_delete="RESTRICT")
    order = pw.ForeignKeyField(Order, backref="subscriptions", null=True, on_delete="RESTRICT")
    voucher = pw.ForeignKeyField(Voucher, backref="subscriptions", null=True, on_delete="RESTRICT")
    subscription_type = pw.CharField(max_length=32, default="TIME_BASED")
    status = pw.CharField(max_length=8, default="ACTIVE")
    start_date = pw.DateTimeField(default=now)
    term = pw.IntegerField()
    term_unit = pw.CharField(max_length=5)
    price = pw.DecimalField(max_digits=12, decimal_places=2)
    currency = pw.CharField(max_length=3)
    connected_offer = pw.BooleanField(default=False)
    connected_contract_company_id = pw.CharField(max_length=40, null=True)
    connected_company_id = pw.CharField(max_length=20, null=True)
    connected_customer_id = pw.CharField(max_length=18, null=True)
    connected_offer_id = pw.CharField(max_length=20, null=True)
    created_at = pw.DateTimeField(default=now)

    class Meta:
        indexes = ((("customer", "id"), False), (("client", "id"), False),
                   (("client", "connected_offer", "id"), False))


class CrossClientTransaction(BaseModel):
    """Settlement line between the two clients of a cross-client sale."""

    source = pw.ForeignKeyField(Client, backref="cc_transactions", on_delete="RESTRICT")
    connected = pw.ForeignKeyField(Client, backref="cc_transactions_connected", on_delete="RESTRICT")
    order = pw.ForeignKeyField(Order, backref="cc_transactions", on_delete="RESTRICT")
    subscription = pw.ForeignKeyField(Subscription, null=True, backref="cc_transactions",
                                      on_delete="RESTRICT")
    voucher = pw.ForeignKeyField(Voucher, null=True, backref="cc_transactions", on_delete="RESTRICT")
    type = pw.CharField(max_length=8, default="PAYMENT")  # PAYMENT REFUND LOSS
    paid_status = pw.CharField(max_length=4, default="OPEN")  # OPEN PAID
    payment_method = pw.CharField(max_length=16, default="BILLING")
    amount = pw.DecimalField(max_digits=12, decimal_places=2)
    currency = pw.CharField(max_length=3)
    created_at = pw.DateTimeField(default=now)
    changed_at = pw.DateTimeField(default=now)

    class Meta:
        indexes = ((("source", "id"), False), (("connected", "id"), False))


class EmailOutbox(BaseModel):
    """An e-mail to send: the message kind and its parameters; the mailer renders it."""

    kind = pw.CharField(max_length=40)
    to_address = pw.CharField(max_length=254)
    client = pw.ForeignKeyField(Client, null=True, backref="emails", on_delete="RESTRICT")
    params_json = pw.TextField(default="{}")
    status = pw.CharField(max_length=8, default="QUEUED")  # QUEUED SENDING SENT FAILED
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=now)
    lease_owner = pw.CharField(max_length=64, null=True)
    lease_until = pw.DateTimeField(null=True)
    last_error = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=now)
    sent_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "next_attempt_at"), False),)


class Callback(BaseModel):
    """A callback to a source client's web service; delivered at least once by the mailer."""

    connection = pw.ForeignKeyField(Connection, backref="callbacks", on_delete="RESTRICT")
    client = pw.ForeignKeyField(Client, backref="callbacks", on_delete="RESTRICT")  # the receiver
    webhook_id = pw.CharField(max_length=64, unique=True)
    entity_type = pw.CharField(max_length=32, default="CROSS_CLIENT_ORDER")
    callback_type = pw.CharField(max_length=32, default="CREATION")
    entity_id = pw.CharField(max_length=64)
    payload_json = pw.TextField()
    status = pw.CharField(max_length=10, default="PENDING")  # PENDING SENDING DELIVERED FAILED
    tries = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=now, null=True)
    lease_owner = pw.CharField(max_length=64, null=True)
    lease_until = pw.DateTimeField(null=True)
    manual_pending = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=now)
    delivered_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "next_attempt_at"), False), (("client", "id"), False))


class CallbackAttempt(BaseModel):
    """One delivery attempt of a callback: a row of the callback log."""

    callback = pw.ForeignKeyField(Callback, backref="attempts", on_delete="RESTRICT")
    client = pw.ForeignKeyField(Client, backref="callback_attempts", on_delete="RESTRICT")
    connection = pw.ForeignKeyField(Connection, backref="callback_attempts", on_delete="RESTRICT")
    entity_type = pw.CharField(max_length=32)
    callback_type = pw.CharField(max_length=32)
    entity_id = pw.CharField(max_length=64)
    try_number = pw.IntegerField()
    final_try = pw.BooleanField(default=False)
    success = pw.BooleanField(default=False)
    http_status = pw.IntegerField(null=True)
    error_kind = pw.CharField(max_length=16, null=True)  # dns connect timeout tls http refused
    error_message = pw.TextField(null=True)
    duration_ms = pw.IntegerField(default=0)
    response_excerpt = pw.TextField(null=True)
    trigger = pw.CharField(max_length=10, default="SCHEDULED")  # SCHEDULED MANUAL TEST
    url = pw.CharField(max_length=2000, default="")
    request_headers_json = pw.TextField(default="{}")
    request_body = pw.TextField(default="")
    created_at = pw.DateTimeField(default=now)

    class Meta:
        indexes = (
            (("client", "id"), False),
            (("client", "success", "id"), False),
            (("client", "created_at"), False),
            (("connection", "id"), False),
            (("callback", "try_number"), False),
        )


class ApiToken(BaseModel):
    client = pw.ForeignKeyField(Client, backref="api_tokens", on_delete="RESTRICT")
    name = pw.CharField(max_length=100)
    token_hash = pw.CharField(max_length=64, unique=True)
    prefix = pw.CharField(max_length=12)
    created_at = pw.DateTimeField(default=now)
    revoked_at = pw.DateTimeField(null=True)
    last_used_at = pw.DateTimeField(null=True)


class AuditEntry(BaseModel):
    """Who changed what, when: one row per change."""

    at = pw.DateTimeField(default=now)
    actor = pw.CharField(max_length=200)
    actor_type = pw.CharField(max_length=10)  # OPERATOR API SYSTEM
    client = pw.ForeignKeyField(Client, null=True, backref="audit", on_delete="RESTRICT")
    entity_type = pw.CharField(max_length=40)
    entity_id = pw.CharField(max_length=64)
    action = pw.CharField(max_length=40)
    summary = pw.TextField(default="")

    class Meta:
        indexes = ((("entity_type", "entity_id", "id"), False), (("client", "id"), False))


ALL_MODELS = [
    ContractCompany, Client, Connection, Offer, OfferShare, Basket, BasketItem, Customer, Order,
    Voucher, Subscription, CrossClientTransaction, EmailOutbox, Callback, CallbackAttempt,
    ApiToken, AuditEntry,
]
