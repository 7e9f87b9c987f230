"""The durable outbox: e-mails and callbacks queued in the transaction that causes them.

The mailer claims due rows from here with a lease in one short transaction (IMMEDIATE on SQLite,
`FOR UPDATE SKIP LOCKED` on PostgreSQL), sends outside any transaction and records the outcome in
a second one. A worker that dies keeps its lease until `lease_until`; after that the row is due
again and another worker sends it (at least once). This module writes and reads rows and decides
what an outcome means (retry when, final or not, warn the client or not); the mailer sends.

Callback state after an attempt:
- success: DELIVERED (a manual resend of a delivered callback that fails leaves it DELIVERED; the
  failed attempt is in the log).
- a failed SCHEDULED attempt: PENDING with the next time from the schedule (with jitter), or
  FAILED and `final_try` when the schedule is used up.
- a failed MANUAL attempt: the schedule goes on where it was (PENDING) if it was not used up,
  otherwise the callback stays FAILED; `final_try` says whether another automatic attempt follows.

Listeners (`add_listener`) are called after a transaction that queued a row commits, so a worker
in this process can wake at once; storage does not know who listens.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import random
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from storage.audit import SYSTEM, Actor, record
from storage.clock import now
from storage.db import db, is_postgres
from storage.errors import NotFound
from storage.models import Callback, CallbackAttempt, Client, Connection, EmailOutbox
from storage.paging import Page, keyset

log = logging.getLogger("crossclient.outbox")

# Failed callback attempts of one client in 24 hours that trigger the warning e-mail (once a day).
WARN_AFTER_FAILURES = 10
WARNING_KIND = "callbacks_failing"
EXCERPT_LIMIT = 4096

_listeners: list[Callable[[], None]] = []


def add_listener(fn: Callable[[], None]) -> None:
    """Call `fn` (from the committing thread) whenever a queued row has been committed."""
    if fn not in _listeners:
        _listeners.append(fn)


def remove_listener(fn: Callable[[], None]) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def _notify() -> None:
    for fn in list(_listeners):
        try:
            fn()
        except Exception:  # a listener must never undo or break the caller's commit
            log.exception("outbox listener failed")


def _after_commit() -> None:
    if _listeners:
        db.after_commit(_notify)


# --- queueing ---------------------------------------------------------------------------------

def queue_email(kind: str, to_address: str, params: dict, *, client: Client | None = None) -> EmailOutbox:
    """Queue one e-mail of `kind` (a template name) with its parameters; call inside a transaction."""
    email = EmailOutbox.create(kind=kind, to_address=to_address, client=client,
                               params_json=json.dumps(params, default=str, sort_keys=True),
                               next_attempt_at=now())
    _after_commit()
    return email


def callback_body(entity_type: str, callback_type: str, entity_id: str, entity: dict) -> str:
    """plenigo's envelope as the exact JSON text that is signed and sent."""
    body = {"entityType": entity_type, "callbackType": callback_type, "entityId": str(entity_id),
            "entity": entity}
    return json.dumps(body, default=str, sort_keys=True, separators=(",", ":"))


def new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def queue_callback(connection: Connection, entity_type: str, callback_type: str, entity_id: str,
                   entity: dict) -> Callback:
    """Queue a callback to the connection's source; the body is fixed now, signed at each send."""
    callback = Callback.create(connection=connection, client=connection.source_id,
                               webhook_id=new_webhook_id(), entity_type=entity_type,
                               callback_type=callback_type, entity_id=str(entity_id),
                               payload_json=callback_body(entity_type, callback_type, entity_id, entity),
                               next_attempt_at=now())
    _after_commit()
    return callback


# --- claiming ---------------------------------------------------------------------------------

def _lease(lease_seconds: float) -> tuple[dt.datetime, dt.datetime]:
    t = now()
    return t, t + dt.timedelta(seconds=lease_seconds)


@dataclass
class ClaimedCallback:
    """A callback leased to one worker, with its connection, detached from the database."""

    callback: Callback
    connection: Connection
    trigger: str  # SCHEDULED or MANUAL


