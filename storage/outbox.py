"""The durable outbox: e-mails and callbacks queued in the transaction that causes them.

The mailer claims due rows from here, sends them outside any transaction and records the outcome;
this module only writes and reads rows, so the rules stay in storage.
"""
from __future__ import annotations

import json
import uuid

from storage.clock import now
from storage.models import Callback, Client, Connection, EmailOutbox


def queue_email(kind: str, to_address: str, params: dict, *, client: Client | None = None) -> EmailOutbox:
    """Queue one e-mail of `kind` (a template name) with its parameters; call inside a transaction."""
    return EmailOutbox.create(kind=kind, to_address=to_address, client=client,
                              params_json=json.dumps(params, default=str, sort_keys=True),
                              next_attempt_at=now())


def list_emails(*, status: str | None = None, limit: int = 50, after: int | None = None,
                before: int | None = None):
    """The e-mail outbox, newest first, optionally one status (QUEUED SENDING SENT FAILED)."""
    from storage.paging import keyset

    query = EmailOutbox.select()
    if status:
        query = query.where(EmailOutbox.status == status)
    return keyset(query, EmailOutbox.id, limit=limit, after=after, before=before, descending=True)


def queue_callback(connection: Connection, entity_type: str, callback_type: str, entity_id: str,
                   entity: dict) -> Callback:
    """Queue a callback to the connection's source; the body is fixed now, signed at each send."""
    body = {"entityType": entity_type, "callbackType": callback_type, "entityId": str(entity_id),
            "entity": entity}
    return Callback.create(connection=connection, client=connection.source_id,
                           webhook_id=f"msg_{uuid.uuid4().hex}", entity_type=entity_type,
                           callback_type=callback_type, entity_id=str(entity_id),
                           payload_json=json.dumps(body, default=str, sort_keys=True,
                                                   separators=(",", ":")),
                           next_attempt_at=now())


def record_callback_attempt(callback: Callback, *, success: bool, final_try: bool, trigger: str,
                            http_status: int | None = None, error_kind: str | None = None,
                            error_message: str | None = None, duration_ms: int = 0,
                            response_excerpt: str | None = None, url: str = "",
                            request_headers: dict | None = None, request_body: str = ""):
    """Write one callback-log row for `callback` and bump its try count; call inside a transaction."""
    from storage.models import CallbackAttempt

    callback.tries += 1
    attempt = CallbackAttempt.create(
        callback=callback, client=callback.client_id, connection=callback.connection_id,
        entity_type=callback.entity_type, callback_type=callback.callback_type,
        entity_id=callback.entity_id, try_number=callback.tries, final_try=final_try,
        success=success, http_status=http_status, error_kind=error_kind,
        error_message=error_message, duration_ms=duration_ms,
        response_excerpt=(response_excerpt or "")[:4096] or None, trigger=trigger, url=url,
        request_headers_json=json.dumps(request_headers or {}, sort_keys=True),
        request_body=request_body)
    if success:
        callback.status = "DELIVERED"
        callback.delivered_at = attempt.created_at
        callback.next_attempt_at = None
    elif final_try:
        callback.status = "FAILED"
        callback.next_attempt_at = None
    callback.lease_owner = None
    callback.lease_until = None
    callback.save()
    return attempt
