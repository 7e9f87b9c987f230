"""The one source of "now" for the domain, so tests and snapshots can fix the time."""
from __future__ import annotations

import datetime as dt

_fixed: dt.datetime | None = None


def now() -> dt.datetime:
    """Current UTC time as a naive datetime (the database stores UTC without zone)."""
    if _fixed is not None:
        return _fixed
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def fix(at: dt.datetime | None) -> None:
    """Freeze the clock at `at` (naive UTC), or unfreeze it with None."""
    global _fixed
    _fixed = at