def claim_callbacks(owner: str, limit: int, lease_seconds: float, *,
                    accept: Callable[[Connection], bool] | None = None,
                    exclude: Iterable[int] = (), window: int | None = None) -> list[ClaimedCallback]:
    """Lease up to `limit` due callbacks to `owner` in one short transaction.

    `accept(connection)` may pass over a candidate (the mailer uses it to bound the sends per
    host); `exclude` names callbacks this worker already has in flight (their lease may have run
    out while it waits for a slow receiver). Callbacks leased by a worker that died are due again
    once `lease_until` has passed.
    """
    if limit <= 0:
        return []
    skip = set(exclude)
    size = window or limit + len(skip) + 50
    with db.atomic():
        t, until = _lease(lease_seconds)
        # Candidates first, by their keys only; the chosen rows are leased and read in one UPDATE.
        # A connection `accept` turns away is left out of the next look, which goes on after the
        # last row seen: one destination's backlog (a receiver that is down, thousands of retries
        # due) must not hide the due callbacks of every other destination behind it.
        due = (Callback.next_attempt_at.db_value(t), Callback.lease_until.db_value(t))
        connections: dict[int, Connection] = {}
        passed_over: set[int] = set()
        chosen: list[int] = []
        after: tuple = ()
        for _ in range(CLAIM_ROUNDS):
            sql = _claim_sql("candidates", len(passed_over), continued=bool(after))
            rows = db.execute_sql(sql, (*due, *sorted(passed_over), *after, size)).fetchall()
            if not rows:
                break
            new = {conn_id for _, conn_id, _ in rows if conn_id not in connections}
            if new:
                connections.update((c.id, c) for c in Connection.select().where(Connection.id.in_(new)))
            for cid, conn_id, _ in rows:
                if cid in skip or conn_id in passed_over:
                    continue
                if accept is not None and not accept(connections[conn_id]):
                    passed_over.add(conn_id)
                    continue
                chosen.append(cid)
                if len(chosen) >= limit:
                    break
            if len(chosen) >= limit or len(rows) < size:
                break
            last_id, last_at = rows[-1][0], rows[-1][2]
            after = (last_at, last_at, last_id)
        if not chosen:
            return []
        rows = _lease_rows(chosen, owner, until)
        return [ClaimedCallback(row, connections[row.connection_id],
                                "MANUAL" if row.manual_pending else "SCHEDULED") for row in rows]


_CALLBACK_FIELDS = list(Callback._meta.sorted_fields)
# How often one claim looks further past callbacks of destinations that are full (see claim_callbacks).
CLAIM_ROUNDS = 8
_claim_sqls: dict[tuple, str] = {}


def _returning() -> bool:
    """Whether UPDATE ... RETURNING is there: PostgreSQL, and SQLite from 3.35 on."""
    return is_postgres() or sqlite3.sqlite_version_info >= (3, 35)


def _claim_sql(kind: str, count: int = 0, continued: bool = False) -> str:
    """The claim's SQL text, built once per (database kind, statement, id count) and reused.

    `candidates`: the due rows' keys in due order (on PostgreSQL locked, skipping rows another
    worker's claim holds); `lease`: one UPDATE that leases the chosen rows and returns them in
    full (RETURNING: SQLite >= 3.35, PostgreSQL). Building these through peewee took more Python
    time than running them, time the worker's event loop waited for the GIL.
    """
    pg = is_postgres()
    key = (pg, db.obj.param, kind, count, continued)
    sql = _claim_sqls.get(key)
    if sql is None:
        p = db.obj.param
        table = f'"{Callback._meta.table_name}"'
        if kind == "candidates":
            # `count` connections left out; `continued`: only rows after (next_attempt_at, id).
            sql = (f'SELECT "id", "connection_id", "next_attempt_at" FROM {table} WHERE '
                   f'(("status" = \'PENDING\' AND "next_attempt_at" <= {p}) OR '
                   f'("status" = \'SENDING\' AND "lease_until" < {p}))'
                   + (f' AND "connection_id" NOT IN ({", ".join([p] * count)})' if count else "")
                   + (f' AND ("next_attempt_at" > {p} OR ("next_attempt_at" = {p} AND "id" > {p}))'
                      if continued else "")
                   + f' ORDER BY "next_attempt_at", "id" LIMIT {p}' + (" FOR UPDATE SKIP LOCKED" if pg else ""))
        else:
            columns = ", ".join(f'"{f.column_name}"' for f in _CALLBACK_FIELDS)
            ids = ", ".join([p] * count)
            if kind == "select":
                sql = f'SELECT {columns} FROM {table} WHERE "id" IN ({ids})'
            else:
                sql = (f'UPDATE {table} SET "status" = \'SENDING\', "lease_owner" = {p}, "lease_until" = {p} '
                       f'WHERE "id" IN ({ids})' + (f" RETURNING {columns}" if _returning() else ""))
        _claim_sqls[key] = sql
    return sql


