"""Form building blocks: a labelled field that validates as you type with the domain's own
checks, and a modal form that saves through one storage operation.

Field checks come from `storage.validation.Checker`, so the message under a field is exactly the
one the storage operation would give; a refusal from the operation itself is shown at the field it
names, with the error code and message above the buttons, and nothing is changed.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label, Static

from storage.errors import DomainError
from storage.validation import Checker


def field_id(domain_field: str) -> str:
    """The widget id for a domain field name: `headers[0].key` -> `f-headers`."""
    base = re.split(r"[\[.]", domain_field or "", maxsplit=1)[0]
    return "f-" + (base or "form")


class Rule(Validator):
    """A Textual validator that runs one storage Checker method on the field's text."""

    def __init__(self, check: Callable[[Checker, str], Any]):
        super().__init__()
        self.check = check

    def validate(self, value: str) -> ValidationResult:
        checker = Checker()
        self.check(checker, value)
        if checker.errors:
            return self.failure(checker.errors[0].error)
        return self.success()


class FormField(Vertical):
    """Label, input and the line that says what is wrong with it."""

    DEFAULT_CSS = """
    FormField { height: auto; margin-bottom: 0; }
    FormField > Label { color: $text-muted; }
    FormField > .field-error { color: $error; height: auto; min-height: 1; }
    FormField > Input { width: 1fr; }
    """

    def __init__(self, label: str, name: str, *, value: str = "", placeholder: str = "",
                 rules: list[Rule] | None = None, password: bool = False, restrict: str | None = None,
                 max_length: int = 0):
        super().__init__(id=field_id(name))
        self.label = label
        self.field_name = name
        self.initial = value
        self.placeholder = placeholder
        self.rules = rules or []
        self.password = password
        self.restrict = restrict
        self.max_length = max_length

    def compose(self) -> ComposeResult:
        yield Label(self.label)
        yield Input(self.initial, placeholder=self.placeholder, validators=self.rules,
                    password=self.password, restrict=self.restrict, max_length=self.max_length,
                    validate_on=["changed"], id=f"{self.id}-input")
        yield Static("", classes="field-error", markup=False)  # errors may quote what was typed

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def value(self) -> str:
        return self.input.value

    def on_input_changed(self, event: Input.Changed) -> None:
        result = event.validation_result
        self.show_error(result.failure_descriptions[0] if result and not result.is_valid else "")

    def show_error(self, text: str) -> None:
        self.query_one(".field-error", Static).update(text)
        self.set_class(bool(text), "-invalid")

    @property
    def error(self) -> str:
        return str(self.query_one(".field-error", Static).render())


class FormModal(ModalScreen):
    """A modal form: ctrl+s (or enter in a field) saves, escape cancels with `dismiss(None)`."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel", tooltip="Close without saving"),
        Binding("ctrl+s", "submit", "Save", id="form.save", tooltip="Save the form"),
    ]
    TITLE = "Form"

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form", can_focus=False):
            yield Static(self.TITLE, classes="form-title", markup=False)  # may name a customer, an offer
            yield from self.fields()
            yield Static("", id="form-error", markup=False)
            yield Static("ctrl+s save · tab next field · esc cancel", classes="form-hint")

    def fields(self) -> ComposeResult:
        raise NotImplementedError

    def value(self, name: str) -> str:
        return self.query_one(f"#{field_id(name)}", FormField).value.strip()

    def save(self) -> Any:
        """Run the one storage operation of this form; return what the caller gets back."""
        raise NotImplementedError

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        # The storage operation checks every field again; its refusal is what the form shows.
        for field in self.query(FormField):
            field.show_error("")
        try:
            result = self.save()
        except DomainError as exc:
            self.show_refusal(exc)
            return
        self.dismiss(result)

    def show_refusal(self, exc: DomainError) -> None:
        """Put each field error under its field; code and message above the buttons."""
        first = None
        for error in exc.errors:
            matches = self.query(f"#{field_id(error.field)}")
            if matches:
                field = matches.first(FormField)
                field.show_error(error.error)
                first = first or field
        self.query_one("#form-error", Static).update(f"Refused ({exc.code}): {exc.message}")
        self.app.notify(exc.message, title=f"Refused: error {exc.code}", severity="error", markup=False)
        if first is not None:
            first.input.focus()
