"""How domain values look on screen: dates, money, states and their colours."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from rich.text import Text

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
