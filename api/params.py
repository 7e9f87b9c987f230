"""Query parameters as plenigo reads them: paging, sort, time range, typed filters.

Paging is plenigo's: `size` 5..100 (missing or out of range: 5, as the contract says),
`startingAfter` / `endingBefore` an id of the list (the next page after it, or the page before it),
`sort` ASC (default) or DESC by id. A parameter of the wrong type is a 400 naming it; all of a
request's bad parameters are reported at once.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from storage.validation import Checker

DEFAULT_SIZE = 5
MIN_SIZE = 5
MAX_SIZE = 100


@dataclass
class Paging:
    size: int = DEFAULT_SIZE
    after: object = None
    before: object = None
    descending: bool = False

    def kwargs(self) -> dict:
        return {"limit": self.size, "after": self.after, "before": self.before,
                "descending": self.descending}


class Query:
    """Typed access to a request's query string; problems collect in `check`."""

    def __init__(self, params, check: Checker | None = None):
        self.params = params
        self.check = check or Checker()

    def text(self, name: str, max_len: int = 200) -> str | None:
        value = self.params.get(name)
        if value is None:
            return None
        if len(value) > max_len:
            self.check.fail(name, f"must be at most {max_len} characters", value[:40])
            return None
        return value

    def integer(self, name: str) -> int | None:
        value = self.params.get(name)
        if value is None or value == "":
            return None
        try:
            number = int(value)
        except ValueError:
            self.check.fail(name, "must be a whole number", value[:40])
            return None
        if not 0 <= number < 2**63:
            self.check.fail(name, "is out of range", value[:40])
            return None
        return number

    def boolean(self, name: str) -> bool | None:
        value = self.params.get(name)
        if value is None or value == "":
            return None
        lowered = value.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        self.check.fail(name, "must be true or false", value[:40])
        return None

    def one_of(self, name: str, allowed) -> str | None:
        value = self.params.get(name)
        if value is None or value == "":
            return None
        if value not in allowed:
            self.check.fail(name, "must be one of " + ", ".join(allowed), value[:40])
            return None
        return value

    def time(self, name: str) -> dt.datetime | None:
        """An RFC 3339 date-time (or a date) as naive UTC, the way storage keeps times."""
        value = self.params.get(name)
        if value is None or value == "":
            return None
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace(" ", "+"))
        except ValueError:
            self.check.fail(name, "must be an RFC 3339 date-time such as 2024-07-21T17:32:28Z", value[:40])
            return None
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
        return parsed

    def time_range(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        since, until = self.time("startTime"), self.time("endTime")
        if since and until and since > until:
            self.check.fail("endTime", "must not be before startTime", self.params.get("endTime"))
        return since, until

    def size(self) -> int:
        value = self.params.get("size")
        if value is None or value == "":
            return DEFAULT_SIZE
        try:
            size = int(value)
        except ValueError:
            self.check.fail("size", "must be a whole number", value[:40])
            return DEFAULT_SIZE
        return size if MIN_SIZE <= size <= MAX_SIZE else DEFAULT_SIZE

    def paging(self, *, sortable: bool = True, cursor=None) -> Paging:
        """Size, cursors and sort; `cursor(field, text)` turns a cursor into the list's key."""
        page = Paging(size=self.size())
        if sortable:
            page.descending = self.one_of("sort", ("ASC", "DESC")) == "DESC"
        after, before = self.text("startingAfter", 100), self.text("endingBefore", 100)
        if after and before:
            self.check.fail("endingBefore", "cannot be combined with startingAfter", before)
            return page
        convert = cursor or self._int_cursor
        if after:
            page.after = convert("startingAfter", after)
        if before:
            page.before = convert("endingBefore", before)
        return page

    def _int_cursor(self, name: str, text: str):
        try:
            return int(text)
        except ValueError:
            self.check.fail(name, "must be an id of the list", text[:40])
            return None

    def done(self) -> None:
        self.check.raise_if_any()
