"""Signed callbacks to source clients' web services: the request, one send, and the test ping.

The body is the fixed JSON text queued with the callback (plenigo's envelope). Each send signs it
afresh with the connection's current secret:

- `plenigo-signature: t=<unix seconds>,s=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with the full
  secret string as shown in the backoffice, `whsec_` prefix included (UTF-8 bytes);
- Standard Webhooks `webhook-id` (the same on every retry), `webhook-timestamp` and
  `webhook-signature: v1,<base64>`, keyed with the base64-decoded part after `whsec_`, signed by
  the `standardwebhooks` package so any Standard Webhooks library verifies it.

Only a 2xx answer counts. Redirects are not followed (a 3xx is a failure), at most 4 KB of the
answer is kept, and a failure is classified as dns, connect, timeout, tls, http or refused.
Header values of configured authentication are masked in the callback log.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import hashlib
import hmac
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlparse

import httpx
from standardwebhooks.webhooks import Webhook

from mailer.network import AddressRefused, NameNotResolved, make_client
from mailer.settings import CallbackSettings, apply_address_policy
from mailer.tls import describe_tls_error
from storage.audit import SYSTEM, Actor
from storage.clock import now
from storage.config import Config
from storage.connections import LIVE, headers_of
from storage.errors import invalid
from storage.models import CallbackAttempt, Client, Connection
from storage.outbox import (
    AttemptOutcome,
    callback_body,
    get_connection_for_callbacks,
    new_webhook_id,
    record_test_ping,
)

SECRET_HEADER_WORDS = ("auth", "token", "key", "secret", "pass", "cookie", "session", "credential",
                       "signature-key", "bearer")
MASK = "****"


@dataclass
class Delivery:
    """Everything one send needs, read from the callback and its connection before sending."""

    callback_id: int
    webhook_id: str
    body: str
    url: str | None
    secret: str
    auth_type: str = "NONE"
    basic_user: str | None = None
    basic_password: str | None = None
    headers: list[tuple[str, str]] | None = None
    trigger: str = "SCHEDULED"

    @classmethod
    def of(cls, callback, connection: Connection, trigger: str) -> Delivery:
        return cls(callback_id=callback.id, webhook_id=callback.webhook_id, body=callback.payload_json,
                   url=connection.callback_url, secret=connection.signing_secret,
                   auth_type=connection.auth_type, basic_user=connection.basic_user,
                   basic_password=connection.basic_password, headers=headers_of(connection),
                   trigger=trigger)

    @property
    def host_key(self) -> str:
        return host_key(self.url)


@functools.lru_cache(maxsize=4096)
def host_key(url: str | None) -> str:
    """The destination (scheme, host, port) whose concurrent sends are bounded (cached: the
    worker asks for every candidate of every claim)."""
    parsed = urlparse(url or "")
    return f"{parsed.scheme}://{parsed.hostname}:{parsed.port or ''}"


def plenigo_signature(secret: str, timestamp: int, body: str) -> str:
    """`t=<timestamp>,s=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret string>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},s={digest}"


def request_headers(delivery: Delivery, timestamp: int) -> dict[str, str]:
    """The headers of one send, signatures included (unmasked: these go on the wire)."""
    headers = {
        "Content-Type": "application/json",
        "plenigo-signature": plenigo_signature(delivery.secret, timestamp, delivery.body),
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": Webhook(delivery.secret).sign(
            delivery.webhook_id, dt.datetime.fromtimestamp(timestamp, dt.UTC), delivery.body),
    }
    if delivery.auth_type == "BASIC" and delivery.basic_user is not None:
        token = base64.b64encode(f"{delivery.basic_user}:{delivery.basic_password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif delivery.auth_type == "HEADERS":
        for key, value in delivery.headers or []:
            headers[key] = value
    return headers


def masked(headers: dict[str, str], delivery: Delivery) -> dict[str, str]:
    """The headers as the callback log shows them: passwords and secret-like values masked."""
    shown = {}
    configured = {k.lower() for k, _ in (delivery.headers or [])} if delivery.auth_type == "HEADERS" else set()
    for key, value in headers.items():
        lower = key.lower()
        if lower == "authorization" and delivery.auth_type == "BASIC":
            shown[key] = f"Basic {delivery.basic_user}:{MASK}"
        elif lower in configured and (lower == "authorization" or any(w in lower for w in SECRET_HEADER_WORDS)):
            shown[key] = MASK
        else:
            shown[key] = value
    return shown


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify(exc: BaseException) -> tuple[str, str]:
    """(error kind, message) of a failed send."""
    for link in _chain(exc):
        if isinstance(link, AddressRefused):
            return "refused", str(link)
        if isinstance(link, NameNotResolved):
            return "dns", str(link)
        if isinstance(link, ssl.SSLError):  # ssl.CertificateError is ssl.SSLCertVerificationError
            return "tls", f"TLS: {describe_tls_error(link)}"
    if isinstance(exc, httpx.TimeoutException | TimeoutError | asyncio.TimeoutError):
        phase = {httpx.ConnectTimeout: "connecting", httpx.ReadTimeout: "waiting for the answer",
                 httpx.WriteTimeout: "sending the request", httpx.PoolTimeout: "waiting for a connection"}
        return "timeout", f"timed out {phase.get(type(exc), 'before the answer was complete')}"
    message = str(exc) or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in message or "SSL" in message:
        return "tls", f"TLS: {message}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "refused", f"invalid callback URL: {message}"
    if isinstance(exc, httpx.ConnectError | OSError):
        return "connect", f"connection failed: {message}"
    if isinstance(exc, httpx.TransportError):
        return "connect", f"connection broken: {message}"
    return "connect", f"{type(exc).__name__}: {message}"


async def send(client: httpx.AsyncClient, delivery: Delivery, settings: CallbackSettings) -> AttemptOutcome:
    """POST one callback and describe what happened; never raises for network trouble."""
    timestamp = int(time.time())
    headers = request_headers(delivery, timestamp)
    outcome = AttemptOutcome(callback_id=delivery.callback_id, trigger=delivery.trigger, success=False,
                             url=delivery.url or "", request_headers=masked(headers, delivery),
                             request_body=delivery.body)
    parsed = urlparse(delivery.url or "")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        outcome.error_kind = "refused"
        outcome.error_message = ("the connection has no callback URL" if not delivery.url
                                 else "callback URL must be http:// or https://")
        return outcome
    started = time.perf_counter()
    try:
        async with asyncio.timeout(settings.timeout):
            async with client.stream("POST", delivery.url, content=delivery.body.encode(),
                                     headers=headers) as response:
                outcome.http_status = response.status_code
                excerpt = bytearray()
                limit = settings.response_excerpt_bytes
                if limit:
                    async for chunk in response.aiter_bytes():
                        excerpt.extend(chunk)
                        if len(excerpt) >= limit:
                            break
                outcome.response_excerpt = bytes(excerpt[:limit]).decode("utf-8", "replace") or None
                location = response.headers.get("location")
    except Exception as exc:  # every failure is an outcome, logged in the callback log
        outcome.error_kind, outcome.error_message = classify(exc)
        outcome.duration_ms = round((time.perf_counter() - started) * 1000)
        return outcome
    outcome.duration_ms = round((time.perf_counter() - started) * 1000)
    status = outcome.http_status
    if 200 <= status < 300:
        outcome.success = True
    elif 300 <= status < 400:
        outcome.error_kind = "http"
        outcome.error_message = f"HTTP {status}: redirect" + (f" to {location}" if location else "") + \
            " not followed; callbacks need a 2xx answer"
    else:
        outcome.error_kind = "http"
        outcome.error_message = f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".strip()
    return outcome


TEST_MESSAGE = ("Test callback from crossclient. It carries no voucher: answer with any 2xx status "
                "and ignore it.")


def test_body(connection: Connection) -> str:
    """The test ping's envelope: a CROSS_CLIENT_ORDER CREATION whose entity says `test: true`.

    It uses the real entity and callback types so that a receiver's routing and signature check
    are exercised; `entityId` is `TEST-<connection id>` and the entity has no voucher code.
    """
    source, target = connection.source, connection.target
    entity = {"test": True, "message": TEST_MESSAGE, "connectionId": connection.id,
              "sourceCompanyId": source.company_id, "targetCompanyId": target.company_id,
              "sentAt": now().isoformat(timespec="seconds") + "Z"}
    return callback_body("CROSS_CLIENT_ORDER", "CREATION", f"TEST-{connection.id}", entity)


def send_test_ping(connection_id, client: Client, *, actor: Actor = SYSTEM,
                   config: Config | None = None) -> CallbackAttempt:
    """Send a signed test callback to the connection's URL now; log it with trigger TEST.

    `client` must be the connection's source (the callbacks are its). Blocks for at most the
    callback timeout, so call it from a thread worker (TUI) or a thread pool (API). It honours the
    same address policy, timeouts and signatures as the worker.
    """
    connection = get_connection_for_callbacks(connection_id, client)
    if connection.status not in LIVE:
        raise invalid("connectionId", f"connection is {connection.status}; only live connections can be "
                      "tested", connection.id)
    if not connection.callback_url:
        raise invalid("callbackUrl", "the connection has no callback URL to test", "")
    config = config or Config()
    settings = CallbackSettings.from_config(config)
    settings.allow_private_addresses = apply_address_policy(config)
    body = test_body(connection)
    delivery = Delivery(callback_id=0, webhook_id=new_webhook_id(), body=body, url=connection.callback_url,
                        secret=connection.signing_secret, auth_type=connection.auth_type,
                        basic_user=connection.basic_user, basic_password=connection.basic_password,
                        headers=headers_of(connection), trigger="TEST")

    async def once() -> AttemptOutcome:
        async with make_client(settings) as http:
            return await send(http, delivery, settings)

    # A private event loop in a private thread: works whether or not the caller runs a loop.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crossclient-ping") as pool:
        outcome = pool.submit(asyncio.run, once()).result()
    return record_test_ping(connection, delivery.webhook_id, body, outcome, actor=actor)


def verify_plenigo_signature(secret: str, header: str, body: str, *, tolerance: int = 300,
                             at: float | None = None) -> bool:
    """Check a `plenigo-signature` header the way a receiver should (used by tests and the docs)."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((at if at is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = plenigo_signature(secret, timestamp, body).split("s=", 1)[1]
    return hmac.compare_digest(expected, parts.get("s", ""))


def describe(outcome: AttemptOutcome) -> str:
    """One line for toasts and logs."""
    if outcome.success:
        return f"delivered (HTTP {outcome.http_status}, {outcome.duration_ms} ms)"
    return f"{outcome.error_kind}: {outcome.error_message}"
