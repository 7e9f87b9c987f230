"""The `/` filter line above a list: typing filters, enter returns to the list, escape clears
the filter first and hides the line on a second press."""
from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

from tui.widgets.paged_table import PagedTable


class FilterBar(Input):
    DEFAULT_CSS = """
    FilterBar { display: none; height: 3; }
    FilterBar.-shown { display: block; }
    """
    BINDINGS = [Binding("escape", "clear_or_close", "Clear filter", id="filter.clear",
                        tooltip="Clear the filter; again to close it")]

    def __init__(self, table: PagedTable, *, placeholder: str = "filter this list", id: str | None = None):
        super().__init__(placeholder=placeholder, id=id)
        self.table = table

    def open(self) -> None:
        self.add_class("-shown")
        self.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.table.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()

    def action_clear_or_close(self) -> None:
        if self.value:
            self.value = ""
        else:
            self.remove_class("-shown")
            self.table.focus()
