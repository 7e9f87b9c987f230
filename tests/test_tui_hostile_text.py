"""Names, titles, URLs, headers, bodies and error messages full of markup characters show on every
screen exactly as they were written, and never break the backoffice.

Customers register through the HTTP API, partners name their clients and offers, web services
answer with whatever they like: none of it is markup. Textual reads a plain `str` in a table cell,
a Static, an option or a toast as markup, so "[/]Anna" crashed the app and "[b]Neu" turned bold.
Each test reads what the screen draws (not the stored value), so it fails if the text is changed,
and fails with a MarkupError if it is read as markup.
"""
from __future__ import annotations

import json

import pytest

from storage.baskets import ItemSpec, create_basket
from storage.connections import accept_invitation, create_connection
from storage.customers import create_customer
from storage.db import db
from storage.models import Callback, Customer
from storage.offers import create_offer, set_cross_client
from storage.orders import place_order
from storage.outbox import record_callback_attempt
from storage.tenancy import create_client, create_contract_company
from tests import world
from tests.tui_support import backoffice, cells, keys, screen_text, settle, shows, type_text

S, T = world.SOURCE_ID, world.TARGET_ID
WIDE = (220, 40)  # every column of the widest list on screen
NORTH = "[/]North [b]Media"
SOUTH = "South [bold red]Press"
SOURCE = "[/]Evil [b]Digital"
TARGET = "South \\[Online] [B]x"  # a backslash before a bracket and an upper-case tag
URL = "http://127.0.0.1:9/cb/[b]x?q=[/]"
ERROR = "[/]boom [b]bad"
BODY = {"items": [1, [2, "[/]"]], "note": "[bold red]hi"}


class Hostile:
    """The two-company world of tests/world.py, with markup characters in every text."""

    def __init__(self) -> None:
        north = create_contract_company(NORTH, cross_client_module=True)
        south = create_contract_company(SOUTH, cross_client_module=True)
        self.source = create_client(north, S, SOURCE, "digital[b]@north.example")
        self.target = create_client(south, T, TARGET, "online[/]@south.example")
        conn = create_connection(self.source, T, callback_url=URL, auth_type="HEADERS",
                                 headers=[["X-Shop", "[b]north[/]"]], actor=world.OPS)
        self.connection = accept_invitation(conn.id, self.target, actor=world.OPS)
        self.shared = create_offer(self.source, internal_title="[/]SHARED", public_title="[b]Shared", price="4.99",
                                   currency="EUR", term=1, term_unit="MONTH", actor=world.OPS)
        set_cross_client(self.shared.id, self.source, True, [T], actor=world.OPS)
        self.own = create_offer(self.target, internal_title="OWN[/]", public_title="\\[Own] [bold red]",
                                price="7.99", currency="EUR", term=1, term_unit="MONTH", actor=world.OPS)
        self.basket = create_basket(self.target, internal_title="[/]BUNDLE", title="[bold red]Bundle",
                                    items=[ItemSpec(self.own.id, 1), ItemSpec(self.shared.id, 2, external=True)],
                                    actor=world.OPS)
        self.anna = create_customer(north, email="x[b]y@example.org", first_name="[/]Anna", last_name="[bold]Neu",
                                    language="de")
        self.berta = create_customer(south, email="b[/]uyer@example.org", first_name="[bold red]Berta",
                                     last_name="\\[Buyer", language="de")

    def failed_callback(self) -> None:
        """An order of Berta's, and its callback's first attempt, refused by the web service."""
        result = place_order(self.target, self.basket.id, self.berta.customer_number, actor=world.OPS)
        with db.atomic():
            record_callback_attempt(Callback.get_by_id(result.callbacks[0].id), success=False, final_try=False,
                                    trigger="SCHEDULED", http_status=500, error_kind="http", error_message=ERROR,
                                    duration_ms=7, response_excerpt='{"errors": [{"msg": "[b]no"}]}', url=URL,
                                    request_headers={"x-shop": "[b]north[/]"}, request_body=json.dumps(BODY))


@pytest.fixture
def hostile(sqlite_db) -> Hostile:
    return Hostile()


def static_text(pilot, selector: str) -> str:
    return str(pilot.app.screen.query_one(selector).render())


async def test_customers_list_detail_and_the_created_toast(hostile):
    async with backoffice(S).run_test(size=WIDE, notifications=True) as pilot:
        await settle(pilot)
        await keys(pilot, "4")
        assert cells(pilot, "#customers")[0][:4] == [hostile.anna.customer_number, "x[b]y@example.org", "[/]Anna",
                                                     "[bold]Neu"]
        assert " x[b]y@example.org " in screen_text(pilot)
        assert " [/]Anna " in screen_text(pilot) and " [bold]Neu " in screen_text(pilot)

        await keys(pilot, "enter")
        info = static_text(pilot, "#customer-info")
        assert f"Customer {hostile.anna.customer_number}  [/]Anna [bold]Neu <x[b]y@example.org>" in info
        assert info.endswith(f"contract company {NORTH}")

        # A customer created here with brackets in the e-mail: the toast and the list say it as typed.
        await keys(pilot, "escape", "n")
        await type_text(pilot, "new[/]x@example.org")
        await keys(pilot, "tab")
        await type_text(pilot, "[b]Cleo")
        await keys(pilot, "ctrl+s")
        new = Customer.get(Customer.email == "new[/]x@example.org")
        assert new.first_name == "[b]Cleo"
        assert f"Customer {new.customer_number} new[/]x@example.org created" in screen_text(pilot)
        assert " [b]Cleo " in screen_text(pilot)


