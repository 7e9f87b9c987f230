"""Screen 4, Customers: search as you type by number, e-mail or name over the contract company's
customers; the detail with subscriptions (own and cross-client, with the partner of a connected
offer), orders and vouchers; create a customer; redeem a cross-client voucher by hand.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static, TabbedContent, TabPane

from storage.customers import create_customer, get_customer, search_customers
from storage.errors import DomainError
from storage.models import Client, Customer
from storage.orders import list_orders, list_subscriptions, list_vouchers, redeem_voucher
from storage.paging import Page
from tui import display
from tui.screens.base import BackofficeScreen, DetailScreen
from tui.widgets.forms import FormField, FormModal, Rule
from tui.widgets.paged_table import Column, PagedTable


class CustomersScreen(BackofficeScreen):
    MODE = "customers"
    HELP = ("Customers of the contract company (all its clients share them). Type to search: digits "
            "search the customer number, text with @ the e-mail, other text names and e-mail, each "
            "by prefix. Enter opens the customer.")
    MUTATING = frozenset({"new"})
    BINDINGS = [
        Binding("n", "new", "New", id="customer.new", tooltip="Create a customer"),
        Binding("slash", "search", "Search", id="list.filter", tooltip="Search customers"),
        Binding("enter", "open", "Open", show=False, id="customer.open", tooltip="Open the customer"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.title = "Customers"
        self._detail: CustomerDetailScreen | None = None

    def body(self) -> ComposeResult:
        yield Input(placeholder="search by customer number, e-mail or name (prefix)", id="customer-search")
        yield PagedTable([Column("number", "Customer ID", 12), Column("email", "E-mail", 36, stretch=True),
                          Column("first", "First name", 14), Column("last", "Last name", 16),
                          Column("lang", "Lang", 4), Column("status", "Status", 11),
                          Column("registered", "Registered", 16)],
                         self._fetch, self._cells, empty="no customers", id="customers")

    @property
    def table(self) -> PagedTable:
        return self.query_one("#customers", PagedTable)

    def _fetch(self, r) -> Page:
        if self.client is None:
            return Page()
        return search_customers(self.client.contract_company_id, r.text, limit=r.limit, after=r.after,
                                before=r.before)

    def _cells(self, c: Customer) -> tuple:
        return (c.customer_number, c.email, c.first_name, c.last_name, c.language, display.status(c.status),
                display.when(c.registration_date))

    def reload(self) -> None:
        self.table.load()

    def on_mount(self) -> None:
        self.table.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def on_key(self, event) -> None:
        # Escape in the search line goes back to the list (the search text stays).
        if event.key == "escape" and self.focused is self.query_one("#customer-search"):
            event.stop()
            self.table.focus()

    def allowed(self, action: str) -> bool | None:
        if action == "open":
            return self.table.selected is not None
        return True

    def action_search(self) -> None:
        self.query_one("#customer-search").focus()

    def on_data_table_row_selected(self, event) -> None:
        self.action_open()

    def action_open(self) -> None:
        customer = self.table.selected
        if customer is None:
            return
        detail = self._detail_screen()
        detail.show_customer(customer.customer_number)
        self.app.push_screen(detail)

    def _detail_screen(self) -> CustomerDetailScreen:
        """One detail screen, built once and shown again for each customer opened: building it
        (header, tabs, table, footer: styles and layout of each) took 250 of the 300 ms of
        opening a customer."""
        if self._detail is None:
            self._detail = CustomerDetailScreen()
            self.app.install_screen(self._detail, name=f"customer-detail-{id(self)}")
        return self._detail

    def prepare(self):
        """Build the detail screen ahead, unseen (the app calls this when idle after start);
        returns what to await for its widgets to be mounted."""
        detail = self._detail_screen()
        if detail.is_running:
            return None
        _, mounted = self.app._get_screen(detail)
        self.app._load_screen_css(detail)
        detail._screen_resized(self.app.size)
        return mounted

    def action_new(self) -> None:
        def created(customer: Customer | None) -> None:
            if customer is not None:
                self.app.notify(f"Customer {customer.customer_number} {customer.email} created", title="Created",
                                markup=False)

        self.app.push_screen(CustomerForm(), created)


class CustomerForm(FormModal):
    TITLE = "New customer"

    def fields(self) -> ComposeResult:
        yield FormField("E-mail", "email", rules=[Rule(lambda k, v: k.email("email", v))])
        yield FormField("First name", "firstName")
        yield FormField("Last name", "lastName")
        yield FormField("Language (two letters)", "language", value="de", max_length=2,
                        rules=[Rule(lambda k, v: k.language("language", v))])

    def save(self) -> Customer:
        app = self.app
        customer = create_customer(app.client.contract_company_id, email=self.value("email"),
                                   first_name=self.value("firstName"), last_name=self.value("lastName"),
                                   language=self.value("language"), actor=app.actor, client=app.client)
        app.data_changed()
        return customer


class RedeemForm(FormModal):
    """Redeem a cross-client voucher for this customer by hand (what the source's web service does)."""

    def __init__(self, customer: Customer):
        super().__init__()
        self.customer = customer
        self.TITLE = (f"Redeem a cross-client voucher for customer {customer.customer_number} "
                      f"({customer.email})")

    def fields(self) -> ComposeResult:
        yield FormField("Voucher code from the callback (case and dashes do not matter)", "voucherCode",
                        placeholder="XXXX-XXXX-XXXX-XXXX",
                        rules=[Rule(lambda k, v: k.required("voucherCode", v))])

    def save(self):
        sub = redeem_voucher(self.app.client, self.customer.customer_number, self.value("voucherCode"),
                             actor=self.app.actor)
        self.app.data_changed()
        return sub


class CustomerDetailScreen(DetailScreen):
    HELP = ("One customer: subscriptions in this client (cross-client ones name the partner of the "
            "connected offer), orders placed in this client, and vouchers. v redeems a voucher for "
            "the customer. [ and ] switch tabs.")
    MUTATING = frozenset({"redeem"})
    BINDINGS = [
        Binding("v", "redeem", "Redeem voucher", id="customer.redeem",
                tooltip="Redeem a cross-client voucher for this customer"),
        Binding("left_square_bracket", "tab(-1)", "Prev tab", id="tabs.previous", tooltip="Previous tab"),
        Binding("right_square_bracket", "tab(1)", "Next tab", id="tabs.next", tooltip="Next tab"),
    ]
    TABS = ("subscriptions", "orders", "vouchers")

    def __init__(self, number: str | None = None):
        super().__init__()
        self.number = number
        self.customer: Customer | None = None
        self.title = f"Customer {number}" if number else "Customer"
        self._partners: dict[str, Client | None] = {}

    def show_customer(self, number: str) -> None:
        """Show another customer on this (already built) screen: it reloads when shown, and shows
        nothing of the previous customer meanwhile. The tab last looked at stays active."""
        if number == self.number:
            return
        self.number = number
        self.customer = None
        self.title = f"Customer {number}"
        self._seen = None  # reload when shown, even if the data did not change
        if self.is_mounted:
            self.query_one("#customer-info", Static).update(display.markup("[b]Customer $number[/b]",
                                                                           number=number))
            for table in self.query(PagedTable):
                table.clear()
                table.items = {}
                table.page = None

    def body(self) -> ComposeResult:
        yield Static(id="customer-info", classes="panel")
        with TabbedContent(id="customer-tabs"):
            with TabPane("Subscriptions", id="subscriptions"):
                yield self._table("subscriptions")
            # Built when first shown (see `_table`): a customer is mostly opened for one tab.
            yield TabPane("Orders", id="orders")
            yield TabPane("Vouchers", id="vouchers")

    def _table(self, tab: str) -> PagedTable:
        """The table of one tab. Only the first tab's is built with the screen; the others are
        mounted (and load their first page) the first time their tab is activated, so opening a
        customer builds and fills one table, not three."""
        if tab == "subscriptions":
            return PagedTable([Column("id", "#", 6), Column("offer", "Offer", 18), Column("type", "Type", 24),
                               Column("status", "Status", 8), Column("start", "Start", 16),
                               Column("term", "Term", 8), Column("price", "Price", 11),
                               Column("partner", "Connected offer partner", 48, stretch=True)],
                              self._subscriptions, self._subscription_cells, page_size=20,
                              empty="no subscriptions in this client", id="subscriptions-table")
        if tab == "orders":
            return PagedTable([Column("id", "Order", 7), Column("date", "Date", 16),
                               Column("basket", "Basket", 30, stretch=True), Column("total", "Total", 12)],
                              self._orders, self._order_cells, page_size=20,
                              empty="no orders in this client", id="orders-table")
        return PagedTable([Column("code", "Voucher code", 20), Column("status", "Status", 9),
                           Column("source", "Source (redeems)", 22), Column("target", "Target (sold)", 22),
                           Column("offer", "Offer", 36, stretch=True), Column("created", "Created", 16),
                           Column("redeemed", "Redeemed", 16)], self._vouchers, self._voucher_cells,
                          page_size=20, empty="no vouchers", id="vouchers-table")

    def _subscriptions(self, r) -> Page:
        return list_subscriptions(self.client, customer=self.customer, limit=r.limit, after=r.after, before=r.before)

    def _partner(self, company_id: str | None) -> str:
        if company_id not in self._partners:
            self._partners[company_id] = Client.get_or_none(Client.company_id == company_id)
        client = self._partners[company_id]
        return f"{client.name} ({company_id})" if client else (company_id or "")

    def _subscription_cells(self, s) -> tuple:
        partner = ""
        if s.connected_offer:
            partner = (f"{self._partner(s.connected_company_id)}, customer {s.connected_customer_id}, "
                       f"their offer {s.connected_offer_id}")
        return (str(s.id), s.offer.internal_title, s.subscription_type,
                display.status(s.status), display.when(s.start_date), display.term(s.term, s.term_unit),
                display.money(s.price, s.currency), partner)

    def _orders(self, r) -> Page:
        return list_orders(self.client, customer=self.customer, limit=r.limit, after=r.after, before=r.before)

    def _order_cells(self, o) -> tuple:
        basket = f"{o.basket.internal_title} #{o.basket_id}" if o.basket_id else ""
        return (str(o.id), display.when(o.created_at), basket, display.money(o.total, o.currency))

    def _vouchers(self, r) -> Page:
        return list_vouchers(self.client, customer=self.customer, limit=r.limit, after=r.after, before=r.before)

    def _voucher_cells(self, v) -> tuple:
        return (v.code, display.status(v.status), f"{v.source.name}", f"{v.target.name}",
                f"{v.offer.internal_title} {v.offer.plenigo_offer_id}", display.when(v.created_at),
                display.when(v.redeemed_at))

    def reload(self) -> None:
        if self.number is None:  # built ahead, no customer chosen yet
            return
        try:
            self.customer = get_customer(self.client.contract_company_id, self.number)
        except DomainError as exc:
            self.refused(exc)
            self.app.pop_screen()
            return
        c = self.customer
        self.query_one("#customer-info", Static).update(display.markup(
            "[b]Customer $number[/b]  $first $last <$email>  language $language · "
            + display.status_markup(c.status) + " · registered $registered · contract company $company",
            number=c.customer_number, first=c.first_name, last=c.last_name, email=c.email, language=c.language,
            status=c.status, registered=display.when(c.registration_date), company=c.contract_company.name))
        for table in self.query(PagedTable):  # the tabs built so far; the others load when built
            table.load()

    def on_mount(self) -> None:
        self.query_one("#subscriptions-table").focus()

    async def on_tabbed_content_tab_activated(self, event) -> None:
        pane = event.pane
        tables = pane.query(PagedTable)
        if tables:
            tables.first().focus()
            return
        table = self._table(pane.id)
        await pane.mount(table)
        if self.customer is not None:  # else the screen's first reload (still to come) loads it
            table.load()
        table.focus()

    def action_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = self.TABS[(self.TABS.index(tabs.active) + step) % len(self.TABS)]

    def action_redeem(self) -> None:
        def redeemed(sub) -> None:
            if sub is not None:
                self.app.notify(f"Subscription #{sub.id} ({sub.subscription_type}) created for customer "
                                f"{self.number}", title="Voucher redeemed", markup=False)

        self.app.push_screen(RedeemForm(self.customer), redeemed)
