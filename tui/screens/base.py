"""What every backoffice screen shares: header, mode bar, footer, the read-only guard, refusals.

A screen lists the actions that change data in MUTATING; with `--readonly` its `check_action`
hides them (footer, palette and key alike). `allowed(action)` lets a screen hide actions that do
not apply to the selected row's state (accept only on an incoming invitation, and so on).
A screen reloads its lists when it is shown again after the client or the data changed.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Header, Static

from storage.errors import DomainError
from tui.widgets.footer import KeysFooter

MODE_TITLES = [("connections", "Connections"), ("offers", "Offers"), ("baskets", "Baskets"),
               ("customers", "Customers"), ("callbacks", "Callback log"), ("settings", "Settings")]


class ModeBar(Static):
    """The six top-level screens with their digit; the current one highlighted."""

    def __init__(self, current: str):
        super().__init__(classes="mode-bar")
        self.current = current

    def render(self) -> str:
        parts = []
        for number, (mode, title) in enumerate(MODE_TITLES, 1):
            text = f" {number} {title} "
            parts.append(f"[reverse]{text}[/reverse]" if mode == self.current else text)
        return "".join(parts)


class Guarded:
    """check_action for screens and modals: read-only hides MUTATING, `allowed` hides by state."""

    MUTATING: ClassVar[frozenset[str]] = frozenset()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MUTATING and getattr(self.app, "readonly", False):
            return False
        return self.allowed(action)

    def allowed(self, action: str) -> bool | None:
        return True

    def refused(self, exc: DomainError) -> None:
        self.app.notify(exc.message, title=f"Refused: error {exc.code}", severity="error", timeout=8,
                        markup=False)

    def attempt(self, operation: Callable[..., Any], *args, done: str | None = None, **kwargs) -> Any:
        """Run one storage operation; a refusal is shown with its code and changes nothing."""
        try:
            result = operation(*args, **kwargs)
        except DomainError as exc:
            self.refused(exc)
            return None
        self.app.data_changed()
        if done:
            self.app.notify(done, title="Done", markup=False)
        return result


class BackofficeScreen(Guarded, Screen):
    """A top-level screen (one of the six modes) or a detail screen pushed on top of one."""

    MODE = ""
    HELP = ""
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="screen.refresh", tooltip="Load the lists again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._seen: tuple | None = None
        # Textual marks a new screen's CSS as out of date (-1), so the first switch to each mode
        # re-parsed the whole stylesheet and restyled every widget twice (in _init_mode and in
        # switch_mode), about 80 ms. A screen built now is styled with the current stylesheet as its
        # widgets mount; a pending theme change restyles every screen of the app anyway.
        try:
            self._css_update_count = self.app._css_update_count
        except Exception:  # no running app (or another Textual): keep Textual's default
            pass

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        yield ModeBar(self.MODE)
        yield from self.body()
        yield KeysFooter()

    def body(self) -> ComposeResult:
        raise NotImplementedError

    @property
    def client(self):
        return self.app.client

    @property
    def actor(self):
        return self.app.actor

    def on_screen_resume(self) -> None:
        self.reload_if_stale()

    def reload_if_stale(self) -> None:
        stamp = (self.app.client.id if self.app.client else None, self.app.data_version)
        if stamp != self._seen:
            self._seen = stamp
            self.reload()

    def reload(self) -> None:
        """Load (again) what the screen shows."""

    def action_refresh(self) -> None:
        self.reload()
        self.app.notify("Reloaded", timeout=1.5, markup=False)

    def on_data_table_row_highlighted(self, event) -> None:
        self.refresh_bindings()


class DetailScreen(BackofficeScreen):
    """A screen pushed on top of a mode: escape goes back one level."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="detail.back", tooltip="Back to the list"),
    ]

    def action_back(self) -> None:
        self.app.pop_screen()
