"""The client switcher: every client with search as you type; enter acts as the one chosen."""
from __future__ import annotations

from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from storage.tenancy import list_clients
from tui import display
from tui.widgets.modals import SearchPicker


class ClientSwitcher(SearchPicker):
    """Pick the client the backoffice acts as; returns its company id, or None on escape."""

    TITLE = "Act as client"
    WHAT = "client"
    PLACEHOLDER = "search company id or name"
    HINT = "type to search · down/up choose · enter act as · esc cancel"
    SEARCH_ID, LIST_ID = "client-search", "client-list"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="switch.cancel", tooltip="Keep the current client"),
        Binding("down", "focus_list", "List", show=False, id="switch.list", tooltip="Go to the list"),
    ]

    def __init__(self, current: str | None):
        super().__init__()
        self.current = current

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
