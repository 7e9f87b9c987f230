"""Screen 5, Callback log: every delivery attempt to this client's web service, newest first,
refreshed live while the first page is shown. Filters: failed only, entity type, connection, time
range. The detail shows the request and the response; "resend now" asks the mailer to deliver the
callback again at once (storage.outbox.request_resend).
"""
from __future__ import annotations

import datetime as dt
import json

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Label, Select, Static

from storage.callbacks import get_attempt, list_attempts
from storage.clock import now
from storage.connections import list_connections
from storage.errors import DomainError
from storage.models import CallbackAttempt
from storage.outbox import request_resend
from storage.paging import Page
from tui import display
from tui.messages import BackgroundDone
from tui.screens.base import BackofficeScreen, Guarded
from tui.widgets.forms import FormField, FormModal
from tui.widgets.paged_table import Column, PagedTable

RANGES = {"any": None, "last hour": dt.timedelta(hours=1), "last 24 hours": dt.timedelta(days=1),
          "last 7 days": dt.timedelta(days=7), "last 30 days": dt.timedelta(days=30)}



class Resending:
    """The "resend now" action shared by the log and the detail."""

    def resend(self, callback_id: int) -> None:
        self._resend(callback_id)

    @work(thread=True, group="resend")
    def _resend(self, callback_id: int) -> None:
        try:
            request_resend(callback_id, self.app.client, actor=self.app.actor)
        except DomainError as exc:
            self.app.post_message(BackgroundDone(f"Resend refused ({exc.code})", exc.message, ok=False))
            return
        self.app.post_message(BackgroundDone("Resend queued", f"Callback #{callback_id} will be sent now"))