def _lease_rows(ids: list[int], owner: str, until: dt.datetime) -> list[Callback]:
    """Lease the callbacks `ids` to `owner` until `until`; returns them in due order."""
    params = [Callback.lease_owner.db_value(owner), Callback.lease_until.db_value(until), *ids]
    cursor = db.execute_sql(_claim_sql("lease", len(ids)), params)
    if not _returning():  # SQLite before 3.35: read the leased rows back in the same transaction
        cursor = db.execute_sql(_claim_sql("select", len(ids)), ids)
    rows = []
    for values in cursor.fetchall():
        row = Callback(__no_default__=1, **{f.name: f.python_value(v)
                                            for f, v in zip(_CALLBACK_FIELDS, values, strict=True)})
        row._dirty.clear()
        rows.append(row)
    rows.sort(key=lambda r: (r.next_attempt_at, r.id))
    return rows


def claim_emails(owner: str, limit: int, lease_seconds: float, *, exclude: Iterable[int] = ()) -> list[EmailOutbox]:
    """Lease up to `limit` due e-mails to `owner`, like `claim_callbacks`."""
    if limit <= 0:
        return []
    skip = set(exclude)
    with db.atomic():
        t, until = _lease(lease_seconds)
        query = (EmailOutbox.select()
                 .where(((EmailOutbox.status == "QUEUED") & (EmailOutbox.next_attempt_at <= t))
                        | ((EmailOutbox.status == "SENDING") & (EmailOutbox.lease_until < t)))
                 .order_by(EmailOutbox.next_attempt_at, EmailOutbox.id).limit(limit + len(skip)))
        if is_postgres():
            query = query.for_update(skip_locked=True)
        rows = [row for row in query if row.id not in skip][:limit]
        if rows:
            (EmailOutbox.update(status="SENDING", lease_owner=owner, lease_until=until)
             .where(EmailOutbox.id.in_([r.id for r in rows])).execute())
            for row in rows:
                row.status, row.lease_owner, row.lease_until = "SENDING", owner, until
    return rows


def next_due_at() -> dt.datetime | None:
    """When the earliest queued e-mail or pending callback becomes due (None: nothing queued)."""
    times = [
        Callback.select(Callback.next_attempt_at).where(Callback.status == "PENDING")
        .order_by(Callback.next_attempt_at).limit(1).scalar(),
        EmailOutbox.select(EmailOutbox.next_attempt_at).where(EmailOutbox.status == "QUEUED")
        .order_by(EmailOutbox.next_attempt_at).limit(1).scalar(),
    ]
    times = [t for t in times if t is not None]
    return min(times) if times else None


def release_leases(owner: str, callback_ids: Iterable[int] | None = None,
                   email_ids: Iterable[int] | None = None) -> int:
    """Give back leases of `owner` (all, or the ones named) so another worker sends them now."""
    with db.atomic():
        cb = Callback.update(status="PENDING", lease_owner=None, lease_until=None).where(
            (Callback.lease_owner == owner) & (Callback.status == "SENDING"))
        em = EmailOutbox.update(status="QUEUED", lease_owner=None, lease_until=None).where(
            (EmailOutbox.lease_owner == owner) & (EmailOutbox.status == "SENDING"))
        if callback_ids is not None:
            cb = cb.where(Callback.id.in_(list(callback_ids)))
        if email_ids is not None:
            em = em.where(EmailOutbox.id.in_(list(email_ids)))
        count = cb.execute() + em.execute()
    if count:
        _notify()
    return count


# --- recording callbacks ------------------------------------------------------------------------

@dataclass
class AttemptOutcome:
    """What happened when one callback was sent; the mailer fills it, storage records it."""

    callback_id: int
    trigger: str  # SCHEDULED MANUAL TEST
    success: bool
    url: str = ""
    request_headers: dict = field(default_factory=dict)  # already masked
    request_body: str = ""
    http_status: int | None = None
    error_kind: str | None = None  # dns connect timeout tls http refused
    error_message: str | None = None
    duration_ms: int = 0
    response_excerpt: str | None = None


