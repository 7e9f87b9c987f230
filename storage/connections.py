"""Cross-client connections: creation, the invitation, and the state machine of DOMAIN.md.

| from    | to       | by          |
| (new)   | INVITED  | source      |
| INVITED | ACTIVE   | target      |
| INVITED | DECLINED | target      |
| INVITED | REVOKED  | source      |
| INVITED | EXPIRED  | system      |
| ACTIVE  | BLOCKED  | either side |
| BLOCKED | ACTIVE   | the side that blocked |

Anything else is refused with 10025. Invitation codes are 128-bit random, single use, bound to the
target, and only their SHA-256 digest is stored; the plain code travels only in the invitation
e-mail (the outbox row is blanked once the mail is sent).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets

from storage.addresses import url_problem
from storage.audit import SYSTEM, Actor, changes, record
from storage.clock import now
from storage.db import db, is_postgres
from storage.errors import (
    CONNECTION_EXISTS,
    CONNECTION_NOT_USABLE,
    CONNECTION_TRANSITION_INVALID,
    INVITATION_INVALID,
    MODULE_INACTIVE,
    DomainError,
    FieldError,
    NotFound,
    invalid,
)
from storage.models import Client, Connection, ContractCompany
from storage.outbox import queue_email
from storage.paging import Page, keyset
from storage.tenancy import get_client, same_contract_company
from storage.validation import Checker

INVITATION_TTL = dt.timedelta(days=14)
LIVE = ("INVITED", "ACTIVE", "BLOCKED")
STATUSES = ("INVITED", "ACTIVE", "DECLINED", "REVOKED", "EXPIRED", "BLOCKED")
AUTH_TYPES = ("NONE", "BASIC", "HEADERS")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# Headers the callback sender sets itself; a configured pair may not override them.
# Callback URLs resolving to private, loopback or link-local addresses are refused unless this is
# set; whoever starts the process (app, worker, tests, demo) sets it from [callbacks]
# allow_private_addresses, because storage reads no configuration itself.
ALLOW_PRIVATE_CALLBACK_URLS = False
RESERVED_HEADERS = {"content-type", "content-length", "host", "plenigo-signature", "webhook-id",
                    "webhook-timestamp", "webhook-signature", "transfer-encoding", "connection"}


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def new_invitation_code() -> str:
    """128 random bits, in groups for reading aloud over the phone."""
    raw = base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")  # 160 bits
    return "-".join(raw[i:i + 8] for i in range(0, 32, 8))


def hash_code(code: str) -> str:
    normalized = re.sub(r"[\s-]", "", code or "").upper()
    return hashlib.sha256(normalized.encode()).hexdigest()


def side_of(connection: Connection, client: Client) -> str:
    """SOURCE or TARGET; a client that is neither does not see the connection at all."""
    if connection.source_id == client.id:
        return "SOURCE"
    if connection.target_id == client.id:
        return "TARGET"
    raise NotFound("connection", connection.id, "connectionId")


def get_connection(connection_id: int, client: Client | None = None) -> Connection:
    """The connection, as seen by `client` (source or target); others get 99404."""
    try:
        cid = int(connection_id)
    except (TypeError, ValueError):
        raise invalid("connectionId", "must be a number", connection_id) from None
    connection = Connection.get_or_none(Connection.id == cid)
    if connection is None:
        raise NotFound("connection", connection_id, "connectionId")
    if client is not None:
        side_of(connection, client)
    return connection


def list_connections(client: Client, *, direction: str | None = None, status: str | None = None,
                     limit: int = 50, after: int | None = None, before: int | None = None) -> Page:
    """Outgoing (source) and incoming (target) connections of `client`, newest first."""
    Source, Target = Client.alias(), Client.alias()
    query = (Connection.select(Connection, Source, Target)
             .join(Source, on=(Connection.source == Source.id))
             .switch(Connection).join(Target, on=(Connection.target == Target.id)))
    if direction == "OUT":
        query = query.where(Connection.source == client)
    elif direction == "IN":
        query = query.where(Connection.target == client)
    else:
        query = query.where((Connection.source == client) | (Connection.target == client))
    if status:
        query = query.where(Connection.status == status)
    return keyset(query, Connection.id, limit=limit, after=after, before=before, descending=True)


def _check_callback_settings(check: Checker, *, callback_url, required: bool, auth_type: str,
                             basic_user, basic_password, headers) -> tuple:
    url = check.url("callbackUrl", callback_url, required)
    if url and not check.errors and not ALLOW_PRIVATE_CALLBACK_URLS:
        problem = url_problem(url)
        if problem:
            check.fail("callbackUrl", problem, url)
    auth_type = check.one_of("authType", auth_type or "NONE", AUTH_TYPES)
    pairs: list[list[str]] = []
    user = password = None
    if auth_type == "BASIC":
        user = check.required("basicUser", basic_user, 200)
        if ":" in (user or ""):
            check.fail("basicUser", "must not contain a colon", user)
        password = check.required("basicPassword", basic_password, 200)
    elif auth_type == "HEADERS":
        for i, pair in enumerate(headers or []):
            key, value = (list(pair) + ["", ""])[:2]
            key, value = str(key).strip(), str(value)
            if not HEADER_NAME.match(key):
                check.fail(f"headers[{i}].key", "must be a valid HTTP header name", key)
            elif key.lower() in RESERVED_HEADERS:
                check.fail(f"headers[{i}].key", "is set by crossclient and cannot be overridden", key)
            if "\r" in value or "\n" in value or len(value) > 2000:
                check.fail(f"headers[{i}].value", "must be one line of at most 2000 characters", "")
            pairs.append([key, value])
        if not pairs:
            check.fail("headers", "at least one header pair is required for header authentication", "")
    return url, auth_type, user, password, pairs


def _require_module(company: ContractCompany, field: str) -> None:
    if not company.cross_client_module:
        raise DomainError(
            MODULE_INACTIVE,
            f"The contract module CROSS_CLIENT_CONNECTIONS is not active for contract company "
            f"{company.name}", [FieldError(field, "contract module CROSS_CLIENT_CONNECTIONS inactive",
                                           company.name)])


def _queue_invitation(connection: Connection, code: str) -> None:
    source, target = connection.source, connection.target
    queue_email("invitation", target.contact_email, {
        "connection_id": connection.id,
        "source_name": source.name,
        "source_company_id": source.company_id,
        "source_contract_company": source.contract_company.name,
        "target_name": target.name,
        "target_company_id": target.company_id,
        "access_to_offers": connection.access_to_offers,
        "code": code,
        "expires_at": connection.invitation_expires_at.isoformat(timespec="minutes"),
    }, client=target)


def _issue_invitation(connection: Connection) -> str:
    code = new_invitation_code()
    connection.invitation_token_hash = hash_code(code)
    connection.invitation_expires_at = now() + INVITATION_TTL
    return code


def create_connection(source: Client, target_company_id: str, *, access_to_offers: bool = True,
                      callback_url: str | None = None, auth_type: str = "NONE",
                      basic_user: str | None = None, basic_password: str | None = None,
                      headers: list | None = None, actor: Actor = SYSTEM) -> Connection:
    """Invite `target_company_id`; the invitation e-mail is queued in the same transaction."""
    check = Checker()
    target_id = check.company_id("targetCompanyId", target_company_id)
    check.raise_if_any()
    with db.atomic():
        source = Client.get_by_id(source.id)
        target = get_client(target_id, "targetCompanyId")
        if target.id == source.id:
            raise invalid("targetCompanyId", "must not be the source client itself", target_id)
        _require_module(source.contract_company, "sourceCompanyId")
        two_companies = not same_contract_company(source, target)
        if two_companies:
            _require_module(target.contract_company, "targetCompanyId")
        check = Checker()
        url, auth_type, user, password, pairs = _check_callback_settings(
            check, callback_url=callback_url, required=two_companies, auth_type=auth_type,
            basic_user=basic_user, basic_password=basic_password, headers=headers)
        check.raise_if_any()
        live = (Connection.select().where((Connection.source == source) & (Connection.target == target)
                                          & Connection.status.in_(LIVE)).first())
        if live is not None:
            raise DomainError(CONNECTION_EXISTS,
                              f"A connection from {source.company_id} to {target.company_id} already "
                              f"exists (#{live.id}, {live.status})",
                              [FieldError("targetCompanyId", "connection already exists", target_id)])
        connection = Connection(source=source, target=target, status="INVITED",
                                access_to_offers=bool(access_to_offers), callback_url=url,
                                auth_type=auth_type, basic_user=user, basic_password=password,
                                headers_json=json.dumps(pairs), signing_secret=new_secret())
        code = _issue_invitation(connection)
        connection.save()
        record(actor, "connection", connection.id, "create",
               f"{source.company_id} -> {target.company_id}; access to offers "
               f"{'on' if access_to_offers else 'off'}; invitation sent to {target.contact_email}",
               client=source)
        _queue_invitation(connection, code)
    return connection


def _refuse(connection: Connection, verb: str, why: str = "") -> DomainError:
    text = f"Connection #{connection.id} is {connection.status}; it cannot be {verb}"
    return DomainError(CONNECTION_TRANSITION_INVALID, text + (f" ({why})" if why else ""),
                       [FieldError("status", f"cannot be {verb}", connection.status)])


def _move(connection: Connection, to: str, actor: Actor, action: str, client: Client | None,
          summary: str = "") -> Connection:
    before = connection.status
    connection.status = to
    connection.changed_at = now()
    connection.save()
    record(actor, "connection", connection.id, action,
           f"status: {before} -> {to}" + (f"; {summary}" if summary else ""), client=client)
    return connection


def _notify_source(connection: Connection, outcome: str) -> None:
    source, target = connection.source, connection.target
    queue_email("invitation_answered", source.contact_email, {
        "connection_id": connection.id, "outcome": outcome, "source_name": source.name,
        "target_name": target.name, "target_company_id": target.company_id,
    }, client=source)


def _expired(connection: Connection) -> bool:
    return (connection.status == "INVITED" and connection.invitation_expires_at is not None
            and connection.invitation_expires_at <= now())


def _refuse_if_expired(connection: Connection, verb: str) -> None:
    """An invitation past its expiry is dead even if no sweep has reached it yet (sweeps batch)."""
    if _expired(connection):
        raise _refuse(connection, verb, f"the invitation expired on "
                      f"{connection.invitation_expires_at:%Y-%m-%d %H:%M} UTC")


def _locked(connection_id: int, client: Client) -> tuple[Connection, str]:
    """Re-read the connection inside the transaction (row-locked on PostgreSQL)."""
    query = Connection.select().where(Connection.id == int(connection_id))
    if is_postgres():
        query = query.for_update()
    connection = query.first()
    if connection is None:
        raise NotFound("connection", connection_id, "connectionId")
    return connection, side_of(connection, client)


def _pending(connection_id: int, client: Client, verb: str, side: str) -> Connection:
    """The open invitation, locked, if `client` is on `side` to answer it; else 10025."""
    connection, mine = _locked(connection_id, client)
    if connection.status != "INVITED":
        raise _refuse(connection, verb)
    _refuse_if_expired(connection, verb)
    if mine != side:
        who = "invited target" if side == "TARGET" else "inviting source"
        raise _refuse(connection, verb, f"only the {who} client can do that")
    return connection


def accept_invitation(connection_id: int, client: Client, *, actor: Actor = SYSTEM) -> Connection:
    """The target accepts interactively in the backoffice."""
    expire_invitations()
    with db.atomic():
        connection = _pending(connection_id, client, "accepted", "TARGET")
        # The module may have been switched off since the invitation went out.
        _require_module(connection.source.contract_company, "sourceCompanyId")
        if not same_contract_company(connection.source, connection.target):
            _require_module(connection.target.contract_company, "targetCompanyId")
        connection.invitation_token_hash = None
        connection.answered_at = now()
        _move(connection, "ACTIVE", actor, "accept", client)
        _notify_source(connection, "ACTIVE")
    return connection


def accept_invitation_code(client: Client, code: str, *, actor: Actor = SYSTEM) -> Connection:
    """The target accepts with the code from the invitation e-mail."""
    if not (code or "").strip():
        raise invalid("invitationCode", "is required", code)
    expire_invitations()
    digest = hash_code(code)
    with db.atomic():
        connection = Connection.get_or_none(Connection.invitation_token_hash == digest)
        if connection is None or connection.target_id != client.id:
            # Unknown, already used, replaced by a resend, or meant for another client.
            raise DomainError(INVITATION_INVALID,
                              "This invitation code is not valid for this client: it is unknown, "
                              "was already used, replaced by a newer invitation, or has expired",
                              [FieldError("invitationCode", "invalid or used", "")])
        return accept_invitation(connection.id, client, actor=actor)


def decline_invitation(connection_id: int, client: Client, *, actor: Actor = SYSTEM) -> Connection:
    expire_invitations()
    with db.atomic():
        connection = _pending(connection_id, client, "declined", "TARGET")
        connection.invitation_token_hash = None
        connection.answered_at = now()
        _move(connection, "DECLINED", actor, "decline", client)
        _notify_source(connection, "DECLINED")
    return connection


def revoke_invitation(connection_id: int, client: Client, *, actor: Actor = SYSTEM) -> Connection:
    expire_invitations()
    with db.atomic():
        connection = _pending(connection_id, client, "revoked", "SOURCE")
        connection.invitation_token_hash = None
        _move(connection, "REVOKED", actor, "revoke", client)
    return connection


def resend_invitation(connection_id: int, client: Client, *, actor: Actor = SYSTEM) -> Connection:
    """New code (the old one dies), new expiry, a new e-mail."""
    expire_invitations()
    with db.atomic():
        connection = _pending(connection_id, client, "re-sent", "SOURCE")
        code = _issue_invitation(connection)
        connection.changed_at = now()
        connection.save()
        record(actor, "connection", connection.id, "resend",
               f"new invitation to {connection.target.contact_email}, expires "
               f"{connection.invitation_expires_at:%Y-%m-%d %H:%M}", client=client)
        _queue_invitation(connection, code)
    return connection


def expire_invitations() -> int:
    """System transition INVITED -> EXPIRED for invitations past their expiry; returns the count."""
    due = list(Connection.select(Connection.id).where(
        (Connection.status == "INVITED") & (Connection.invitation_expires_at <= now())).limit(500))
    count = 0
    for row in due:
        with db.atomic():
            query = Connection.select().where(Connection.id == row.id)
            connection = (query.for_update() if is_postgres() else query).get()
            if not _expired(connection):
                continue
            connection.invitation_token_hash = None
            _move(connection, "EXPIRED", SYSTEM, "expire", connection.source,
                  "invitation not answered in time")
            _notify_source(connection, "EXPIRED")
            count += 1
    return count


def block_connection(connection_id: int, client: Client, *, actor: Actor = SYSTEM) -> Connection:
    with db.atomic():
        connection, side = _locked(connection_id, client)
        if connection.status != "ACTIVE":
            raise _refuse(connection, "blocked")
        connection.blocked_by = side
        _move(connection, "BLOCKED", actor, "block", client, f"blocked by {side.lower()}")
    return connection


def unblock_connection(connection_id: int, client: Client, *, actor: Actor = SYSTEM) -> Connection:
    with db.atomic():
        connection, side = _locked(connection_id, client)
        if connection.status != "BLOCKED":
            raise _refuse(connection, "unblocked")
        if connection.blocked_by != side:
            raise _refuse(connection, "unblocked",
                          f"only the {connection.blocked_by.lower()} side that blocked it can unblock")
        connection.blocked_by = None
        _move(connection, "ACTIVE", actor, "unblock", client)
    return connection


def _settings(connection: Connection) -> dict:
    return {"accessToOffers": connection.access_to_offers, "callbackUrl": connection.callback_url,
            "authType": connection.auth_type, "basicUser": connection.basic_user,
            "headers": ", ".join(k for k, _ in json.loads(connection.headers_json or "[]"))}


_KEEP = object()


def update_connection(connection_id: int, client: Client, *, access_to_offers=_KEEP,
                      callback_url=_KEEP, auth_type=_KEEP, basic_user=_KEEP, basic_password=_KEEP,
                      headers=_KEEP, actor: Actor = SYSTEM) -> Connection:
    """The source edits access to offers and the callback settings of a live connection."""
    with db.atomic():
        connection, side = _locked(connection_id, client)
        if side != "SOURCE":
            raise DomainError(CONNECTION_TRANSITION_INVALID,
                              "Only the source client edits a connection's settings",
                              [FieldError("connectionId", "not the source client", str(connection.id))])
        if connection.status not in LIVE:
            raise _refuse(connection, "edited")
        before = _settings(connection)

        def pick(value, current):
            return current if value is _KEEP else value

        new_auth = pick(auth_type, connection.auth_type)
        check = Checker()
        url, new_auth, user, password, pairs = _check_callback_settings(
            check, callback_url=pick(callback_url, connection.callback_url),
            required=not same_contract_company(connection.source, connection.target),
            auth_type=new_auth,
            basic_user=pick(basic_user, connection.basic_user),
            basic_password=pick(basic_password, connection.basic_password),
            headers=pick(headers, json.loads(connection.headers_json or "[]")))
        check.raise_if_any()
        if access_to_offers is not _KEEP:
            connection.access_to_offers = bool(access_to_offers)
        connection.callback_url = url
        connection.auth_type = new_auth
        connection.basic_user, connection.basic_password = user, password
        connection.headers_json = json.dumps(pairs)
        connection.changed_at = now()
        connection.save()
        summary = changes(before, _settings(connection))
        if basic_password is not _KEEP and new_auth == "BASIC":
            summary = "; ".join(filter(None, [summary, "basic password changed"]))
        record(actor, "connection", connection.id, "edit", summary or "no change", client=client)
    return connection


def rotate_secret(connection_id: int, client: Client, *, actor: Actor = SYSTEM) -> Connection:
    """A new signing secret; callbacks signed from now on use it."""
    with db.atomic():
        connection, side = _locked(connection_id, client)
        if side != "SOURCE":
            raise DomainError(CONNECTION_TRANSITION_INVALID,
                              "Only the source client rotates the signing secret",
                              [FieldError("connectionId", "not the source client", str(connection.id))])
        connection.signing_secret = new_secret()
        connection.changed_at = now()
        connection.save()
        record(actor, "connection", connection.id, "rotate_secret", "signing secret rotated",
               client=client)
    return connection


def headers_of(connection: Connection) -> list[tuple[str, str]]:
    return [(k, v) for k, v in json.loads(connection.headers_json or "[]")]


def usable_for_offers(connection: Connection | None) -> bool:
    """Whether the target may add or sell the source's cross-client offers through it."""
    return connection is not None and connection.status == "ACTIVE" and connection.access_to_offers


def live_connection(source_id: int, target_id: int) -> Connection | None:
    return (Connection.select()
            .where((Connection.source == source_id) & (Connection.target == target_id)
                   & Connection.status.in_(LIVE)).first())


def require_usable(source: Client, target: Client, field: str) -> Connection:
    """The ACTIVE connection with access to offers from source to target, or a refusal."""
    connection = live_connection(source.id, target.id)
    if not usable_for_offers(connection):
        state = "no connection" if connection is None else (
            f"connection #{connection.id} is {connection.status}" if connection.status != "ACTIVE"
            else f"access to offers is off on connection #{connection.id}")
        raise DomainError(CONNECTION_NOT_USABLE,
                          f"Offers of {source.name} ({source.company_id}) cannot be used by "
                          f"{target.name}: {state}", [FieldError(field, state, source.company_id)])
    return connection

