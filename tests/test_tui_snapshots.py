"""Snapshots of every screen and modal of the backoffice: fixed data, fixed clock, fixed size,
reached by keys only. Each case's `sees` says what a reviewer should see in its SVG."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest

from storage import clock
from storage.connections import create_connection
from storage.customers import create_customer
from storage.db import db
from storage.models import Callback
from storage.orders import place_order, redeem_voucher
from storage.outbox import record_callback_attempt
from storage.tokens import create_token
from tests import world
from tests.tui_support import SIZE, backoffice, keys, settle, type_text

FIXED_NOW = dt.datetime(2026, 3, 2, 9, 30)
S, T = world.SOURCE_ID, world.TARGET_ID

CASES = [
    # (id, client, keys (text to type in quotes prefixed with '='), what the reviewer should see)
    ("connections", S, ["1"], "Source's connections: outgoing ACTIVE connection to South Online"),
    ("connection_detail", S, ["1", "enter"], "Detail: info, callback settings with masked secret, audit, "
                                             "callbacks with one failure and one success"),
    ("connection_form", S, ["1", "n", "=abc"], "New connection form, target field says 20 upper-case letters"),
    ("connections_target", T, ["1"], "Target's list: incoming INVITED from North Print first, footer has "
                                     "Accept and Decline"),
    ("confirm_accept", T, ["1", "a"], "Confirm modal asking to accept North Print's invitation"),
    ("accept_code_form", T, ["1", "i"], "Form for the invitation code from the e-mail"),
    ("offers_own", S, ["2"], "Source's own offers: Plus and Source Digital (cross-client yes)"),
    ("offers_cross", S, ["2", "]"], "Cross-client tab: Source Digital shared with South Online"),
    ("offers_external", T, ["2", "]", "]"], "Target's external offers: Source Digital from North Digital, "
                                            "usable"),
    ("offer_form", S, ["2", "n"], "New offer form with targets list (South Online)"),
    ("share_form", S, ["2", "]", "s"], "Share form for Source Digital, South Online ticked"),
    ("baskets", T, ["3"], "Target's basket BUNDLE with own offer first and the external one marked *"),
    ("basket_editor", T, ["3", "enter"], "Basket editor: two items, external marked, no rule error"),
    ("offer_picker", T, ["3", "enter", "tab", "tab", "a"], "Offer picker: own offer and * external offer"),
    ("place_order", T, ["3", "o", "=buyer"], "Place order: customer search shows buyer2, fixed items listed"),
    ("order_result", T, ["3", "o", "=buyer2", "enter", "ctrl+s"], "Order result: order, subscription, "
                                                                   "voucher and queued callback"),
    ("customers", T, ["4"], "Target's customers (South Press): two buyers"),
    ("customer_detail", S, ["4", "enter"], "Source customer with a CROSS_COMPANY_TIME_BASED subscription "
                                           "naming South Online as partner"),
    ("customer_vouchers", T, ["4", "enter", "]", "]"], "Target buyer's vouchers: one REDEEMED"),
    ("customer_form", T, ["4", "n", "=not-an-email"], "New customer form, e-mail field error"),
    ("redeem_form", S, ["4", "enter", "v"], "Redeem voucher form for the source customer"),
    ("callback_log", S, ["5"], "Callback log: newest first, OK 204 green, FAIL 500 red"),
    ("attempt_detail", S, ["5", "enter"], "Attempt detail: result, headers, body, response"),
    ("log_filters", S, ["5", "F"], "Callback log filter form"),
    ("settings", S, ["6"], "Contract companies with the module switch on"),
    ("settings_tokens", S, ["6", "]", "]"], "API tokens of North Digital: one active token"),
    ("settings_mail", S, ["6", "]", "]", "]"], "Mail transport (not configured), worker and API state"),
    ("settings_outbox", S, ["6", "]", "]", "]", "]"], "Outbox: queued e-mails and no pending callbacks"),
    ("token_created", S, ["6", "]", "]", "n", "ctrl+s"], "The new token shown once"),
    ("client_form", S, ["6", "]", "n"], "New client form with the contract company select"),
    ("help", S, ["1", "question_mark"], "Help modal listing the keys of the Connections screen"),
    ("client_switcher", S, ["c"], "Client switcher listing the three clients, current one starred"),
]


@pytest.fixture
def fixed_world(sqlite_db, monkeypatch):
    """Two contract companies with a connection, a shared offer, a basket, an order with a voucher
    that the source redeemed, two callback attempts, an invitation and an API token."""
    clock.fix(FIXED_NOW)
    codes = (f"SNAP-5H0T-C0DE-{n:04d}" for n in itertools.count(1))
    monkeypatch.setattr("storage.orders.new_voucher_code", lambda: next(codes))
    monkeypatch.setattr("storage.tokens.secrets.token_urlsafe", lambda n: "snapshot-token-" + "x" * 28)
    shop = world.shop(url="http://127.0.0.1:9/callbacks")
    w = shop.world
    buyer = world.customer(w.south, 1)
    world.customer(w.south, 2)
    result = place_order(w.target, shop.basket.id, buyer.customer_number, actor=world.OPS)
    callback = Callback.get_by_id(result.callbacks[0].id)
    with db.atomic():
        record_callback_attempt(callback, success=False, final_try=False, trigger="SCHEDULED", http_status=500,
                                error_kind="http", error_message="HTTP 500 from the web service",
                                duration_ms=41, response_excerpt='{"error": "database busy"}',
                                url=callback.connection.callback_url,
                                request_headers={"content-type": "application/json", "webhook-id": "msg_fixed"},
                                request_body=callback.payload_json)
    clock.fix(FIXED_NOW + dt.timedelta(minutes=5))
    with db.atomic():
        record_callback_attempt(Callback.get_by_id(callback.id), success=True, final_try=False,
                                trigger="SCHEDULED", http_status=204, duration_ms=12,
                                url=callback.connection.callback_url, request_body=callback.payload_json)
    north_buyer = create_customer(w.north, email="berta@north.example", first_name="Berta", last_name="Buyer")
    redeem_voucher(w.source, north_buyer.customer_number, result.vouchers[0].code, actor=world.OPS)
    create_connection(w.sibling, world.TARGET_ID, callback_url="http://127.0.0.1:9/print", actor=world.OPS)
    create_token(w.source, "shop integration", actor=world.OPS)
    clock.fix(FIXED_NOW + dt.timedelta(minutes=10))
    return shop


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_snapshot(case, fixed_world, snap_compare):
    """One screen or modal per case, reached by keys; `case[3]` says what the SVG shows."""
    _, client, presses, _sees = case

    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in presses:
            if key.startswith("="):
                await type_text(pilot, key[1:])
            else:
                await keys(pilot, key)
        await settle(pilot)

    assert snap_compare(backoffice(client), terminal_size=SIZE, run_before=run_before)
