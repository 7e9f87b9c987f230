"""Messages between the backoffice's workers, widgets and screens: small dataclasses.

Thread workers compute and post one of these back; they never touch widgets themselves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class PageLoaded(Message):
    """A page of rows fetched by a thread worker for a PagedTable (`seq` drops stale answers)."""

    seq: int
    page: Any
    error: str | None = None


@dataclass
class ClientChanged(Message):
    """The app now acts as another client; screens reload when they are next shown."""

    company_id: str


@dataclass
class DataChanged(Message):
    """Something was written from the TUI; lists that may show it reload."""

    what: str


@dataclass
class BackgroundDone(Message):
    """A background action (test callback, resend) finished; `ok` False when it failed."""

    title: str
    detail: str
    ok: bool = True


@dataclass
class EventsPolled(Message):
    """News found by the app's poller: invitations that arrived, callbacks that failed for good."""

    invitations: list
    failed_callbacks: list
