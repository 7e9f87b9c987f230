"""Screen 6, Settings: contract companies and their module switch, clients, API tokens of the
current client (the token is shown once at creation), the mail transport as configured, the
state of the outbox worker and the API, and the outbox itself: e-mails and callbacks by status.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Checkbox, Label, Select, Static, TabbedContent, TabPane

from storage.callbacks import list_callbacks
from storage.models import ApiToken, ContractCompany
from storage.outbox import list_emails
from storage.paging import Page
from storage.tenancy import (
    create_client,
    create_contract_company,
    list_clients,
    list_contract_companies,
    set_cross_client_module,
)
from storage.tokens import create_token, list_tokens, revoke_token
from tui import display
from tui.screens.base import BackofficeScreen
from tui.widgets.filter_bar import FilterBar
from tui.widgets.forms import FormField, FormModal, Rule
from tui.widgets.modals import ConfirmModal, InfoModal
from tui.widgets.paged_table import Column, PagedTable

TABS = ("companies", "clients", "tokens", "mail", "outbox")
OUTBOX_STATES = (("QUEUED", "PENDING"), ("SENDING", "SENDING"), ("FAILED", "FAILED"))
SECRET_WORDS = ("password", "secret", "token", "key")


class SettingsScreen(BackofficeScreen):
    MODE = "settings"
    HELP = ("Contract companies (m switches the module CROSS_CLIENT_CONNECTIONS), clients, the API "
            "tokens of the current client, the mail transport and the outbox of e-mails and "
            "callbacks (f cycles queued / sending / failed). n creates in the tab you are on.")
    MUTATING = frozenset({"new", "module", "revoke"})
    BINDINGS = [
        Binding("n", "new", "New", id="settings.new", tooltip="Create a company, client or token"),
        Binding("m", "module", "Module on/off", id="settings.module",
                tooltip="Switch CROSS_CLIENT_CONNECTIONS for the contract company"),
        Binding("x", "revoke", "Revoke", id="settings.revoke", tooltip="Revoke the API token"),
        Binding("f", "outbox_state", "Outbox state", id="settings.outbox_state",
                tooltip="Cycle the outbox lists: queued, sending, failed"),
        Binding("left_square_bracket", "tab(-1)", "Prev tab", id="tabs.previous", tooltip="Previous tab"),
        Binding("right_square_bracket", "tab(1)", "Next tab", id="tabs.next", tooltip="Next tab"),
        Binding("slash", "filter", "Filter", id="list.filter", tooltip="Filter the list"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.title = "Settings"
        self.outbox_state = 0

    def body(self) -> ComposeResult:
        with TabbedContent(id="settings-tabs"):
            with TabPane("Contract companies", id="companies"):
                yield PagedTable([Column("id", "#", 5), Column("name", "Contract company", 30),
                                  Column("module", "CROSS_CLIENT_CONNECTIONS", 24),
                                  Column("created", "Created", 16)], self._companies, self._company_cells,
                                 local_filter=True, id="companies-table")
            with TabPane("Clients", id="clients"):
                table = PagedTable([Column("company_id", "Company ID", 20), Column("name", "Client", 26),
                                    Column("contract", "Contract company", 26),
                                    Column("email", "Contact e-mail", 32, stretch=True)],
                                   self._clients, self._client_cells, id="clients-table")
                yield FilterBar(table, placeholder="company id or name")
                yield table
            with TabPane("API tokens", id="tokens"):
                yield PagedTable([Column("id", "#", 5), Column("name", "Name", 20),
                                  Column("prefix", "Token", 14),
                                  Column("state", "State", 24), Column("created", "Created", 16),
                                  Column("used", "Last used", 16)], self._tokens, self._token_cells,
                                 empty="no API tokens: n creates one", local_filter=True, id="tokens-table")
            with TabPane("Mail", id="mail"):
                yield Static(id="mail-info", classes="panel")
            with TabPane("Outbox", id="outbox"):
                yield Static(id="outbox-state", classes="filters")
                yield Label("E-mails")
                yield PagedTable([Column("id", "#", 6), Column("kind", "Kind", 20), Column("to", "To", 30),
                                  Column("status", "Status", 8), Column("tries", "Tries", 5),
                                  Column("next", "Next attempt", 16), Column("error", "Last error", 40, stretch=True)],
                                 self._outbox_emails, self._email_cells, page_size=20, empty="none",
                                 id="outbox-emails-table")
                yield Label("Callbacks")
                yield PagedTable([Column("id", "#", 6), Column("to", "Receiver", 22, stretch=True),
                                  Column("entity", "Entity", 28),
                                  Column("status", "Status", 9), Column("tries", "Tries", 5),
                                  Column("next", "Next attempt", 16), Column("created", "Created", 16)],
                                 self._outbox_callbacks, self._callback_cells, page_size=20, empty="none",
                                 id="outbox-callbacks-table")

    # -- lists ------------------------------------------------------------------------------
    def _companies(self, r) -> Page:
        return list_contract_companies(limit=r.limit, after=r.after)

    def _company_cells(self, c: ContractCompany) -> tuple:
        module = Text("on", style="bold green") if c.cross_client_module else Text("off", style="bold red")
        return (str(c.id), c.name, module, display.when(c.created_at))

    def _clients(self, r) -> Page:
        return list_clients(search=r.text, limit=r.limit, after=r.after)

    def _client_cells(self, c) -> tuple:
        name = c.name + ("  (current)" if self.client and c.id == self.client.id else "")
        return (c.company_id, name, c.contract_company.name, c.contact_email)

    def _tokens(self, r) -> Page:
        return list_tokens(self.client, limit=r.limit, after=r.after) if self.client else Page()

    def _token_cells(self, t: ApiToken) -> tuple:
        state = (Text(f"revoked {display.when(t.revoked_at)}", style="dim") if t.revoked_at
                 else Text("active", style="green"))
        return (str(t.id), t.name, t.prefix + "...", state, display.when(t.created_at),
                display.when(t.last_used_at) or "never")

    def _outbox_emails(self, r) -> Page:
        return list_emails(status=OUTBOX_STATES[self.outbox_state][0], limit=r.limit, after=r.after,
                           before=r.before)

    def _email_cells(self, e) -> tuple:
        return (str(e.id), e.kind, e.to_address, display.status(e.status), str(e.attempts),
                display.when(e.next_attempt_at), (e.last_error or "")[:200])

    def _outbox_callbacks(self, r) -> Page:
        return list_callbacks(status=OUTBOX_STATES[self.outbox_state][1], limit=r.limit, after=r.after,
                              before=r.before)

    def _callback_cells(self, c) -> tuple:
        return (str(c.id), c.client.name, f"{c.entity_type} {c.callback_type} {c.entity_id}",
                display.status(c.status), str(c.tries), display.when(c.next_attempt_at), display.when(c.created_at))

    # -- state ------------------------------------------------------------------------------
    @property
    def tab(self) -> str:
        return self.query_one(TabbedContent).active or "companies"

    def _table(self, name: str) -> PagedTable:
        return self.query_one(f"#{name}-table", PagedTable)

    def reload(self) -> None:
        for name in ("companies", "clients", "tokens", "outbox-emails", "outbox-callbacks"):
            self._table(name).load()
        self._show_mail()
        self._show_outbox_state()

    def _show_outbox_state(self) -> None:
        emails, callbacks = OUTBOX_STATES[self.outbox_state]
        self.query_one("#outbox-state", Static).update(
            f"Showing e-mails {emails} and callbacks {callbacks}   (f: queued / sending / failed)")

    def _show_mail(self) -> None:
        app = self.app
        mail = app.config.section("mail")
        settings = [f"  {key} = {'********' if any(w in key.lower() for w in SECRET_WORDS) and value else value}"
                    for key, value in sorted(mail.items())]
        # Markup only in the template: config values, the API's error and the operator go in as $values.
        lines = ["[b]Mail transport[/b] (config file section \\[mail])", "$settings",
                 "", "[b]Outbox worker[/b]", "  $worker", "", "[b]HTTP API[/b]", "  $api",
                 "", "[b]Config file[/b]  $path",
                 "[b]Operator[/b]  $operator" + ("  (read-only session)" if app.readonly else "")]
        self.query_one("#mail-info", Static).update(display.markup(
            "\n".join(lines), settings="\n".join(settings) or "  not configured: the mailer's defaults apply",
            worker=app.worker_status, api=app.api_status, path=app.config.path or "(none: defaults)",
            operator=app.actor.name))

    def on_mount(self) -> None:
        self._table("companies").focus()

    def on_tabbed_content_tab_activated(self, event) -> None:
        tab = event.pane.id
        target = {"outbox": "outbox-emails"}.get(tab, tab)
        if tab != "mail":
            self._table(target).focus()
        self.refresh_bindings()

    def allowed(self, action: str) -> bool | None:
        tab = self.tab
        if action == "new":
            return tab in ("companies", "clients", "tokens")
        if action == "module":
            return tab == "companies" and self._table("companies").selected is not None
        if action == "revoke":
            token = self._table("tokens").selected if tab == "tokens" else None
            return token is not None and token.revoked_at is None
        if action == "outbox_state":
            return tab == "outbox"
        if action == "filter":
            return tab in ("companies", "clients", "tokens")
        return True

    # -- actions ------------------------------------------------------------------------------
    def action_tab(self, step: int) -> None:
        self.query_one(TabbedContent).active = TABS[(TABS.index(self.tab) + step) % len(TABS)]

    def action_filter(self) -> None:
        bars = self.query(f"#{self.tab} FilterBar")
        if bars:
            bars.first(FilterBar).open()

    def action_outbox_state(self) -> None:
        self.outbox_state = (self.outbox_state + 1) % len(OUTBOX_STATES)
        self._show_outbox_state()
        self._table("outbox-emails").load()
        self._table("outbox-callbacks").load()

    def action_new(self) -> None:
        if self.tab == "companies":
            self.app.push_screen(ContractCompanyForm())
        elif self.tab == "clients":
            self.app.push_screen(ClientForm())
        else:
            self.app.push_screen(TokenForm(), self._token_created)

    def _token_created(self, created) -> None:
        if created is not None:
            token, plain = created
            self.app.push_screen(InfoModal(
                f"API token #{token.id} '{token.name}' created",
                Text(f"{plain}\n\nThis is the only time the token is shown: store it now. It is sent as "
                     f"header X-plenigo-token by {self.client.name}'s integration.")))

    def action_module(self) -> None:
        company = self._table("companies").selected
        turn_on = not company.cross_client_module

        def answer(yes: bool | None) -> None:
            if yes:
                self.attempt(set_cross_client_module, company.id, turn_on, actor=self.actor,
                             done=f"CROSS_CLIENT_CONNECTIONS {'on' if turn_on else 'off'} for {company.name}")

        self.app.push_screen(ConfirmModal(
            "Contract module", f"Switch CROSS_CLIENT_CONNECTIONS {'ON' if turn_on else 'OFF'} for {company.name}?"
            + ("" if turn_on else " New connections and invitations from its clients will be refused."),
            danger=not turn_on), answer)

    def action_revoke(self) -> None:
        token = self._table("tokens").selected

        def answer(yes: bool | None) -> None:
            if yes:
                self.attempt(revoke_token, token.id, self.client, actor=self.actor,
                             done=f"Token #{token.id} '{token.name}' revoked")

        self.app.push_screen(ConfirmModal("Revoke API token", f"Revoke token #{token.id} '{token.name}'? "
                                          "Calls with it are refused from now on.", danger=True), answer)


class ContractCompanyForm(FormModal):
    TITLE = "New contract company"

    def fields(self) -> ComposeResult:
        yield FormField("Name", "name", rules=[Rule(lambda k, v: k.required("name", v))])
        yield Checkbox("Module CROSS_CLIENT_CONNECTIONS active", False, id="f-module")

    def save(self):
        company = create_contract_company(self.value("name"), cross_client_module=self.query_one(
            "#f-module", Checkbox).value, actor=self.app.actor)
        self.app.data_changed()
        return company


class ClientForm(FormModal):
    TITLE = "New client"

    def fields(self) -> ComposeResult:
        yield Label("Contract company")
        companies = list_contract_companies(limit=500)
        yield Select([(display.plain(c.name), c.id) for c in companies], id="f-contractCompanyId",
                     value=companies.items[0].id if companies.items else Select.BLANK,
                     allow_blank=not companies.items)
        yield FormField("Company ID (20 upper-case letters or digits)", "companyId", max_length=20,
                        rules=[Rule(lambda k, v: k.company_id("companyId", v))])
        yield FormField("Name", "name", rules=[Rule(lambda k, v: k.required("name", v))])
        yield FormField("Contact e-mail (system mails go there)", "contactEmail",
                        rules=[Rule(lambda k, v: k.email("contactEmail", v))])

    def save(self):
        company = self.query_one("#f-contractCompanyId", Select).value
        client = create_client(company if company != Select.BLANK else 0, self.value("companyId"),
                               self.value("name"), self.value("contactEmail"), actor=self.app.actor)
        self.app.data_changed()
        if self.app.client is None:
            self.app.switch_client(client.company_id)
        return client


class TokenForm(FormModal):
    TITLE = "New API token"

    def fields(self) -> ComposeResult:
        yield FormField("Name (to recognise the token by)", "name", value="api", max_length=100)

    def save(self):
        created = create_token(self.app.client, self.value("name"), actor=self.app.actor)
        self.app.data_changed()
        return created
