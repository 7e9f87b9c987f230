"""Screen 3, Baskets: the client's baskets, the basket editor and "place order".

The editor keeps the items in memory and checks them with storage's own `check_items` after every
change, so a broken basket rule (78001-78012, 90059, a connection that is not usable) shows at the
field while editing; saving runs `create_basket`/`update_basket`, which checks the same rules again
inside its transaction. "Place order" picks or creates a customer, chooses the optional items and
runs `place_order`; the result shows the order, the subscriptions and the queued callbacks.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from storage.baskets import (
    ItemSpec,
    archive_basket,
    basket_items,
    check_items,
    create_basket,
    get_basket,
    list_baskets,
    update_basket,
)
from storage.customers import search_customers
from storage.errors import DomainError
from storage.models import Basket, BasketItem, Customer, Offer
from storage.offers import external_usable, list_external_offers, list_own_offers
from storage.orders import OrderResult, place_order
from storage.paging import Page
from tui import display
from tui.screens.base import BackofficeScreen, DetailScreen, Guarded
from tui.screens.customers import CustomerForm
from tui.widgets.filter_bar import FilterBar
from tui.widgets.forms import FormField, Rule
from tui.widgets.modals import ConfirmModal, InfoModal, SearchPicker, note_no_match
from tui.widgets.paged_table import READS, Column, PagedTable


class BasketsScreen(BackofficeScreen):
    MODE = "baskets"
    HELP = ("The client's baskets (shopping carts). Enter opens the editor; o places an order for a "
            "customer on the selected basket.")
    MUTATING = frozenset({"new", "edit", "order", "archive"})
    BINDINGS = [
        Binding("n", "new", "New", id="basket.new", tooltip="Build a new basket"),
        Binding("e", "edit", "Edit", id="basket.edit", tooltip="Open the basket editor"),
        Binding("o", "order", "Place order", id="basket.order", tooltip="Place an order on this basket"),
        Binding("x", "archive", "Archive", id="basket.archive", tooltip="Archive the basket"),
        Binding("slash", "filter", "Filter", id="list.filter", tooltip="Search titles"),
        Binding("enter", "edit", "Open", show=False, id="basket.open", tooltip="Open the basket editor"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.title = "Baskets"

    def body(self) -> ComposeResult:
        table = PagedTable([Column("id", "#", 5), Column("internal", "Internal title", 24),
                            Column("title", "Title", 34), Column("items", "Items", 40, stretch=True),
                            Column("status", "Status", 9), Column("changed", "Changed", 16)],
                           self._fetch, self._cells, empty="no baskets: n builds one", id="baskets")
        yield FilterBar(table)
        yield table

    @property
    def table(self) -> PagedTable:
        return self.query_one("#baskets", PagedTable)

    @property
    def basket(self) -> Basket | None:
        return self.table.selected

    def _fetch(self, r) -> Page:
        if self.client is None:
            return Page()
        page = list_baskets(self.client, status=None, search=r.text, limit=r.limit, after=r.after, before=r.before)
        for basket in page:
            basket.item_list = basket_items(basket)
        return page

    def _cells(self, b: Basket) -> tuple:
        items = ", ".join(f"{i.position}:{i.offer.internal_title}{'*' if i.offer.client_id != b.client_id else ''}"
                          f"{'?' if i.option else ''}" for i in b.item_list)
        return (str(b.id), b.internal_title, b.title, items, display.status(b.status), display.when(b.changed_at))

    def reload(self) -> None:
        self.table.load()

    def on_mount(self) -> None:
        self.table.focus()

    def allowed(self, action: str) -> bool | None:
        if action in ("edit", "order", "archive"):
            return self.basket is not None and self.basket.status == "ACTIVE"
        return True

    def on_data_table_row_selected(self, event) -> None:
        if self.check_action("edit", ()):
            self.action_edit()

    def action_filter(self) -> None:
        self.query_one(FilterBar).open()

    def action_new(self) -> None:
        self.app.push_screen(BasketEditor(None))

    def action_edit(self) -> None:
        self.app.push_screen(BasketEditor(self.basket.id))

    def action_order(self) -> None:
        self.app.push_screen(PlaceOrderModal(self.basket.id), self._ordered)

    def _ordered(self, result: OrderResult | None) -> None:
        if result is not None:
            self.app.push_screen(InfoModal(f"Order #{result.order.id} placed", order_summary(result)))

    def action_archive(self) -> None:
        basket = self.basket

        def answer(yes: bool | None) -> None:
            if yes:
                self.attempt(archive_basket, basket.id, self.client, actor=self.actor,
                             done=f"Basket {basket.internal_title} archived")

        self.app.push_screen(ConfirmModal("Archive basket", f"Archive basket {basket.internal_title}? "
                                          "It can no longer be sold.", danger=True), answer)


def order_summary(result: OrderResult) -> Text:
    order = result.order
    lines = [f"Order #{order.id} for customer {order.customer.customer_number} "
             f"({order.customer.email}), total {display.money(order.total, order.currency)}", "", "Subscriptions:"]
    for sub in result.subscriptions:
        owner = "" if sub.client_id == order.client_id else f" in {sub.client.name} (connected offer)"
        lines.append(f"  #{sub.id} {sub.offer.internal_title} {sub.offer.plenigo_offer_id}{owner}, "
                     f"{sub.subscription_type}, {sub.status}")
    if not result.subscriptions:
        lines.append("  none")
    for voucher, callback in zip(result.vouchers, result.callbacks, strict=False):
        lines += ["", f"Cross-client voucher {voucher.code} for {voucher.source.name} ({voucher.source.company_id})",
                  f"  callback #{callback.id} queued to {callback.connection.callback_url}"]
    if result.transactions:
        count = len(result.transactions)
        lines += ["", f"{count} cross-client transaction{'' if count == 1 else 's'} recorded for settlement"]
    return Text("\n".join(lines))


@dataclass
class EditorItem:
    offer: Offer
    option: bool = False
    default_selected: bool = True


class BasketEditor(DetailScreen):
    """Edit titles and items; rule errors appear at the items while editing; ctrl+s saves."""

    HELP = ("a adds an own or external offer, x removes the item, shift+up/down move it, o toggles "
            "'optional', t toggles 'selected by default'. Basket rules are checked as you edit; "
            "ctrl+s saves.")
    MUTATING = frozenset({"save", "add", "remove", "move_up", "move_down", "toggle_option", "toggle_default"})
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="basket.save", tooltip="Save the basket"),
        Binding("a", "add", "Add item", id="basket.add", tooltip="Add an own or external offer"),
        Binding("x,delete", "remove", "Remove", id="basket.remove", tooltip="Remove the selected item"),
        Binding("shift+up", "move_up", "Move up", id="basket.move_up", tooltip="Move the item up"),
        Binding("shift+down", "move_down", "Move down", id="basket.move_down", tooltip="Move the item down"),
        Binding("o", "toggle_option", "Optional", id="basket.option", tooltip="Toggle: buyer may deselect it"),
        Binding("t", "toggle_default", "Default", id="basket.default",
                tooltip="Toggle: optional item selected by default"),
    ]

    def __init__(self, basket_id: int | None):
        super().__init__()
        self.basket_id = basket_id
        self.items: list[EditorItem] = []
        self.dirty = False
        self._loaded: dict[str | None, str] = {}
        self.title = "New basket" if basket_id is None else f"Basket #{basket_id}"

    def body(self) -> ComposeResult:
        with Vertical(classes="editor"):
            with Horizontal(classes="editor-titles"):
                yield FormField("Internal title", "internalTitle",
                                rules=[Rule(lambda k, v: k.required("internalTitle", v))])
                yield FormField("Title shown to buyers", "title", rules=[Rule(lambda k, v: k.required("title", v))])
            yield Label("Items (* external offer, from a connected client)")
            yield DataTable(id="items", cursor_type="row", zebra_stripes=True)
            yield Static("", id="items-error", classes="field-error", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#items", DataTable)
        for key, label, width in (("pos", "Pos", 4), ("offer", "Offer", 21), ("title", "Title", 26),
                                  ("owner", "Owner", 24), ("price", "Price", 11), ("option", "Optional", 8),
                                  ("default", "Selected", 8)):
            table.add_column(label, key=key, width=width)
        if self.basket_id is not None:
            basket = get_basket(self.basket_id, self.client)
            self.query_one("#f-internalTitle-input", Input).value = basket.internal_title
            self.query_one("#f-title-input", Input).value = basket.title
            self.items = [EditorItem(i.offer, i.option, i.default_selected) for i in basket_items(basket)]
        self._show_items()
        self.dirty = False
        # The titles as loaded: filling the fields posts Input.Changed after this, which is no edit.
        self._loaded = {field.id: field.value for field in self.query(Input)}
        self.query_one("#f-internalTitle-input").focus()

    def reload(self) -> None:
        """The editor holds unsaved work: it is not reloaded behind the operator's back."""

    def _specs(self) -> list[ItemSpec]:
        return [ItemSpec(item.offer.id, pos, item.option, item.default_selected,
                         external=item.offer.client_id != self.client.id)
                for pos, item in enumerate(self.items, 1)]

    def _show_items(self, cursor: int | None = None) -> None:
        table = self.query_one("#items", DataTable)
        row = table.cursor_row if cursor is None else cursor
        table.clear()
        for pos, item in enumerate(self.items, 1):
            o = item.offer
            external = o.client_id != self.client.id
            cells = (str(pos), o.plenigo_offer_id + ("*" if external else ""), o.public_title,
                     f"{o.client.name}" + (" (external)" if external else " (own)"),
                     display.money(o.price, o.currency), display.yes_no(item.option),
                     display.yes_no(item.default_selected) if item.option else "always")
            table.add_row(*(display.cell(value) for value in cells), key=str(pos))
        if self.items:
            table.move_cursor(row=max(0, min(row, len(self.items) - 1)))
        self._check_rules()

    def _check_rules(self) -> None:
        """Run storage's basket rules on the items as they stand; show the first broken one."""
        error = self.query_one("#items-error", Static)
        try:
            check_items(self.client, self._specs())  # reads only; the save checks again in its transaction
        except DomainError as exc:
            error.update(f"{exc.code}: {exc.message}")
            return
        error.update("")

    @property
    def cursor(self) -> int:
        return self.query_one("#items", DataTable).cursor_row

    def _changed(self, cursor: int | None = None) -> None:
        self.dirty = True
        self._show_items(cursor)
        self.refresh_bindings()

    def allowed(self, action: str) -> bool | None:
        if action in ("remove", "toggle_option", "move_up", "move_down"):
            return bool(self.items)
        if action == "toggle_default":
            return bool(self.items) and 0 <= self.cursor < len(self.items) and self.items[self.cursor].option
        return True

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.value != self._loaded.get(event.input.id):
            self.dirty = True

    def action_add(self) -> None:
        def picked(offer: Offer | None) -> None:
            if offer is not None:
                self.items.append(EditorItem(offer))
                self._changed(len(self.items) - 1)
                self.query_one("#items").focus()

        self.app.push_screen(OfferPicker(), picked)

    def action_remove(self) -> None:
        if 0 <= self.cursor < len(self.items):
            del self.items[self.cursor]
            self._changed()

    def _move(self, step: int) -> None:
        i = self.cursor
        j = i + step
        if 0 <= i < len(self.items) and 0 <= j < len(self.items):
            self.items[i], self.items[j] = self.items[j], self.items[i]
            self._changed(j)

    def action_move_up(self) -> None:
        self._move(-1)

    def action_move_down(self) -> None:
        self._move(1)

    def action_toggle_option(self) -> None:
        item = self.items[self.cursor]
        item.option = not item.option
        item.default_selected = not item.option or item.default_selected
        self._changed()

    def action_toggle_default(self) -> None:
        item = self.items[self.cursor]
        item.default_selected = not item.default_selected
        self._changed()

    def action_save(self) -> None:
        internal = self.query_one("#f-internalTitle", FormField)
        title = self.query_one("#f-title", FormField)
        for field in (internal, title):
            field.show_error("")
        try:
            if self.basket_id is None:
                basket = create_basket(self.client, internal_title=internal.value, title=title.value,
                                       items=self._specs(), actor=self.actor)
            else:
                basket = update_basket(self.basket_id, self.client, internal_title=internal.value,
                                       title=title.value, items=self._specs(), actor=self.actor)
        except DomainError as exc:
            for error in exc.errors:
                if error.field in ("internalTitle", "title"):
                    self.query_one(f"#f-{error.field}", FormField).show_error(error.error)
            if not exc.errors or not {e.field for e in exc.errors} & {"internalTitle", "title"}:
                self.query_one("#items-error", Static).update(f"{exc.code}: {exc.message}")
            self.refused(exc)
            return
        self.dirty = False
        self.basket_id = basket.id
        self.title = f"Basket #{basket.id}"
        self.app.data_changed()
        self.app.notify(f"Basket {basket.internal_title} saved", title="Saved", markup=False)

    def action_back(self) -> None:
        if not self.dirty:
            self.app.pop_screen()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.app.pop_screen()

        self.app.push_screen(ConfirmModal("Unsaved changes", "Leave the editor and drop the changes?",
                                          yes="Drop changes", danger=True), answer)


