"""Small modals: confirm a step, show a result once, show the keys of a screen, pick one of a
searchable list.

Titles, questions and bodies name user data (customers, clients, offers, tokens): they are shown
as literal text, never read as markup.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui import display


def note_no_match(options: OptionList, text: str, what: str, hint: str = "") -> None:
    """Say so in a search's list when it found nothing, instead of leaving an empty box."""
    if not options.option_count and text.strip():
        options.add_option(Option(display.plain(f"no {what} matches '{text.strip()}'{hint}"), disabled=True))


class ConfirmModal(ModalScreen[bool]):
    """Ask before a step that cannot be taken back: y/enter confirms, n/escape cancels."""

    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm.yes", tooltip="Do it"),
        Binding("n,escape", "cancel", "No", id="confirm.no", tooltip="Leave everything as it is"),
    ]

    def __init__(self, title: str, question: str, *, yes: str = "Yes", danger: bool = False):
        super().__init__()
        self.title_text = title
        self.question = question
        self.yes = yes
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="form-title", markup=False)
            yield Static(self.question, classes="dialog-body", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error" if self.danger else "primary")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class InfoModal(ModalScreen[None]):
    """Show a result (an order, a token shown once): enter or escape closes."""

    BINDINGS = [Binding("escape,enter", "close", "Close", id="info.close", tooltip="Close")]

    def __init__(self, title: str, body: str | Text):
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(self.title_text, classes="form-title", markup=False)
            yield Static(self.body, classes="dialog-body", id="info-body", markup=False)
            yield Static("enter/esc close", classes="form-hint")

    def action_close(self) -> None:
        self.dismiss(None)


class HelpModal(ModalScreen[None]):
    """The keys that work now on the screen below, with what each does (`?` / F1)."""

    BINDINGS = [Binding("escape,question_mark,f1,q", "close", "Close", id="help.close", tooltip="Close help")]

    def __init__(self, title: str, about: str, rows: list[tuple[str, str, str]]):
        super().__init__()
        self.title_text = title
        self.about = about
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Static(f"Help: {self.title_text}", classes="form-title", markup=False)
            yield Static(self.about, classes="dialog-body", markup=False)  # "[ and ] switch tabs"
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static("esc close · ctrl+p or : for every command", classes="form-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action", "what it does")
        for row in self.rows:
            table.add_row(*(display.cell(value) for value in row))
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)


class SearchPicker(ModalScreen):
    """A title, a search line and a list that follows it as you type. Enter (in the line or on
    the list) returns what the highlighted option stands for, escape returns None; down goes to the
    list. Subclasses fill the list for a search text (`_fill`, options with ids) and say what an id
    stands for (`value`); their BINDINGS name `cancel` and `focus_list` with their own ids."""

    TITLE = ""
    PLACEHOLDER = ""
    HINT = ""
    WHAT = "entry"  # what the list holds, for "no ... matches"
    SEARCH_ID = "picker-search"
    LIST_ID = "picker-list"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog switcher"):
            yield Static(self.TITLE, classes="form-title", markup=False)
            yield Input(placeholder=self.PLACEHOLDER, id=self.SEARCH_ID)
            yield OptionList(id=self.LIST_ID)
            yield Static(self.HINT, classes="form-hint", markup=False)

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, text: str) -> None:
        raise NotImplementedError

    def value(self, option_id: str):
        return option_id

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)
        note_no_match(self.query_one(OptionList), event.value, self.WHAT)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            option = options.get_option_at_index(options.highlighted)
            if not option.disabled:
                self.dismiss(self.value(option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.value(event.option.id))

    def action_focus_list(self) -> None:
        self.query_one(OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