def record_callback_attempt(callback: Callback, *, success: bool, final_try: bool, trigger: str,
                            http_status: int | None = None, error_kind: str | None = None,
                            error_message: str | None = None, duration_ms: int = 0,
                            response_excerpt: str | None = None, url: str = "",
                            request_headers: dict | None = None, request_body: str = "",
                            next_attempt_at: dt.datetime | None = None,
                            keep_status: bool = False) -> CallbackAttempt:
    """Write one callback-log row for `callback` and move the callback; call inside a transaction.

    Success makes it DELIVERED; a failure either schedules the next attempt at `next_attempt_at`
    (PENDING) or, with `final_try`, makes it FAILED. `keep_status` leaves the status as it is (a
    failed manual resend of a delivered callback).
    """
    callback.tries += 1
    attempt = CallbackAttempt.create(
        callback=callback, client=callback.client_id, connection=callback.connection_id,
        entity_type=callback.entity_type, callback_type=callback.callback_type,
        entity_id=callback.entity_id, try_number=callback.tries, final_try=final_try,
        success=success, http_status=http_status, error_kind=error_kind,
        error_message=(error_message or None) and error_message[:4000], duration_ms=int(duration_ms),
        response_excerpt=(response_excerpt or "")[:EXCERPT_LIMIT] or None, trigger=trigger, url=url,
        request_headers_json=json.dumps(request_headers or {}, sort_keys=True),
        request_body=request_body)
    if success:
        callback.status = "DELIVERED"
        callback.delivered_at = attempt.created_at
        callback.next_attempt_at = None
    elif keep_status:
        pass
    elif final_try:
        callback.status = "FAILED"
        callback.next_attempt_at = None
    else:
        callback.status = "PENDING"
        callback.next_attempt_at = next_attempt_at or now()
    if trigger == "MANUAL":
        callback.manual_pending = False
    callback.lease_owner = None
    callback.lease_until = None
    callback.save(only=[Callback.tries, Callback.status, Callback.delivered_at, Callback.next_attempt_at,
                        Callback.manual_pending, Callback.lease_owner, Callback.lease_until])
    return attempt


def retry_delay(schedule: list[float], scheduled_tries: int, jitter: float, rng=random) -> float | None:
    """Seconds until the next scheduled attempt after `scheduled_tries` of them, None when used up.

    `schedule[i]` is the delay before scheduled attempt i+1 (the first is normally 0: at once).
    Jitter spreads each delay by +-`jitter` (a fraction) so that retries of many callbacks to one
    receiver do not arrive in a wave.
    """
    if scheduled_tries >= len(schedule):
        return None
    delay = float(schedule[scheduled_tries])
    if delay > 0 and jitter > 0:
        delay *= rng.uniform(1 - jitter, 1 + jitter)
    return max(0.0, delay)


def _scheduled_tries(callback_id: int) -> int:
    return (CallbackAttempt.select().where((CallbackAttempt.callback == callback_id)
                                           & (CallbackAttempt.trigger == "SCHEDULED")).count())


