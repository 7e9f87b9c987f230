"""Screen 1, Connections (Applications > Cross-Client-Connections): outgoing and incoming
connections of the client, the new-connection form, the detail view, and every state action.

Which actions show depends on the selected connection's state and on which side the client is
(DOMAIN.md's table): the target accepts or declines an invitation, the source revokes or re-sends
it, either side blocks, only the side that blocked unblocks, only the source edits settings,
rotates the secret or sends a test callback.
"""
from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Label, Select, Static

from mailer.callbacks import send_test_ping
from storage import connections as ops
from storage.audit import history
from storage.callbacks import list_attempts
from storage.errors import DomainError
from storage.models import Connection
from storage.paging import Page
from tui import display
from tui.messages import BackgroundDone
from tui.screens.base import BackofficeScreen, DetailScreen
from tui.widgets.filter_bar import FilterBar
from tui.widgets.forms import FormField, FormModal, Rule
from tui.widgets.modals import ConfirmModal
from tui.widgets.paged_table import Column, PagedTable


def side(connection: Connection, client) -> str:
    return "SOURCE" if connection.source_id == client.id else "TARGET"


def partner(connection: Connection, client):
    return connection.target if side(connection, client) == "SOURCE" else connection.source


def parse_headers(text: str) -> list[list[str]]:
    """`Key: value; Other: value` -> [[key, value], ...] (the form's one-line header pairs)."""
    pairs = []
    for part in (text or "").split(";"):
        if part.strip():
            key, _, value = part.partition(":")
            pairs.append([key.strip(), value.strip()])
    return pairs



CONNECTION_ACTIONS = frozenset({"new", "accept", "decline", "accept_code", "revoke", "resend", "block",
                                "unblock", "edit", "test_callback", "rotate_secret"})


