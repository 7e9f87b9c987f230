"""Keyset pagination: every list is a page after (or before) a key, never a whole table."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_PAGE = 500


@dataclass
class Page:
    """One page of rows in list order, and whether more follow / precede it."""

    items: list[Any] = field(default_factory=list)
    has_more: bool = False
    has_previous: bool = False

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def last_key(self) -> Any:
        return self.items[-1].id if self.items else None

    @property
    def first_key(self) -> Any:
        return self.items[0].id if self.items else None


def keyset(query, key, *, limit: int = 50, after: Any = None, before: Any = None,
           descending: bool = False, order_key: Any = None) -> Page:
    """Page `query` by the unique, indexed column `key`.

    `after` continues in list order past that key; `before` goes back one page ending just
    before it. Rows are always returned in list order. `order_key` is an expression equal to
    `key` to sort by instead (e.g. `key + 0`, so the database does not walk the key's index).
    """
    limit = max(1, min(int(limit), MAX_PAGE))
    sort = key if order_key is None else order_key
    if before is not None:
        cond = key > before if descending else key < before
        order = sort.asc() if descending else sort.desc()
        rows = list(query.where(cond).order_by(order).limit(limit + 1))
        has_previous = len(rows) > limit
        rows = rows[:limit]
        rows.reverse()
        return Page(rows, has_more=True, has_previous=has_previous)
    if after is not None:
        query = query.where(key < after if descending else key > after)
    rows = list(query.order_by(sort.desc() if descending else sort.asc()).limit(limit + 1))
    return Page(rows[:limit], has_more=len(rows) > limit, has_previous=after is not None)
