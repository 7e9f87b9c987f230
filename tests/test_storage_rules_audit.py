"""Rules a manual mutation audit of `storage/` found untested (DOMAIN.md and the storage issue).

Each test here fails when the check it names is removed or flipped in storage, and passes with
it in place; the audit table (rule, where enforced, mutation, killing test) is in the audit
report. Refusals also check that nothing was written.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading

import peewee
import pytest

from storage import clock
from storage.audit import Actor, client_history, history
from storage.baskets import ItemSpec, archive_basket, create_basket, list_baskets, update_basket
from storage.callbacks import list_attempts, list_callbacks
from storage.connections import (
    INVITATION_TTL,
    accept_invitation,
    accept_invitation_code,
    block_connection,
    create_connection,
    decline_invitation,
    expire_invitations,
    list_connections,
    new_invitation_code,
    resend_invitation,
    revoke_invitation,
    rotate_secret,
    unblock_connection,
    update_connection,
)
from storage.customers import create_customer, search_customers, update_customer
from storage.db import db
from storage.errors import DomainError
from storage.models import (
    AuditEntry,
    Callback,
    Client,
    Connection,
    Customer,
    EmailOutbox,
    Subscription,
    Voucher,
)
from storage.offers import (
    archive_offer,
    create_offer,
    list_external_offers,
    list_own_offers,
    set_cross_client,
    update_offer,
)
from storage.orders import (
    list_orders,
    list_subscriptions,
    list_transactions,
    list_vouchers,
    mark_transaction_paid,
    place_order,
    redeem_voucher,
)
from storage.paging import MAX_PAGE
from storage.tenancy import (
    create_client,
    create_contract_company,
    list_clients,
    list_contract_companies,
    set_cross_client_module,
)
from storage.tokens import authenticate, create_token, list_tokens, revoke_token
from tests.world import OPS, SOURCE_ID, TARGET_ID, companies, customer, offer, redeem_concurrently, refused, rows, shop

URL = "http://127.0.0.1:9/callbacks"
LIVE = ("INVITED", "ACTIVE", "BLOCKED")






def invite(w, **kwargs):
    kwargs.setdefault("callback_url", URL)
    return create_connection(w.source, TARGET_ID, actor=OPS, **kwargs)


def last_code() -> str:
    mail = EmailOutbox.select().where(EmailOutbox.kind == "invitation").order_by(EmailOutbox.id.desc()).get()
    return json.loads(mail.params_json)["code"]


# --- Connections ------------------------------------------------------------------------------

def test_database_itself_allows_one_live_connection_per_ordered_pair(any_db):
    """The partial unique index `connection_live_pair` holds even for writes that skip the check."""
    w = companies()
    first = invite(w)

    def insert(status: str) -> Connection:
        with db.atomic():
            return Connection.create(source=w.source, target=w.target, status=status, signing_secret="s")

    for existing in LIVE:
        Connection.update(status=existing).where(Connection.id == first.id).execute()
        for new in LIVE:
            before = rows()
            with pytest.raises(peewee.IntegrityError):
                insert(new)
            assert rows() == before
    # Finished connections do not count: the pair may be live again, and dead rows pile up.
    Connection.update(status="DECLINED").where(Connection.id == first.id).execute()
    insert("REVOKED")
    again = insert("INVITED")
    assert Connection.select().where(Connection.status.in_(LIVE)).count() == 1 and again.id
    # The reverse direction is another ordered pair.
    with db.atomic():
        Connection.create(source=w.target, target=w.source, status="ACTIVE", signing_secret="s")


def test_access_to_offers_chosen_at_creation_is_kept(any_db):
    w = companies()
    conn = invite(w, access_to_offers=False)
    assert Connection.get_by_id(conn.id).access_to_offers is False
    accept_invitation(conn.id, w.target, actor=OPS)
    o = offer(w.source)
    refused(99412, set_cross_client, o.id, w.source, True, [TARGET_ID], actor=OPS)


def test_invitation_codes_are_random_and_at_least_128_bits(any_db):
    codes = {new_invitation_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in list(codes)[:50]:
        compact = code.replace("-", "")
        assert len(compact) * 5 >= 128 and set(compact) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    w = companies()
    extra = [create_client(w.south, f"EXTRACLIENT{i:09d}", f"Extra {i}", f"x{i}@south.example")
             for i in range(5)]
    sent = set()
    for c in extra:
        create_connection(w.source, c.company_id, callback_url=URL, actor=OPS)
        sent.add(last_code())
    assert len(sent) == 5


def test_invitation_code_is_stored_only_as_its_sha256_digest(any_db):
    w = companies()
    conn = invite(w)
    code = last_code()
    compact = code.replace("-", "").upper()
    row = Connection.select().where(Connection.id == conn.id).dicts().get()
    assert row["invitation_token_hash"] == hashlib.sha256(compact.encode()).hexdigest()
    stored = " ".join(str(v) for v in row.values())
    stored += " ".join(e.summary for e in AuditEntry.select())
    assert code not in stored and compact not in stored and compact.lower() not in stored


@pytest.mark.parametrize("answer,by", [(decline_invitation, "target"), (revoke_invitation, "source")])
def test_declining_or_withdrawing_kills_the_invitation_code(any_db, answer, by):
    w = companies()
    conn = invite(w)
    code = last_code()
    answer(conn.id, getattr(w, by), actor=OPS)
    assert Connection.get_by_id(conn.id).invitation_token_hash is None
    refused(99413, accept_invitation_code, w.target, code, actor=OPS)


def test_declining_tells_the_source(any_db):
    w = companies()
    conn = invite(w)
    decline_invitation(conn.id, w.target, actor=OPS)
    notice = EmailOutbox.get(EmailOutbox.kind == "invitation_answered")
    assert notice.to_address == w.source.contact_email
    assert json.loads(notice.params_json)["outcome"] == "DECLINED"


@pytest.mark.parametrize("action,by", [(accept_invitation, "target"), (decline_invitation, "target"),
                                       (revoke_invitation, "source"), (resend_invitation, "source")])
def test_an_expired_invitation_cannot_be_answered_before_any_sweep(any_db, action, by):
    """No worker has run `expire_invitations` yet: the action itself must see the expiry."""
    w = companies()
    conn = invite(w)
    clock.fix(clock.now() + INVITATION_TTL + dt.timedelta(seconds=1))
    with pytest.raises(DomainError) as info:
        action(conn.id, getattr(w, by), actor=OPS)
    assert info.value.code == 10025
    row = Connection.get_by_id(conn.id)
    assert row.status == "EXPIRED" and row.invitation_token_hash is None
    assert [e.action for e in history("connection", conn.id)] == ["expire", "create"]


@pytest.mark.parametrize("action,by", [(accept_invitation, "target"), (decline_invitation, "target"),
                                       (revoke_invitation, "source"), (resend_invitation, "source")])
def test_an_expired_invitation_stays_dead_when_the_sweep_has_a_backlog(any_db, action, by):
    """A sweep handles 500 invitations at a time; the one acted on may not be among them."""
    w = companies()
    start = clock.now()
    clock.fix(start)
    Client.insert_many([dict(company_id=f"BACKLOG{i:013d}", contract_company=w.south.id, name="b",
                             contact_email="b@south.example") for i in range(501)]).execute()
    Connection.insert_many([dict(source=w.source.id, target=c.id, status="INVITED", signing_secret="s",
                                 invitation_expires_at=start)
                            for c in Client.select().where(Client.company_id.startswith("BACKLOG"))]).execute()
    conn = invite(w)
    clock.fix(start + INVITATION_TTL + dt.timedelta(seconds=1))
    with pytest.raises(DomainError) as info:
        action(conn.id, getattr(w, by), actor=OPS)
    assert info.value.code == 10025 and "expired" in info.value.message
    row = Connection.get_by_id(conn.id)
    assert row.status in ("INVITED", "EXPIRED") and row.invitation_expires_at <= clock.now()
    assert [e.action for e in history("connection", conn.id)] in (["create"], ["expire", "create"])


def test_invitation_is_valid_until_exactly_its_expiry(any_db):
    w = companies()
    start = clock.now()
    clock.fix(start)
    conn = invite(w)
    clock.fix(start + INVITATION_TTL - dt.timedelta(seconds=1))
    assert expire_invitations() == 0
    clock.fix(start + INVITATION_TTL)
    assert expire_invitations() == 1
    assert Connection.get_by_id(conn.id).status == "EXPIRED"


def test_sharing_an_offer_with_its_own_client_is_90059(any_db):
    w = companies()
    o = offer(w.source)
    refused(90059, set_cross_client, o.id, w.source, True, [SOURCE_ID], actor=OPS)


# --- Purchase ---------------------------------------------------------------------------------

def test_an_archived_basket_cannot_be_sold(any_db):
    s = shop()
    buyer = customer(s.world.south)
    archive_basket(s.basket.id, s.target, actor=OPS)
    err = refused(99400, place_order, s.target, s.basket.id, buyer.customer_number, actor=OPS)
    assert err.field == "shoppingCartId"


def test_an_offer_the_source_stopped_sharing_cannot_be_sold_from_an_old_basket(any_db):
    s = shop()
    buyer = customer(s.world.south)
    set_cross_client(s.shared.id, s.world.source, False, [], actor=OPS)
    err = refused(99404, place_order, s.target, s.basket.id, buyer.customer_number, actor=OPS)
    assert err.field == "items[2].offerId"


def test_voucher_and_callback_keep_the_customer_as_at_purchase(any_db):
    s = shop()
    buyer = customer(s.world.south)
    result = place_order(s.target, s.basket.id, buyer.customer_number, actor=OPS)
    [voucher], [callback] = result.vouchers, result.callbacks
    captured = {"customerId": buyer.customer_number, "email": "buyer1@example.org",
                "firstName": "Berta", "lastName": "Buyer1", "language": "de"}
    update_customer(s.world.south, buyer.customer_number, email="new@example.org", first_name="Bea",
                    last_name="Neu", language="en", actor=OPS)
    v = Voucher.get_by_id(voucher.id)
    assert (v.target_customer_number, v.customer_email, v.customer_first_name, v.customer_last_name,
            v.customer_language) == tuple(captured.values())
    assert json.loads(Callback.get_by_id(callback.id).payload_json)["entity"]["customer"] == captured
    match = customer(s.world.north, 2)
    sub = redeem_voucher(s.world.source, match.customer_number, voucher.code, actor=OPS)
    assert sub.connected_customer_id == buyer.customer_number


# --- Voucher single use (conditional update) ---------------------------------------------------

def test_many_concurrent_redemptions_of_one_voucher_make_one_subscription(any_db):
    s = shop()
    buyer = customer(s.world.south)
    voucher = place_order(s.target, s.basket.id, buyer.customer_number, actor=OPS).vouchers[0]
    numbers = [customer(s.world.north, 10 + i).customer_number for i in range(6)]
    outcomes = redeem_concurrently(s.world.source, voucher.code, numbers)
    assert sorted(outcomes, key=str) == sorted(["ok"] + [35002] * 5, key=str)
    assert Subscription.select().where(Subscription.voucher == voucher.id).count() == 1
    assert AuditEntry.select().where(AuditEntry.action == "redeem").count() == 1


# --- Customers --------------------------------------------------------------------------------

def test_database_itself_keeps_customer_numbers_and_emails_unique_per_contract_company(any_db):
    w = companies()
    a = create_customer(w.north, email="a@x.example")
    fields = dict(first_name="", last_name="", first_name_lc="", last_name_lc="")
    for number, email in ((a.customer_number, "other@x.example"), ("999", "a@x.example")):
        before = rows()
        with pytest.raises(peewee.IntegrityError):
            with db.atomic():
                Customer.create(contract_company=w.north, customer_number=number, email=email,
                                email_lc=email, **fields)
        assert rows() == before
    with db.atomic():  # the same number and e-mail in another contract company is another customer
        Customer.create(contract_company=w.south, customer_number=a.customer_number,
                        email="a@x.example", email_lc="a@x.example", **fields)


def test_customer_numbers_have_at_most_18_digits(any_db):
    w = companies()
    err = refused(99400, create_customer, w.north, email="n@x.example", number="1" * 19)
    assert err.field == "customerId"
    assert create_customer(w.north, email="m@x.example", number="9" * 18).customer_number == "9" * 18


def test_customer_status_is_checked_on_edit_too(any_db):
    w = companies()
    a = create_customer(w.north, email="a@x.example")
    err = refused(99400, update_customer, w.north, a.customer_number, status="GONE")
    assert err.field == "status"


def test_customer_names_are_limited_on_edit_as_on_creation(any_db):
    """On PostgreSQL an over-long name used to escape as a database error instead of 99400."""
    w = companies()
    a = create_customer(w.north, email="a@x.example")
    err = refused(99400, update_customer, w.north, a.customer_number, first_name="x" * 101,
                  last_name="y" * 101)
    assert {e.field for e in err.errors} == {"firstName", "lastName"}
    assert update_customer(w.north, a.customer_number, last_name="z" * 100).last_name == "z" * 100


# --- Tenancy and API tokens -------------------------------------------------------------------

def test_a_company_id_belongs_to_one_client_only(any_db):
    w = companies()
    err = refused(99409, create_client, w.south, SOURCE_ID.lower(), "Copy", "copy@south.example")
    assert SOURCE_ID in err.message


def test_a_client_cannot_revoke_another_clients_token(any_db):
    w = companies()
    token, plain = create_token(w.source, "shop")
    refused(99404, revoke_token, token.id, w.target)
    assert authenticate(plain).id == token.id


# --- Audit: every change writes who, when, entity, action, summary ----------------------------

AUDITOR = Actor.operator("auditor")


def test_every_mutating_operation_writes_one_audit_entry(any_db):
    seen = {"last": 0}

    def audited(entity_type: str, action: str, fn, *args, entity_id=None, **kwargs):
        result = fn(*args, actor=AUDITOR, **kwargs)
        new = list(AuditEntry.select().where(AuditEntry.id > seen["last"]).order_by(AuditEntry.id))
        assert [(e.entity_type, e.action) for e in new] == [(entity_type, action)], fn.__name__
        [entry] = new
        assert (entry.actor, entry.actor_type) == ("auditor", "OPERATOR")
        assert entry.at is not None and entry.summary.strip()
        if entity_id is not None:
            assert entry.entity_id == str(entity_id)
        seen["last"] = entry.id
        return result

    north = audited("contract_company", "create", create_contract_company, "North", cross_client_module=True)
    south = audited("contract_company", "create", create_contract_company, "South")
    audited("contract_company", "module", set_cross_client_module, south.id, True, entity_id=south.id)
    source = audited("client", "create", create_client, north, SOURCE_ID, "N", "n@north.example")
    target = audited("client", "create", create_client, south, TARGET_ID, "S", "s@south.example")
    conn = audited("connection", "create", create_connection, source, TARGET_ID, callback_url=URL)
    audited("connection", "resend", resend_invitation, conn.id, source, entity_id=conn.id)
    audited("connection", "rotate_secret", rotate_secret, conn.id, source, entity_id=conn.id)
    audited("connection", "edit", update_connection, conn.id, source, callback_url=URL + "/v2",
            entity_id=conn.id)
    audited("connection", "accept", accept_invitation, conn.id, target, entity_id=conn.id)
    audited("connection", "block", block_connection, conn.id, target, entity_id=conn.id)
    audited("connection", "unblock", unblock_connection, conn.id, target, entity_id=conn.id)
    back = audited("connection", "create", create_connection, target, SOURCE_ID, callback_url=URL)
    audited("connection", "decline", decline_invitation, back.id, source, entity_id=back.id)
    back = audited("connection", "create", create_connection, target, SOURCE_ID, callback_url=URL)
    audited("connection", "revoke", revoke_invitation, back.id, target, entity_id=back.id)

    shared = audited("offer", "create", create_offer, source, internal_title="X", public_title="X",
                     price="4.99", currency="EUR", term=1, term_unit="MONTH")
    audited("offer", "share", set_cross_client, shared.id, source, True, [TARGET_ID], entity_id=shared.id)
    audited("offer", "edit", update_offer, shared.id, source, public_title="X2", entity_id=shared.id)
    spare = audited("offer", "create", create_offer, source, internal_title="Y", public_title="Y",
                    price="1", currency="EUR", term=1, term_unit="MONTH")
    audited("offer", "archive", archive_offer, spare.id, source, entity_id=spare.id)
    own = audited("offer", "create", create_offer, target, internal_title="O", public_title="O",
                  price="7.99", currency="EUR", term=1, term_unit="MONTH")
    items = [ItemSpec(own.id, 1), ItemSpec(shared.id, 2, external=True)]
    basket = audited("basket", "create", create_basket, target, internal_title="B", title="B", items=items)
    audited("basket", "edit", update_basket, basket.id, target, title="B2", entity_id=basket.id)
    extra = audited("basket", "create", create_basket, target, internal_title="C", title="C",
                    items=[ItemSpec(own.id, 1)])
    audited("basket", "archive", archive_basket, extra.id, target, entity_id=extra.id)

    buyer = audited("customer", "create", create_customer, south, email="b@south.example")
    audited("customer", "edit", update_customer, south, buyer.customer_number, last_name="Neu",
            entity_id=f"{south.id}/{buyer.customer_number}")
    match = audited("customer", "create", create_customer, north, email="m@north.example")
    result = audited("order", "create", place_order, target, basket.id, buyer.customer_number)
    code = result.vouchers[0].code
    audited("voucher", "redeem", redeem_voucher, source, match.customer_number, code, entity_id=code)
    [txn] = list_transactions(source)
    audited("cross_client_transaction", "paid", mark_transaction_paid, txn.id, source, entity_id=txn.id)
    token, _ = audited("api_token", "create", create_token, source, "shop")
    audited("api_token", "revoke", revoke_token, token.id, source, entity_id=token.id)


# --- Keyset paging: no list returns a whole table ---------------------------------------------

def test_a_page_never_exceeds_the_maximum_whatever_the_caller_asks(any_db):
    w = companies()
    AuditEntry.insert_many([dict(actor="bulk", actor_type="SYSTEM", entity_type="bulk", entity_id="1",
                                 action="note", summary=str(i)) for i in range(MAX_PAGE + 5)]).execute()
    page = history("bulk", 1, limit=10 ** 6)
    assert len(page) == MAX_PAGE and page.has_more
    assert w.source.company_id  # the world exists; the bulk rows belong to nobody
    rest = history("bulk", 1, limit=10 ** 6, before=page.last_key)
    assert len(rest) == 5 and not rest.has_more


def test_a_page_that_ends_exactly_at_the_last_row_says_no_more(any_db):
    w = companies()
    made = [create_customer(w.north, email=f"p{i}@x.example").id for i in range(4)]
    first = search_customers(w.north, limit=2)
    second = search_customers(w.north, limit=2, after=first.last_key)
    assert [c.id for c in first] + [c.id for c in second] == made
    assert first.has_more and not second.has_more
    back = search_customers(w.north, limit=2, before=second.first_key)
    assert [c.id for c in back] == made[:2] and not back.has_previous


def test_every_list_operation_pages(any_db):
    """Each list an operator or integrator can open returns one page of at most `limit` rows."""
    s = shop()
    w = s.world
    for n in (1, 2):
        buyer = customer(w.south, n)
        code = place_order(s.target, s.basket.id, buyer.customer_number, actor=OPS).vouchers[0].code
        redeem_voucher(w.source, customer(w.north, n).customer_number, code, actor=OPS)
    create_connection(w.source, w.sibling.company_id, actor=OPS)
    offer(w.source, "Second")
    create_basket(s.target, internal_title="B2", title="B2", items=[ItemSpec(s.own.id, 1)], actor=OPS)
    set_cross_client(offer(w.source, "Third").id, w.source, True, [TARGET_ID], actor=OPS)
    create_token(w.source, "a")
    create_token(w.source, "b")
    from storage.outbox import record_callback_attempt

    for cb in Callback.select():
        with db.atomic():
            record_callback_attempt(cb, success=False, final_try=False, trigger="SCHEDULED")
    lists = {
        "connections": lambda **k: list_connections(w.source, **k),
        "own offers": lambda **k: list_own_offers(w.source, **k),
        "external offers": lambda **k: list_external_offers(s.target, **k),
        "baskets": lambda **k: list_baskets(s.target, **k),
        "subscriptions": lambda **k: list_subscriptions(w.source, **k),
        "orders": lambda **k: list_orders(s.target, **k),
        "vouchers": lambda **k: list_vouchers(w.source, **k),
        "transactions": lambda **k: list_transactions(w.source, **k),
        "callbacks": lambda **k: list_callbacks(w.source, **k),
        "callback log": lambda **k: list_attempts(w.source, **k),
        "tokens": lambda **k: list_tokens(w.source, **k),
        "clients": lambda **k: list_clients(**k),
        "contract companies": lambda **k: list_contract_companies(**k),
        "customers": lambda **k: search_customers(w.north, **k),
        "audit of a client": lambda **k: client_history(w.source, **k),
        "audit of an entity": lambda **k: history("connection", s.connection.id, **k),
    }
    for name, fn in lists.items():
        page = fn(limit=1)
        assert len(page) == 1 and page.has_more, name
        following = fn(limit=1, after=page.last_key) if name not in ("audit of a client", "audit of an entity") \
            else fn(limit=1, before=page.last_key)
        assert len(following) == 1 and following.first_key != page.first_key, name


# --- Concurrent transitions (row lock on PostgreSQL, IMMEDIATE on SQLite) ---------------------

def race(**calls) -> dict:
    """Start every call at once, each in its own thread; "ok" or the refusal code per name."""
    barrier = threading.Barrier(len(calls))
    outcomes = {}

    def run(name, call):
        barrier.wait()
        try:
            call()
            outcomes[name] = "ok"
        except DomainError as exc:
            outcomes[name] = exc.code
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_concurrent_accept_and_revoke_of_one_invitation_only_one_wins(any_db):
    """The target accepts while the source withdraws: one of them is refused, never both done."""
    w = companies()
    extra = [create_client(w.south, f"RACECLIENT{i:010d}", f"Race {i}", f"r{i}@south.example")
             for i in range(4)]
    for target in extra:
        conn = create_connection(w.source, target.company_id, callback_url=URL, actor=OPS)
        outcomes = race(accept=lambda c=conn, t=target: accept_invitation(c.id, t, actor=OPS),
                        revoke=lambda c=conn: revoke_invitation(c.id, w.source, actor=OPS))
        assert sorted(outcomes.values(), key=str) == sorted(["ok", 10025], key=str), outcomes
        winner = next(name for name, result in outcomes.items() if result == "ok")
        status = Connection.get_by_id(conn.id).status
        assert status == {"accept": "ACTIVE", "revoke": "REVOKED"}[winner]
        assert [e.action for e in history("connection", conn.id)] == [winner, "create"]
