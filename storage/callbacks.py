"""Reading the callback log (one row per delivery attempt) and the callbacks behind it.

The mailer writes attempts; the TUI and the API read them here with the same filters.
"""
from __future__ import annotations

import datetime as dt

from storage.errors import NotFound, invalid
from storage.models import Callback, CallbackAttempt, Client
from storage.paging import Page, keyset


def list_attempts(client: Client, *, errors_only: bool = False, entity_type: str | None = None,
                  callback_type: str | None = None, connection_id: int | None = None,
                  since: dt.datetime | None = None, until: dt.datetime | None = None,
                  limit: int = 50, after: int | None = None, before: int | None = None,
                  callback_id: int | None = None, descending: bool = True) -> Page:
    """The callback log of `client` (the receiving source), newest first."""
    query = CallbackAttempt.select().where(CallbackAttempt.client == client)
    if errors_only:
        query = query.where(CallbackAttempt.success == False)  # noqa: E712
    if entity_type:
        query = query.where(CallbackAttempt.entity_type == entity_type)
    if callback_type:
        query = query.where(CallbackAttempt.callback_type == callback_type)
    if connection_id:
        query = query.where(CallbackAttempt.connection == connection_id)
    if callback_id is not None:
        query = query.where(CallbackAttempt.callback == callback_id)
    if since:
        query = query.where(CallbackAttempt.created_at >= since)
    if until:
        query = query.where(CallbackAttempt.created_at <= until)
    return keyset(query, CallbackAttempt.id, limit=limit, after=after, before=before,
                  descending=descending)


def get_attempt(attempt_id, client: Client) -> CallbackAttempt:
    try:
        aid = int(attempt_id)
    except (TypeError, ValueError):
        raise invalid("callbackLogEntryId", "must be a number", attempt_id) from None
    attempt = CallbackAttempt.get_or_none((CallbackAttempt.id == aid) & (CallbackAttempt.client == client))
    if attempt is None:
        raise NotFound("callback log entry", attempt_id, "callbackLogEntryId")
    return attempt


def get_callback(callback_id, client: Client) -> Callback:
    callback = Callback.get_or_none((Callback.id == int(callback_id)) & (Callback.client == client))
    if callback is None:
        raise NotFound("callback", callback_id, "callbackId")
    return callback


def list_callbacks(client: Client | None = None, *, status: str | None = None, limit: int = 50,
                   after: int | None = None, before: int | None = None) -> Page:
    query = Callback.select()
    if client is not None:
        query = query.where(Callback.client == client)
    if status:
        query = query.where(Callback.status == status)
    return keyset(query, Callback.id, limit=limit, after=after, before=before, descending=True)