def record_outcomes(owner: str, outcomes: list[AttemptOutcome], *, schedule: list[float],
                    jitter: float = 0.1, warn_after: int = WARN_AFTER_FAILURES,
                    rng=random) -> list[CallbackAttempt]:
    """Record a batch of attempts in one transaction and release their leases.

    The callback state moves only if this worker still holds the lease (or nobody does): when a
    lease ran out and another worker took the callback over, our attempt is logged and the other
    worker decides the state. Clients whose failures in the last 24 hours reach `warn_after` get
    the warning e-mail, at most once a day.
    """
    attempts: list[CallbackAttempt] = []
    failing_clients: set[int] = set()
    delivered: dict[str, list[int]] = {"SCHEDULED": [], "MANUAL": []}
    fast_rows: list[dict] = []
    with db.atomic():
        t = now()
        # Everything but the body, which is not needed here.
        rows = {c.id: c for c in Callback.select(*[f for f in Callback._meta.sorted_fields
                                                   if f is not Callback.payload_json]).where(
            Callback.id.in_([o.callback_id for o in outcomes]))}
        for outcome in outcomes:
            callback = rows.get(outcome.callback_id)
            if callback is None:
                continue
            ours = callback.lease_owner in (None, owner)
            details = dict(success=outcome.success, trigger=outcome.trigger,
                           http_status=outcome.http_status, error_kind=outcome.error_kind,
                           error_message=outcome.error_message, duration_ms=outcome.duration_ms,
                           response_excerpt=outcome.response_excerpt, url=outcome.url,
                           request_headers=outcome.request_headers, request_body=outcome.request_body)
            if not ours:
                attempts.append(_log_only(callback, details))
                continue
            manual_requested = callback.manual_pending and outcome.trigger != "MANUAL"
            if outcome.success and not manual_requested and outcome.trigger in delivered:
                # The common case, written in bulk below: a delivered callback.
                row = _attempt_row(callback, callback.tries + 1, False, t, details)
                fast_rows.append(row)
                attempts.append(CallbackAttempt(**row))
                delivered[outcome.trigger].append(callback.id)
                continue
            if outcome.success:
                attempts.append(record_callback_attempt(callback, final_try=False, **details))
            else:
                failing_clients.add(callback.client_id)
                scheduled = _scheduled_tries(callback.id) + (outcome.trigger == "SCHEDULED")
                delay = retry_delay(schedule, scheduled, jitter, rng)
                if outcome.trigger == "MANUAL" and callback.delivered_at is not None:
                    attempts.append(record_callback_attempt(callback, final_try=True, keep_status=True,
                                                            **details))
                    callback.status = "DELIVERED"
                    callback.save(only=[Callback.status])
                elif delay is None:
                    attempts.append(record_callback_attempt(callback, final_try=True, **details))
                else:
                    attempts.append(record_callback_attempt(
                        callback, final_try=False,
                        next_attempt_at=now() + dt.timedelta(seconds=delay), **details))
            if manual_requested:
                # A manual resend was asked for while this attempt was in flight: make it now.
                callback.status, callback.next_attempt_at = "PENDING", now()
                callback.save(only=[Callback.status, Callback.next_attempt_at])
        for start in range(0, len(fast_rows), 50):
            _insert_attempts(fast_rows[start:start + 50])
        for trigger, ids in delivered.items():
            if ids:
                changes = dict(status="DELIVERED", delivered_at=t, next_attempt_at=None,
                               tries=Callback.tries + 1, lease_owner=None, lease_until=None)
                if trigger == "MANUAL":
                    changes["manual_pending"] = False
                Callback.update(**changes).where(Callback.id.in_(ids)).execute()
        for client_id in failing_clients:
            _warn_if_failing(client_id, warn_after)
    return attempts


def _attempt_row(callback: Callback, try_number: int, final_try: bool, at: dt.datetime, details: dict) -> dict:
    return dict(
        callback=callback.id, client=callback.client_id, connection=callback.connection_id,
        entity_type=callback.entity_type, callback_type=callback.callback_type,
        entity_id=callback.entity_id, try_number=try_number, final_try=final_try,
        success=details["success"], http_status=details["http_status"], error_kind=details["error_kind"],
        error_message=(details["error_message"] or None) and details["error_message"][:4000],
        duration_ms=int(details["duration_ms"]),
        response_excerpt=(details["response_excerpt"] or "")[:EXCERPT_LIMIT] or None,
        trigger=details["trigger"], url=details["url"],
        request_headers_json=json.dumps(details["request_headers"] or {}, sort_keys=True),
        request_body=details["request_body"], created_at=at)


_ATTEMPT_FIELDS = [f for f in CallbackAttempt._meta.sorted_fields if f is not CallbackAttempt.id]
_insert_sql: dict[tuple[str, int], str] = {}


