"""How domain values look on screen: dates, money, states and their colours, and how user data
is put on screen without being read as markup.

Textual reads every plain `str` given to a Static, Label, option, DataTable cell or toast as
markup: a customer named "[/]Anna" crashed the app and "[b]Neu" turned bold. Text written here may
use markup; data (names, e-mails, titles, URLs, error messages, request bodies) never enters markup
as text. It goes in as a template value (`markup`), as literal text (`plain`, `markup=False` on a
Static or toast), or escaped where Textual only takes a markup string (`escape`).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from rich.text import Text
from textual.content import Content

STATUS_STYLE = {
    "ACTIVE": "bold green", "INVITED": "bold yellow", "BLOCKED": "bold red", "DECLINED": "dim",
    "REVOKED": "dim", "EXPIRED": "dim", "ARCHIVED": "dim", "OPEN": "yellow", "REDEEMED": "green",
    "PENDING": "yellow", "SENDING": "cyan", "DELIVERED": "green", "FAILED": "bold red",
    "QUEUED": "yellow", "SENT": "green", "ACTIVATED": "green", "DEACTIVATED": "dim",
    "DISABLED": "dim", "PAID": "green",
}


def when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def money(amount: Decimal | float | None, currency: str = "") -> str:
    if amount is None:
        return ""
    return f"{Decimal(str(amount)):.2f} {currency}".strip()


def status(value: str | None) -> Text:
    return Text(value or "", style=STATUS_STYLE.get(value or "", ""))


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def outcome(success: bool, http_status: int | None) -> Text:
    """The callback log's coloured result cell."""
    code = str(http_status) if http_status is not None else "---"
    return Text(f"OK {code}", style="bold green") if success else Text(f"FAIL {code}", style="bold red")


def term(count: int, unit: str) -> str:
    unit = unit.lower()
    return f"{count} {unit}{'s' if count != 1 else ''}"


def cell(value: object) -> object:
    """A DataTable cell of a one-line row with a `str` as literal text.

    DataTable reads a `str` cell as markup. This makes the Text DataTable would make of it (no
    wrapping, no line end, cut at the first line break) without reading markup, so plain text
    looks exactly as before; Text, numbers and None are left to DataTable as they are.
    """
    if not isinstance(value, str):
        return value
    newline = value.find("\n")
    if newline not in (-1, len(value) - 1):
        value = value[:newline]
    return Text(value, no_wrap=True, end="")


def plain(value: object) -> Text:
    """Literal text for an option, a selection, a Select choice or a Static: never read as markup."""
    return Text(str(value))


def markup(template: str, **values: object) -> Content:
    """`template` is markup written here (bold labels, colours); each `$name` in it becomes
    `values[name]` as literal text, never read as markup (Textual's template variables).

    >>> markup("[b]Customer $number[/b] $name", number="1", name="[/]Anna").plain
    'Customer 1 [/]Anna'
    """
    return Content.from_markup(template, **values)


def status_markup(status: str | None, name: str = "status") -> str:
    """Markup for the template value `$name` in the colour of `status` (as the lists show it)."""
    style = STATUS_STYLE.get(status or "")
    return f"[{style}]${name}[/]" if style else f"${name}"


def escape(value: object) -> str:
    r"""`value` as Textual markup that shows it literally, for the few places that only take a
    markup string (the command palette's titles and help).

    `textual.markup.escape` is Rich's escape and does not fit Textual's markup: it leaves `[B]`,
    `[ b ]` and `[$var]` as tags, and the backslash it adds before `\[` shows (`\[b]` became
    `\\[b]`). Textual reads `\[` as a literal `[` and nothing else as an escape, so every `[` gets
    one backslash. (A value ending in a backslash must not be followed directly by a tag: use
    `markup` where that can happen.)
    """
    return str(value).replace("[", "\\[")