async def test_connections_list_and_detail(hostile):
    hostile.failed_callback()
    async with backoffice(S).run_test(size=WIDE) as pilot:
        await settle(pilot)
        await keys(pilot, "1")
        assert cells(pilot, "#connections")[0][1:4] == ["out ->", TARGET, T]
        text = screen_text(pilot)
        assert f" {TARGET} " in text and f" {URL} " in text

        await keys(pilot, "enter")
        info = static_text(pilot, "#connection-info").splitlines()
        assert info[1] == f"Source   {SOURCE} ({S}) · {NORTH}"
        assert info[2] == f"Target   {TARGET} ({T}) · {SOUTH}"
        assert info[3] == f"Partner  {TARGET} <online[/]@south.example>"
        assert info[4] == "Status   ACTIVE"
        callback = static_text(pilot, "#connection-callback").splitlines()
        assert callback[1:3] == [f"URL     {URL}", "Auth    headers: X-Shop"]
        assert f" {ERROR} " in screen_text(pilot)  # the connection's recent callbacks


async def test_offers_and_baskets_lists(hostile):
    async with backoffice(S).run_test(size=WIDE) as pilot:
        await settle(pilot)
        await keys(pilot, "2")
        assert " [/]SHARED " in screen_text(pilot) and " [b]Shared " in screen_text(pilot)
        await keys(pilot, "]")
        assert f" {TARGET} ({T}) " in screen_text(pilot)  # shared with
        await keys(pilot, "question_mark")  # the help's own words have brackets too
        assert "[ and ] switch tabs." in screen_text(pilot)

    async with backoffice(T).run_test(size=WIDE) as pilot:
        await settle(pilot)
        await keys(pilot, "2", "]", "]")
        assert f" {SOURCE} " in screen_text(pilot) and " [b]Shared " in screen_text(pilot)  # external offers
        await keys(pilot, "3")
        assert cells(pilot, "#baskets")[0][1:4] == ["[/]BUNDLE", "[bold red]Bundle", "1:OWN[/], 2:[/]SHARED*"]
        text = screen_text(pilot)
        assert " [/]BUNDLE " in text and " [bold red]Bundle " in text and " 1:OWN[/], 2:[/]SHARED* " in text


async def test_place_order_customer_picker_basket_editor_and_offer_picker(hostile):
    async with backoffice(T).run_test(size=WIDE) as pilot:
        await settle(pilot)
        await keys(pilot, "3", "o")
        text = screen_text(pilot)
        assert "Place order: [bold red]Bundle ([/]BUNDLE)" in text
        assert "1: \\[Own] [bold red] 7.99 EUR" in text and f"2: [b]Shared 4.99 EUR  (external, {SOURCE})" in text
        number = hostile.berta.customer_number
        await type_text(pilot, number)
        assert f"{number}  b[/]uyer@example.org  [bold red]Berta \\[Buyer  ACTIVATED" in screen_text(pilot)
        await keys(pilot, "enter")
        assert static_text(pilot, "#order-customer") == (f"Customer: {number} [bold red]Berta \\[Buyer "
                                                         "<b[/]uyer@example.org>")
        await keys(pilot, "ctrl+s")
        body = static_text(pilot, "#info-body")
        assert f"for customer {number} (b[/]uyer@example.org)" in body
        assert f" for {SOURCE} ({S})" in body and f"queued to {URL}" in body  # the voucher and callback

        await keys(pilot, "enter", "enter")  # close the result, open the basket editor
        text = screen_text(pilot)
        assert " \\[Own] [bold red] " in text and f" {SOURCE} (ext" in text  # the editor's items
        await keys(pilot, "tab", "tab", "a")
        text = screen_text(pilot)
        assert f"  {hostile.own.plenigo_offer_id}  OWN[/]{' ' * 15}\\[Own] [bold red]  7.99 EUR " in text
        assert f"* {hostile.shared.plenigo_offer_id}  [/]SHARED{' ' * 12}[b]Shared  4.99 EUR  from [/]Evil " in text


async def test_client_switcher_settings_and_palette(hostile):
    async with backoffice(S).run_test(size=WIDE) as pilot:
        await settle(pilot)
        await keys(pilot, "c")
        text = screen_text(pilot)
        assert f"* {S}  {SOURCE}  ({NORTH})" in text and f"  {T}  {TARGET}  ({SOUTH})" in text
        await keys(pilot, "escape", "6")
        assert f" {NORTH} " in screen_text(pilot)  # contract companies
        await keys(pilot, "]")
        text = screen_text(pilot)
        assert f" {TARGET} " in text and f" {SOUTH} " in text and " online[/]@south.example " in text

        await keys(pilot, "colon")
        await type_text(pilot, "act as south")
        assert await shows(pilot, f"Act as {TARGET} ({T})")
        assert f"switch to this client of {SOUTH}" in screen_text(pilot)


async def test_callback_log_and_attempt_detail(hostile):
    hostile.failed_callback()
    async with backoffice(S).run_test(size=WIDE) as pilot:
        await settle(pilot)
        await keys(pilot, "5")
        assert cells(pilot, "#log")[0][-1] == ERROR
        assert f" {ERROR} " in screen_text(pilot)
        await keys(pilot, "enter")
        text = screen_text(pilot)
        assert f"URL        {URL} · connection #{hostile.connection.id}" in text
        assert f"Error      http: {ERROR}" in text
        assert "x-shop: [b]north[/]" in text
        assert '"note": "[bold red]hi"' in text and '"[/]"' in text  # the body, JSON arrays and all
        assert '{"errors": [{"msg": "[b]no"}]}' in text