class OfferPicker(SearchPicker):
    """Own offers and external offers shared with the client, searchable; enter adds one."""

    TITLE = "Add an offer to the basket"
    WHAT = "offer"
    PLACEHOLDER = "search titles"
    HINT = "* external: a connected client's cross-client offer · enter add · esc cancel"
    SEARCH_ID, LIST_ID = "offer-search", "offer-list"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker.cancel", tooltip="Add nothing"),
                Binding("down", "focus_list", "List", show=False, id="picker.list", tooltip="Go to the list")]

    def __init__(self) -> None:
        super().__init__()
        self.offers: dict[str, Offer] = {}

    def _fill(self, text: str) -> None:
        client = self.app.client
        options = self.query_one(OptionList)
        options.clear_options()
        self.offers = {}
        for offer in list_own_offers(client, search=text, limit=100):
            self.offers[str(offer.id)] = offer
            options.add_option(Option(display.plain(
                f"  {offer.plenigo_offer_id}  {offer.internal_title:<20} {offer.public_title}"
                f"  {display.money(offer.price, offer.currency)}"), id=str(offer.id)))
        for offer in list_external_offers(client, search=text, limit=100):
            self.offers[str(offer.id)] = offer
            usable = "" if external_usable(offer, client) else "  (connection not usable now)"
            options.add_option(Option(display.plain(
                f"* {offer.plenigo_offer_id}  {offer.internal_title:<20} {offer.public_title}"
                f"  {display.money(offer.price, offer.currency)}  from {offer.client.name}{usable}"),
                id=str(offer.id)))
        if options.option_count:
            options.highlighted = 0

    def value(self, option_id: str) -> Offer:
        return self.offers[option_id]