class ConnectionActions:
    """The state actions, shared by the list and the detail view; `connection` is the target."""

    MUTATING = CONNECTION_ACTIONS
    # Textual merges BINDINGS only along DOMNode classes: the screens add these to their own.
    STATE_BINDINGS = [
        Binding("a", "accept", "Accept", id="connection.accept", tooltip="Accept the incoming invitation"),
        Binding("d", "decline", "Decline", id="connection.decline", tooltip="Decline the incoming invitation"),
        Binding("v", "revoke", "Revoke", id="connection.revoke", tooltip="Withdraw your unanswered invitation"),
        Binding("s", "resend", "Resend", id="connection.resend",
                tooltip="Send the invitation again with a new code (the old one dies)"),
        Binding("b", "block", "Block", id="connection.block", tooltip="Block the active connection"),
        Binding("u", "unblock", "Unblock", id="connection.unblock", tooltip="Unblock what you blocked"),
        Binding("e", "edit", "Edit", id="connection.edit", tooltip="Edit access to offers and callback settings"),
        Binding("t", "test_callback", "Test callback", id="connection.test",
                tooltip="Send a test callback to the source's web service"),
    ]

    @property
    def connection(self) -> Connection | None:
        raise NotImplementedError

    def connection_allows(self, action: str) -> bool | None:
        conn = self.connection
        if action not in CONNECTION_ACTIONS - {"new", "accept_code"}:
            return True
        if conn is None or self.client is None:
            return False
        mine = side(conn, self.client)
        status = conn.status
        if action in ("accept", "decline"):
            return status == "INVITED" and mine == "TARGET"
        if action in ("revoke", "resend"):
            return status == "INVITED" and mine == "SOURCE"
        if action == "block":
            return status == "ACTIVE"
        if action == "unblock":
            return status == "BLOCKED" and conn.blocked_by == mine
        if action in ("edit", "rotate_secret"):
            return mine == "SOURCE" and status in ops.LIVE
        if action == "test_callback":
            return mine == "SOURCE" and bool(conn.callback_url) and status == "ACTIVE"
        return True

    def _confirm_then(self, title: str, question: str, operation, done: str, danger: bool = False) -> None:
        conn = self.connection

        def answer(yes: bool | None) -> None:
            if yes:
                self.attempt(operation, conn.id, self.client, actor=self.actor, done=done)

        self.app.push_screen(ConfirmModal(title, question, danger=danger), answer)

    def action_accept(self) -> None:
        c = self.connection
        self._confirm_then("Accept invitation", f"Accept the invitation of {c.source.name} "
                           f"({c.source.company_id})? Its cross-client offers become usable here"
                           f"{' (access to offers on)' if c.access_to_offers else ''}.",
                           ops.accept_invitation, f"Connection #{c.id} is ACTIVE")

    def action_decline(self) -> None:
        c = self.connection
        self._confirm_then("Decline invitation", f"Decline the invitation of {c.source.name} "
                           f"({c.source.company_id})? This cannot be undone.",
                           ops.decline_invitation, f"Connection #{c.id} declined", danger=True)

    def action_revoke(self) -> None:
        c = self.connection
        self._confirm_then("Revoke invitation", f"Withdraw the invitation to {c.target.name} "
                           f"({c.target.company_id})? Its code stops working.",
                           ops.revoke_invitation, f"Invitation #{c.id} revoked", danger=True)

    def action_resend(self) -> None:
        c = self.connection
        self._confirm_then("Resend invitation", f"Send {c.target.name} a new invitation to "
                           f"{c.target.contact_email}? The old code stops working; the new one is "
                           f"valid for 14 days.", ops.resend_invitation, "Invitation sent again")

    def action_block(self) -> None:
        c = self.connection
        other = partner(c, self.client)
        self._confirm_then("Block connection", f"Block the connection with {other.name} "
                           f"({other.company_id})? Its cross-client offers cannot be sold while blocked; "
                           "existing subscriptions stay.", ops.block_connection,
                           f"Connection #{c.id} BLOCKED", danger=True)

    def action_unblock(self) -> None:
        c = self.connection
        self._confirm_then("Unblock connection", f"Unblock connection #{c.id}? It becomes ACTIVE again.",
                           ops.unblock_connection, f"Connection #{c.id} ACTIVE again")

    def action_edit(self) -> None:
        self.app.push_screen(ConnectionForm(self.connection),
                             lambda saved: saved and self.app.notify("Connection settings saved", title="Done",
                                                                     markup=False))

    def action_test_callback(self) -> None:
        self._send_test(self.connection.id)

    @work(thread=True, group="test-callback")
    def _send_test(self, connection_id: int) -> None:
        try:
            result = send_test_ping(connection_id, self.client, actor=self.actor, config=self.app.config)
        except DomainError as exc:
            self.app.post_message(BackgroundDone(f"Test callback refused ({exc.code})", exc.message, ok=False))
            return
        except Exception as exc:  # network trouble is reported, never raised into the UI
            self.app.post_message(BackgroundDone("Test callback failed", str(exc), ok=False))
            return
        ok = bool(getattr(result, "success", True))
        detail = (f"HTTP {getattr(result, 'http_status', '')} in {getattr(result, 'duration_ms', '?')} ms"
                  if ok else str(getattr(result, "error_message", "") or getattr(result, "http_status", "")))
        self.app.post_message(BackgroundDone("Test callback " + ("delivered" if ok else "failed"), detail, ok))


