"""Helpers for the backoffice's Pilot and snapshot tests (imported by tests/test_tui_*.py)."""
from __future__ import annotations

from textual.widgets import Input

from tui.app import Backoffice
from tui.widgets.paged_table import PagedTable

SIZE = (130, 38)


def backoffice(client: str | None = None, **kwargs) -> Backoffice:
    """The app as a support person meets it, minus the background poller and worker."""
    kwargs.setdefault("operator", "tester")
    kwargs.setdefault("start_worker", False)
    kwargs.setdefault("poll_seconds", 0)
    # The test harness takes the app down at any moment, not through exit(), which waits for a
    # screen being built ahead; the tests of that building ask for it (prepare_screens=True).
    kwargs.setdefault("prepare_screens", False)
    return Backoffice(client=client, **kwargs)


async def settle(pilot, rounds: int = 4) -> None:
    """Wait until the thread workers have answered and their messages are handled."""
    app = pilot.app
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False  # a fixed cursor for screenshots


async def keys(pilot, *presses: str) -> None:
    """Press keys one after another, letting workers answer after each."""
    for key in presses:
        await pilot.press(key)
        await settle(pilot, 2)


async def type_text(pilot, text: str) -> None:
    await pilot.press(*text)
    await settle(pilot, 2)


def table(pilot, selector: str) -> PagedTable:
    return pilot.app.screen.query_one(selector, PagedTable)


def cells(pilot, selector: str) -> list[list[str]]:
    """The rows of a table on the current screen as plain text."""
    t = pilot.app.screen.query_one(selector)
    out = []
    for row in range(t.row_count):
        out.append([getattr(c, "plain", str(c)) for c in t.get_row_at(row)])
    return out


def screen_text(pilot) -> str:
    """What the current screen shows (toasts included), as plain text: one line per terminal row."""
    return "\n".join(strip.text for strip in pilot.app.screen._compositor.render_strips())


async def shows(pilot, text: str, rounds: int = 50) -> bool:
    """Wait (a bounded number of short pauses) until the screen shows `text`; for answers that come
    from a worker of Textual's own, such as the command palette's search."""
    for _ in range(rounds):
        if text in screen_text(pilot):
            return True
        await pilot.pause(0.05)
    return text in screen_text(pilot)