class PlaceOrderModal(Guarded, ModalScreen[OrderResult | None]):
    """Pick or create the customer, choose optional items, confirm: one `place_order`."""

    MUTATING = frozenset({"confirm", "new_customer"})
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="order.cancel", tooltip="Place no order"),
        Binding("ctrl+s", "confirm", "Place order", id="order.confirm", tooltip="Place the order"),
        Binding("ctrl+n", "new_customer", "New customer", id="order.new_customer",
                tooltip="Create the customer first"),
    ]

    def __init__(self, basket_id: int):
        super().__init__()
        self.basket_id = basket_id
        self.customer: Customer | None = None
        self.found: dict[str, Customer] = {}
        self._asked = self._answered = 0  # customer searches started / shown
        self._take_when_answered = False

    def compose(self) -> ComposeResult:
        basket = get_basket(self.basket_id, self.app.client)
        self.basket_items: list[BasketItem] = basket_items(basket)
        with Vertical(classes="dialog order"):
            yield Static(f"Place order: {basket.title} ({basket.internal_title})", classes="form-title",
                         markup=False)
            yield Label("Customer: number, e-mail or name (enter takes the first match, ctrl+n creates one)")
            yield Input(placeholder="search customers", id="order-customer-search")
            yield OptionList(id="order-customers")
            yield Static("no customer chosen", id="order-customer", markup=False)
            yield Label("Items (optional ones can be chosen with space)")
            yield Static(id="order-fixed", markup=False)
            yield SelectionList(*[(display.plain(f"{i.position}: {i.offer.public_title} "
                                                 f"{display.money(i.offer.price, i.offer.currency)}"),
                                   i.position, i.default_selected)
                                  for i in self.basket_items if i.option], id="order-options")
            yield Static("", id="form-error", markup=False)
            yield Static("ctrl+s place order · ctrl+n new customer · esc cancel", classes="form-hint")

    def on_mount(self) -> None:
        fixed = [f"  {i.position}: {i.offer.public_title} {display.money(i.offer.price, i.offer.currency)}"
                 f"{'  (external, ' + i.offer.client.name + ')' if i.offer.client_id != self.app.client.id else ''}"
                 for i in self.basket_items if not i.option]
        self.query_one("#order-fixed", Static).update("\n".join(fixed))
        self.query_one("#order-options").display = any(i.option for i in self.basket_items)
        self.query_one("#order-customer-search").focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._asked += 1
        self._search(event.value, self._asked)

    @work(exclusive=True, group="order-customer-search")
    async def _search(self, text: str, seq: int) -> None:
        """Search on the lists' reading thread: a one-letter search of a million customers takes
        tens of milliseconds, which the keys typed meanwhile must not wait for. A newer keystroke
        cancels this worker, so an older answer is never shown over a newer one."""
        found: list[Customer] = []
        if text.strip():
            company = self.app.client.contract_company_id
            found = await asyncio.get_running_loop().run_in_executor(
                READS, lambda: list(search_customers(company, text, limit=8)))
        options = self.query_one("#order-customers", OptionList)
        options.clear_options()
        self.found = {str(customer.id): customer for customer in found}
        for customer in found:
            options.add_option(Option(display.plain(f"{customer.customer_number}  {customer.email}  "
                                                    f"{customer.first_name} {customer.last_name}  "
                                                    f"{customer.status}"), id=str(customer.id)))
        if options.option_count:
            options.highlighted = 0
        note_no_match(options, text, "customer", " (ctrl+n creates one)")
        self._answered = seq
        if self._take_when_answered:
            self._take_when_answered = False
            self._take_first()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._answered != self._asked:
            # Enter came before the answer to the last keystroke: take its first match, never
            # one of the text typed before.
            self._take_when_answered = True
            return
        self._take_first()

    def _take_first(self) -> None:
        options = self.query_one("#order-customers", OptionList)
        if options.highlighted is not None and options.option_count:
            option = options.get_option_at_index(options.highlighted)
            if not option.disabled:
                self._choose(self.found[option.id])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(self.found[event.option.id])

    def _choose(self, customer: Customer) -> None:
        self.customer = customer
        self.query_one("#order-customer", Static).update(
            f"Customer: {customer.customer_number} {customer.first_name} {customer.last_name} <{customer.email}>")
        options = self.query_one("#order-options", SelectionList)
        (options if options.display else self.query_one("#order-customer-search")).focus()

    def action_new_customer(self) -> None:
        def created(customer: Customer | None) -> None:
            if customer is not None:
                self._choose(customer)

        self.app.push_screen(CustomerForm(), created)

    def action_confirm(self) -> None:
        if self.customer is None:
            self.query_one("#form-error", Static).update("Choose a customer first.")
            return
        selected = list(self.query_one("#order-options", SelectionList).selected)
        try:
            result = place_order(self.app.client, self.basket_id, self.customer.customer_number,
                                 selected_positions=selected, actor=self.app.actor)
        except DomainError as exc:
            self.query_one("#form-error", Static).update(f"Refused ({exc.code}): {exc.message}")
            self.refused(exc)
            return
        self.app.data_changed()
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)