class ConnectionsScreen(ConnectionActions, BackofficeScreen):
    MODE = "connections"
    HELP = ("Outgoing connections (you are the source, you invite) and incoming ones (you are the "
            "target, you were invited). Actions change with the selected connection's state and side.")
    BINDINGS = ConnectionActions.STATE_BINDINGS + [
        Binding("n", "new", "New", id="connection.new", tooltip="Invite a client: new connection"),
        Binding("i", "accept_code", "Accept code", id="connection.accept_code",
                tooltip="Accept an invitation with the code from the e-mail"),
        Binding("slash", "filter", "Filter", id="list.filter", tooltip="Filter the list"),
        Binding("enter", "open", "Open", show=False, id="connection.open", tooltip="Open the connection"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.title = "Connections"

    def body(self) -> ComposeResult:
        table = PagedTable(
            [Column("id", "#", 5), Column("dir", "Direction", 9), Column("partner", "Partner", 22),
             Column("partner_id", "Company ID", 20), Column("status", "Status", 8),
             Column("offers", "Offers", 6), Column("url", "Callback URL", 34, stretch=True),
             Column("created", "Created", 16), Column("changed", "Changed", 16)],
            self._fetch, self._cells, local_filter=True, empty="no connections yet: n invites a client",
            id="connections")
        yield FilterBar(table)
        yield table

    @property
    def table(self) -> PagedTable:
        return self.query_one("#connections", PagedTable)

    @property
    def connection(self) -> Connection | None:
        return self.table.selected

    def _fetch(self, request) -> Page:
        if self.client is None:
            return Page()
        return ops.list_connections(self.client, limit=request.limit, after=request.after,
                                    before=request.before)

    def _cells(self, c: Connection) -> tuple:
        out = c.source_id == self.client.id
        other = c.target if out else c.source
        return (str(c.id), "out ->" if out else "<- in", other.name, other.company_id, display.status(c.status),
                display.yes_no(c.access_to_offers), c.callback_url or "", display.when(c.created_at),
                display.when(c.changed_at))

    def reload(self) -> None:
        self.table.load()

    def on_mount(self) -> None:
        self.table.focus()

    def allowed(self, action: str) -> bool | None:
        if action == "open":
            return self.connection is not None
        return self.connection_allows(action)

    def action_filter(self) -> None:
        self.query_one(FilterBar).open()

    def on_data_table_row_selected(self, event) -> None:
        self.action_open()

    def action_open(self) -> None:
        if self.connection is not None:
            self.app.push_screen(ConnectionDetailScreen(self.connection.id))

    def action_new(self) -> None:
        def created(conn: Connection | None) -> None:
            if conn is not None:
                self.app.notify(f"Invitation #{conn.id} sent to {conn.target.name} ({conn.target.contact_email})",
                                title="Connection created", markup=False)

        self.app.push_screen(ConnectionForm(None), created)

    def action_accept_code(self) -> None:
        self.app.push_screen(AcceptCodeForm(),
                             lambda c: c and self.app.notify(f"Connection #{c.id} with {c.source.name} is ACTIVE",
                                                             title="Invitation accepted", markup=False))


class ConnectionForm(FormModal):
    """New connection (target company ID, access, callback settings) or edit of a live one."""

    def __init__(self, connection: Connection | None):
        super().__init__()
        self.connection = connection
        self.TITLE = ("New connection: invite a client" if connection is None
                      else f"Edit connection #{connection.id} to {connection.target.name}")

    def fields(self) -> ComposeResult:
        c = self.connection
        if c is None:
            yield FormField("Target company ID (20 letters or digits, from the partner's backend URL)",
                            "targetCompanyId", placeholder="e.g. DG0YZY25O9GMDIU5NN1Z", max_length=20,
                            rules=[Rule(lambda k, v: k.company_id("targetCompanyId", v))])
        yield Checkbox("Access to offers (the target may sell your cross-client offers)",
                       c.access_to_offers if c else True, id="f-accessToOffers")
        yield FormField("Callback URL of your web service (required between two contract companies)",
                        "callbackUrl", value=(c.callback_url or "") if c else "",
                        placeholder="https://shop.example/crossclient/callbacks",
                        rules=[Rule(lambda k, v: k.url("callbackUrl", v, False))])
        with Vertical(id="f-authType", classes="field"):
            yield Label("Callback authentication")
            yield Select([("none", "NONE"), ("HTTP basic auth", "BASIC"), ("extra header pairs", "HEADERS")],
                         value=c.auth_type if c else "NONE", allow_blank=False, id="auth-type")
        with Horizontal(classes="auth-basic"):
            yield FormField("Basic auth user", "basicUser", value=(c.basic_user or "") if c else "")
            yield FormField("Basic auth password" + (" (empty: keep)" if c else ""), "basicPassword",
                            password=True)
        yield FormField("Header pairs, e.g. X-Api-Key: abc; X-Shop: north", "headers",
                        value="; ".join(f"{k}: {v}" for k, v in ops.headers_of(c)) if c else "")

    def on_mount(self) -> None:
        self._auth_fields()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._auth_fields()

    def _auth_fields(self) -> None:
        auth = self.query_one("#auth-type", Select).value
        self.query_one(".auth-basic").display = auth == "BASIC"
        self.query_one("#f-headers").display = auth == "HEADERS"

    def save(self) -> Connection:
        auth = self.query_one("#auth-type", Select).value
        access = self.query_one("#f-accessToOffers", Checkbox).value
        settings = dict(access_to_offers=access, callback_url=self.value("callbackUrl") or None,
                        auth_type=auth, basic_user=self.value("basicUser") or None,
                        headers=parse_headers(self.value("headers")) if auth == "HEADERS" else [])
        password = self.value("basicPassword")
        app = self.app
        if self.connection is None:
            conn = ops.create_connection(app.client, self.value("targetCompanyId"), basic_password=password or None,
                                         actor=app.actor, **settings)
        else:
            if password or auth != "BASIC":
                settings["basic_password"] = password or None
            conn = ops.update_connection(self.connection.id, app.client, actor=app.actor, **settings)
        app.data_changed()
        return conn


class AcceptCodeForm(FormModal):
    TITLE = "Accept an invitation with the code from the e-mail"

    def fields(self) -> ComposeResult:
        yield FormField("Invitation code (dashes and case do not matter)", "invitationCode",
                        placeholder="ABCDEFGH-IJKLMNOP-QRSTUVWX-YZ234567",
                        rules=[Rule(lambda k, v: k.required("invitationCode", v))])

    def save(self) -> Connection:
        conn = ops.accept_invitation_code(self.app.client, self.value("invitationCode"), actor=self.app.actor)
        self.app.data_changed()
        return conn


class ConnectionDetailScreen(ConnectionActions, DetailScreen):
    """One connection: its settings, the secret on demand, the audit trail and recent callbacks."""

    HELP = ("A connection with everything about it. x shows the signing secret, R rotates it (source "
            "only). The lower lists are the audit trail and, for the source, the connection's callbacks.")
    BINDINGS = ConnectionActions.STATE_BINDINGS + [
        Binding("x", "reveal", "Secret", id="connection.reveal", tooltip="Show or hide the signing secret"),
        Binding("R", "rotate_secret", "Rotate secret", id="connection.rotate",
                tooltip="Generate a new signing secret"),
    ]

    def __init__(self, connection_id: int):
        super().__init__()
        self.connection_id = connection_id
        self._connection: Connection | None = None
        self.revealed = False
        self.title = f"Connection #{connection_id}"

    @property
    def connection(self) -> Connection | None:
        return self._connection

    def body(self) -> ComposeResult:
        with Horizontal(classes="detail-top"):
            yield Static(id="connection-info", classes="panel")
            yield Static(id="connection-callback", classes="panel")
        yield PagedTable([Column("at", "When", 16), Column("actor", "Who", 22), Column("action", "Action", 14),
                          Column("summary", "What changed", 80, stretch=True)], self._history, self._history_cells,
                         page_size=20, empty="no audit entries", id="audit")
        yield PagedTable([Column("at", "When", 16), Column("result", "Result", 9), Column("try", "Try", 4),
                          Column("entity", "Entity", 26), Column("ms", "ms", 6),
                          Column("error", "Error", 50, stretch=True)],
                         self._attempts, self._attempt_cells, page_size=20,
                         empty="no callbacks on this connection", id="recent-callbacks")

    def _history(self, request) -> Page:
        return history("connection", self.connection_id, limit=request.limit, before=request.after)

    def _history_cells(self, entry) -> tuple:
        return (display.when(entry.at), f"{entry.actor} ({entry.actor_type.lower()})", entry.action, entry.summary)

    def _attempts(self, request) -> Page:
        if self._connection is None or side(self._connection, self.client) != "SOURCE":
            return Page()
        return list_attempts(self.client, connection_id=self.connection_id, limit=request.limit,
                             after=request.after, before=request.before)

    def _attempt_cells(self, a) -> tuple:
        return (display.when(a.created_at), display.outcome(a.success, a.http_status), str(a.try_number),
                f"{a.entity_type} {a.entity_id}", str(a.duration_ms), a.error_message or "")

    def reload(self) -> None:
        try:
            self._connection = ops.get_connection(self.connection_id, self.client)
        except DomainError as exc:
            self.refused(exc)
            self.app.pop_screen()
            return
        self._render_info()
        self.query_one("#audit", PagedTable).load()
        self.query_one("#recent-callbacks", PagedTable).load()
        self.refresh_bindings()

    def _render_info(self) -> None:
        c = self._connection
        mine = side(c, self.client)
        other = partner(c, self.client)
        # Markup only in the templates; names, e-mails and the URL go in as $values, literally.
        lines = [
            "[b]Connection #$id[/b]  "
            + ("outgoing: you are the source" if mine == "SOURCE" else "incoming: you are the target"),
            "Source   $source ($source_id) · $source_company",
            "Target   $target ($target_id) · $target_company",
            "Partner  $partner <$partner_email>",
            "Status   " + display.status_markup(c.status) + (" (blocked by $blocked_by)" if c.blocked_by else ""),
            "Access to offers  $access",
            "Created  $created · changed $changed" + (" · answered $answered" if c.answered_at else ""),
        ]
        if c.status == "INVITED":
            lines.append("Invitation expires $expires")
        self.query_one("#connection-info", Static).update(display.markup(
            "\n".join(lines), id=c.id, source=c.source.name, source_id=c.source.company_id,
            source_company=c.source.contract_company.name, target=c.target.name, target_id=c.target.company_id,
            target_company=c.target.contract_company.name, partner=other.name, partner_email=other.contact_email,
            status=c.status, blocked_by=(c.blocked_by or "").lower(), access=display.yes_no(c.access_to_offers),
            created=display.when(c.created_at), changed=display.when(c.changed_at),
            answered=display.when(c.answered_at), expires=display.when(c.invitation_expires_at)))
        headers = ", ".join(k for k, _ in ops.headers_of(c)) or "-"
        if mine == "SOURCE":
            secret = c.signing_secret if self.revealed else c.signing_secret[:6] + "•" * 12 + "  (x shows)"
        else:
            secret = "only the source sees the secret"
        auth = {"NONE": "none", "BASIC": f"basic auth, user {c.basic_user}", "HEADERS": f"headers: {headers}"}
        self.query_one("#connection-callback", Static).update(display.markup(
            "[b]Callback settings[/b]\nURL     $url\nAuth    $auth\nSecret  $secret",
            url=c.callback_url or "- (not used within one contract company)",
            auth=auth.get(c.auth_type, c.auth_type), secret=secret))

    def allowed(self, action: str) -> bool | None:
        if action == "reveal":
            return self._connection is not None and side(self._connection, self.client) == "SOURCE"
        return self.connection_allows(action)

    def action_reveal(self) -> None:
        self.revealed = not self.revealed
        self._render_info()

    def action_rotate_secret(self) -> None:
        self._confirm_then("Rotate signing secret", "Generate a new signing secret? Callbacks signed from "
                           "now on use it; the source's web service must learn the new one.",
                           ops.rotate_secret, "Signing secret rotated", danger=True)