def _insert_attempts(rows: list[dict]) -> None:
    """Insert callback-log rows (all fields given, as `_attempt_row` builds them) in one statement.

    The same INSERT peewee's `insert_many` would send, with the values converted by the same
    `db_value` of each field, but the SQL text is built once per (database, row count) and reused:
    generating it through peewee took about 200 microseconds of Python per row, time the worker's
    event loop waited for the GIL while sends queued.
    """
    param = db.obj.param
    key = (param, len(rows))
    sql = _insert_sql.get(key)
    if sql is None:
        columns = ", ".join(f'"{f.column_name}"' for f in _ATTEMPT_FIELDS)
        one = "(" + ", ".join([param] * len(_ATTEMPT_FIELDS)) + ")"
        sql = (f'INSERT INTO "{CallbackAttempt._meta.table_name}" ({columns}) VALUES '
               + ", ".join([one] * len(rows)))
        _insert_sql[key] = sql
    values = [f.db_value(row[f.name]) for row in rows for f in _ATTEMPT_FIELDS]
    db.execute_sql(sql, values)


def _log_only(callback: Callback, details: dict) -> CallbackAttempt:
    """Log an attempt on a callback another worker has taken over, without moving its state."""
    Callback.update(tries=Callback.tries + 1).where(Callback.id == callback.id).execute()
    tries = Callback.select(Callback.tries).where(Callback.id == callback.id).scalar()
    return CallbackAttempt.create(**_attempt_row(callback, tries, False, now(), details))


def failures_since(client_id: int, since: dt.datetime) -> int:
    """Failed scheduled and manual attempts to `client_id` since `since` (test pings excluded)."""
    return (CallbackAttempt.select()
            .where((CallbackAttempt.client == client_id) & (CallbackAttempt.success == False)  # noqa: E712
                   & (CallbackAttempt.created_at >= since) & (CallbackAttempt.trigger != "TEST"))
            .count())


def _warn_if_failing(client_id: int, warn_after: int) -> EmailOutbox | None:
    if warn_after <= 0:
        return None
    since = now() - dt.timedelta(days=1)
    count = failures_since(client_id, since)
    if count < warn_after:
        return None
    already = (EmailOutbox.select().where((EmailOutbox.client == client_id)
                                          & (EmailOutbox.kind == WARNING_KIND)
                                          & (EmailOutbox.created_at >= since)).exists())
    if already:
        return None
    client = Client.get_by_id(client_id)
    recent = (CallbackAttempt.select()
              .where((CallbackAttempt.client == client_id) & (CallbackAttempt.success == False)  # noqa: E712
                     & (CallbackAttempt.trigger != "TEST"))
              .order_by(CallbackAttempt.id.desc()).limit(5))
    return queue_email(WARNING_KIND, client.contact_email, {
        "client_name": client.name, "company_id": client.company_id, "failures": count,
        "since": since.isoformat(timespec="minutes"),
        "recent": [{"at": a.created_at.isoformat(timespec="seconds"), "url": a.url,
                    "entity_id": a.entity_id, "try_number": a.try_number,
                    "error": _describe(a)} for a in recent],
    }, client=client)


def _describe(attempt: CallbackAttempt) -> str:
    if attempt.http_status and attempt.error_kind == "http":
        return f"HTTP {attempt.http_status}" + (f": {attempt.error_message}" if attempt.error_message else "")
    return f"{attempt.error_kind or 'error'}: {attempt.error_message or ''}".strip()


def get_connection_for_callbacks(connection_id: int, client: Client) -> Connection:
    """The connection `client` receives callbacks on (it must be the source side)."""
    connection = Connection.get_or_none(Connection.id == int(connection_id))
    if connection is None or connection.source_id != client.id:
        raise NotFound("connection", connection_id, "connectionId")
    return connection


def record_test_ping(connection: Connection, webhook_id: str, body: str, outcome: AttemptOutcome,
                     *, actor: Actor = SYSTEM) -> CallbackAttempt:
    """Log a test ping that was just sent: its callback row and attempt are written together."""
    entity = json.loads(body)
    with db.atomic():
        callback = Callback.create(connection=connection, client=connection.source_id,
                                   webhook_id=webhook_id, entity_type=entity["entityType"],
                                   callback_type=entity["callbackType"], entity_id=entity["entityId"],
                                   payload_json=body, status="SENDING", next_attempt_at=None)
        attempt = record_callback_attempt(
            callback, success=outcome.success, final_try=True, trigger="TEST",
            http_status=outcome.http_status, error_kind=outcome.error_kind,
            error_message=outcome.error_message, duration_ms=outcome.duration_ms,
            response_excerpt=outcome.response_excerpt, url=outcome.url,
            request_headers=outcome.request_headers, request_body=outcome.request_body)
        result = "delivered" if outcome.success else f"failed ({_describe(attempt)})"
        record(actor, "connection", connection.id, "test_callback",
               f"test callback {webhook_id} to {outcome.url}: {result}", client=connection.source_id)
    return attempt


