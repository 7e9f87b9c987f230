"""The client switcher: every client with search as you type; enter acts as the one chosen."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from storage.tenancy import list_clients
from tui import display


class ClientSwitcher(ModalScreen[str | None]):
    """Pick the client the backoffice acts as; returns its company id, or None on escape."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="switch.cancel", tooltip="Keep the current client"),
        Binding("down", "focus_list", "List", show=False, id="switch.list", tooltip="Go to the list"),
    ]

    def __init__(self, current: str | None):
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog switcher"):
            yield Static("Act as client", classes="form-title")
            yield Input(placeholder="search company id or name", id="client-search")
            yield OptionList(id="client-list")
            yield Static("type to search · down/up choose · enter act as · esc cancel", classes="form-hint")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, text: str) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        page = list_clients(search=text, limit=100)
        for client in page:
            marker = "* " if client.company_id == self.current else "  "
            options.add_option(Option(display.plain(f"{marker}{client.company_id}  {client.name}  "
                                                    f"({client.contract_company.name})"), id=client.company_id))
        if page.has_more:
            options.add_option(Option("... more: type to narrow the list", id="_more", disabled=True))
        if options.option_count:
            options.highlighted = 0

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            option = options.get_option_at_index(options.highlighted)
            if not option.disabled:
                self.dismiss(option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_focus_list(self) -> None:
        self.query_one(OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