class CallbackLogScreen(Resending, BackofficeScreen):
    MODE = "callbacks"
    HELP = ("Every callback attempt to this client's web service (this client is the source that "
            "receives callbacks), newest first and live. f shows failed attempts only, F sets every "
            "filter, enter opens an attempt, s resends its callback now.")
    MUTATING = frozenset({"resend"})
    BINDINGS = [
        Binding("f", "failed_only", "Failed only", id="log.failed", tooltip="Toggle: failed attempts only"),
        Binding("F", "filters", "Filters", id="log.filters",
                tooltip="Filter by entity type, connection and time range"),
        Binding("s", "resend", "Resend", id="log.resend", tooltip="Send the selected callback again now"),
        Binding("enter", "open", "Open", show=False, id="log.open", tooltip="Show the attempt"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.title = "Callback log"
        self.failed_only = False
        self.entity_type = ""
        self.connection_id: int | None = None
        self.range = "any"

    def body(self) -> ComposeResult:
        yield Static(id="log-filters", classes="filters", markup=False)  # shows the typed entity type
        yield PagedTable([Column("at", "When", 19), Column("result", "Result", 9), Column("entity", "Entity type", 20),
                          Column("type", "Callback", 9), Column("id", "Entity ID", 10), Column("try", "Try", 4),
                          Column("final", "Final", 5), Column("ms", "ms", 6), Column("trigger", "Trigger", 9),
                          Column("conn", "Conn", 5), Column("error", "Error", 40, stretch=True)],
                         self._fetch, self._cells, empty="no callback attempts", id="log")

    @property
    def table(self) -> PagedTable:
        return self.query_one("#log", PagedTable)

    def _fetch(self, r) -> Page:
        if self.client is None:
            return Page()
        span = RANGES[self.range]
        return list_attempts(self.client, errors_only=self.failed_only, entity_type=self.entity_type or None,
                             connection_id=self.connection_id, since=now() - span if span else None,
                             limit=r.limit, after=r.after, before=r.before)

    def _cells(self, a: CallbackAttempt) -> tuple:
        return (a.created_at.strftime("%Y-%m-%d %H:%M:%S"), display.outcome(a.success, a.http_status),
                a.entity_type, a.callback_type, a.entity_id, str(a.try_number), display.yes_no(a.final_try),
                str(a.duration_ms), a.trigger, str(a.connection_id), a.error_message or "")

    def _show_filters(self) -> None:
        parts = ["failed only" if self.failed_only else "all results",
                 f"entity type {self.entity_type or 'any'}",
                 f"connection #{self.connection_id}" if self.connection_id else "any connection",
                 f"time: {self.range}"]
        self.query_one("#log-filters", Static).update("Filters: " + " · ".join(parts) + "   (f failed only, F filters)")

    def reload(self) -> None:
        self._show_filters()
        self.table.load()

    def on_mount(self) -> None:
        self.table.focus()
        self.set_interval(float(self.app.config.get("tui", "log_refresh_seconds", 2.0)), self._live)

    def _live(self) -> None:
        # Live only on the first page, where new attempts appear; deeper pages stay still.
        if self.is_current and self.table.page is not None and not self.table.page.has_previous:
            self.table.reload()

    def allowed(self, action: str) -> bool | None:
        if action in ("resend", "open"):
            if self.table.selected is None:
                return False
            return True
        return True

    def action_failed_only(self) -> None:
        self.failed_only = not self.failed_only
        self.reload()

    def action_filters(self) -> None:
        def chosen(values: dict | None) -> None:
            if values is not None:
                self.entity_type = values["entity_type"]
                self.connection_id = values["connection_id"]
                self.range = values["range"]
                self.failed_only = values["failed_only"]
                self.reload()

        self.app.push_screen(LogFilterForm(self), chosen)

    def on_data_table_row_selected(self, event) -> None:
        self.action_open()

    def action_open(self) -> None:
        attempt = self.table.selected
        if attempt is not None:
            self.app.push_screen(AttemptDetail(attempt.id))

    def action_resend(self) -> None:
        self.resend(self.table.selected.callback_id)


class LogFilterForm(FormModal):
    TITLE = "Filter the callback log"

    def __init__(self, log: CallbackLogScreen):
        super().__init__()
        self.log = log

    def fields(self) -> ComposeResult:
        yield Checkbox("Failed attempts only", self.log.failed_only, id="f-failedOnly")
        yield FormField("Entity type (empty: any)", "entityType", value=self.log.entity_type,
                        placeholder="CROSS_CLIENT_ORDER")
        yield Label("Connection")
        connections = list_connections(self.app.client, direction="OUT", limit=200)
        yield Select([("any connection", 0)] + [(display.plain(f"#{c.id} to {c.target.name} ({c.status})"), c.id)
                                                for c in connections],
                     value=self.log.connection_id or 0, allow_blank=False, id="log-connection")
        yield Label("Time range")
        yield Select([(name, name) for name in RANGES], value=self.log.range, allow_blank=False, id="log-range")

    def save(self) -> dict:
        return {"failed_only": self.query_one("#f-failedOnly", Checkbox).value,
                "entity_type": self.value("entityType").upper(),
                "connection_id": self.query_one("#log-connection", Select).value or None,
                "range": self.query_one("#log-range", Select).value}


class AttemptDetail(Resending, Guarded, ModalScreen[None]):
    """One attempt: request headers and body, response status and excerpt, error, timing."""

    MUTATING = frozenset({"resend"})
    BINDINGS = [
        Binding("escape", "close", "Back", id="attempt.close", tooltip="Back to the log"),
        Binding("s", "resend", "Resend now", id="attempt.resend", tooltip="Send this callback again now"),
    ]

    def __init__(self, attempt_id: int):
        super().__init__()
        self.attempt_id = attempt_id

    def compose(self) -> ComposeResult:
        a = get_attempt(self.attempt_id, self.app.client)
        self.attempt = a
        try:
            headers = json.loads(a.request_headers_json or "{}")
        except ValueError:
            headers = {}
        try:
            body = json.dumps(json.loads(a.request_body), indent=2) if a.request_body else "(no body recorded)"
        except ValueError:
            body = a.request_body
        result = "[green]success[/]" if a.success else "[red]failure[/]"
        with VerticalScroll(classes="dialog attempt"):
            yield Static(f"Callback attempt #{a.id} (callback #{a.callback_id})", classes="form-title")
            # Markup only in the template; the URL and the error (the receiver's words) go in literally.
            yield Static(display.markup(
                f"Result     {result}, HTTP $http\n"
                "Entity     $entity_type $callback_type $entity_id\n"
                "Try        $number$final · trigger $trigger\n"
                "When       $when · duration $ms ms\n"
                "URL        $url · connection #$connection\n"
                "Error      $error",
                http=a.http_status if a.http_status is not None else "-", entity_type=a.entity_type,
                callback_type=a.callback_type, entity_id=a.entity_id, number=a.try_number,
                final=" (final try)" if a.final_try else "", trigger=a.trigger,
                when=f"{a.created_at:%Y-%m-%d %H:%M:%S}", ms=a.duration_ms, url=a.url or "-",
                connection=a.connection_id,
                error=f"{(a.error_kind + ': ') if a.error_kind else ''}{a.error_message or '-'}"))
            yield Label("Request headers")
            yield Static("\n".join(f"{k}: {v}" for k, v in sorted(headers.items())) or "(none recorded)",
                         classes="code", markup=False)
            yield Label("Request body")
            yield Static(body, classes="code", markup=False)
            yield Label("Response excerpt")
            yield Static(a.response_excerpt or "(empty)", classes="code", markup=False)
            yield Static("s resend now · esc back", classes="form-hint")

    def allowed(self, action: str) -> bool | None:
        return True

    def action_resend(self) -> None:
        self.resend(self.attempt.callback_id)

    def action_close(self) -> None:
        self.dismiss(None)