# --- manual resend ----------------------------------------------------------------------------

def request_resend(callback_id, client: Client, *, actor: Actor = SYSTEM) -> Callback:
    """Resend any callback of `client` (delivered, failed or pending) now, as a MANUAL attempt.

    The worker makes the attempt as soon as it sees the row; a callback in flight gets the manual
    attempt right after the current one.
    """
    try:
        cid = int(callback_id)
    except (TypeError, ValueError):
        from storage.errors import invalid

        raise invalid("callbackId", "must be a number", callback_id) from None
    with db.atomic():
        query = Callback.select().where((Callback.id == cid) & (Callback.client == client))
        if is_postgres():
            query = query.for_update()
        callback = query.first()
        if callback is None:
            raise NotFound("callback", callback_id, "callbackId")
        before = callback.status
        callback.manual_pending = True
        if callback.status != "SENDING":
            callback.status = "PENDING"
            callback.next_attempt_at = now()
        callback.save()
        record(actor, "callback", callback.id, "resend",
               f"manual resend of {callback.webhook_id} ({callback.entity_type} {callback.entity_id}) "
               f"requested; status was {before}", client=client)
        _after_commit()
    return callback


# --- recording e-mails --------------------------------------------------------------------------

def record_email_sent(email_id: int, owner: str) -> EmailOutbox | None:
    """Mark an e-mail SENT; an invitation's plain code is blanked (codes live only as hashes)."""
    with db.atomic():
        email = EmailOutbox.get_or_none(EmailOutbox.id == email_id)
        if email is None:
            return None
        params = json.loads(email.params_json or "{}")
        if "code" in params:
            params["code"] = ""
        email.params_json = json.dumps(params, default=str, sort_keys=True)
        email.status = "SENT"
        email.sent_at = now()
        email.attempts += 1
        email.last_error = None
        email.lease_owner = email.lease_until = None
        email.save()
    return email


def record_email_failure(email_id: int, owner: str, error: str, *, schedule: list[float],
                         permanent: bool = False, jitter: float = 0.1, rng=random) -> EmailOutbox | None:
    """Count a failed send: QUEUED again after the schedule's next delay, or FAILED when used up.

    `schedule[i]` is the delay after failed attempt i+1; a permanent failure (the server refused
    the recipient for good) is FAILED at once.
    """
    with db.atomic():
        email = EmailOutbox.get_or_none(EmailOutbox.id == email_id)
        if email is None or email.status == "SENT":
            return email
        if email.lease_owner not in (None, owner):
            return email  # another worker took it over after our lease ran out
        email.attempts += 1
        email.last_error = error[:2000]
        delay = None if permanent else retry_delay(schedule, email.attempts - 1, jitter, rng)
        if delay is None:
            email.status = "FAILED"
        else:
            email.status = "QUEUED"
            email.next_attempt_at = now() + dt.timedelta(seconds=delay)
        email.lease_owner = email.lease_until = None
        email.save()
    return email


def retry_email(email_id, *, actor: Actor = SYSTEM) -> EmailOutbox:
    """Send a FAILED (or queued) e-mail again now; audited."""
    with db.atomic():
        email = EmailOutbox.get_or_none(EmailOutbox.id == int(email_id))
        if email is None:
            raise NotFound("e-mail", email_id, "emailId")
        if email.status in ("FAILED", "QUEUED"):
            before = email.status
            email.status, email.next_attempt_at = "QUEUED", now()
            email.save()
            record(actor, "email", email.id, "retry", f"{email.kind} to {email.to_address}: "
                   f"{before} -> QUEUED", client=email.client_id)
            _after_commit()
    return email


def list_emails(*, status: str | None = None, client: Client | None = None, limit: int = 50,
                after: int | None = None, before: int | None = None) -> Page:
    """Queued and sent e-mails, newest first, for the outbox view."""
    query = EmailOutbox.select()
    if status:
        query = query.where(EmailOutbox.status == status)
    if client is not None:
        query = query.where(EmailOutbox.client == client)
    return keyset(query, EmailOutbox.id, limit=limit, after=after, before=before, descending=True)
