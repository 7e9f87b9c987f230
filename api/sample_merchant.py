"""The sample merchant web service: what a source client's integration does with a callback.

An example to read and copy. It uses nothing of crossclient but HTTP, exactly as a publisher's own
web service would:

1. `POST /sample-merchant/callbacks` receives the signed callback of a cross-client purchase.
2. It verifies the signature with the connection's signing secret: plenigo's `plenigo-signature:
   t=<unix seconds>,s=<hex HMAC-SHA256 of "t.body">` (the key is the secret string as shown,
   UTF-8), and the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
   `webhook-signature`) with the `standardwebhooks` library. Every signature sent must be valid and
   at most 5 minutes old, and at least one must be sent; otherwise 401.
3. With its own API token it finds the customer by e-mail (`GET /customers?email=`), creates them
   if absent (`POST /customers`) and redeems the voucher (`POST /subscriptions/useCrossClientVoucher`).
4. It answers 200 when the voucher is redeemed, and also when the API says it was already used
   (35002): delivery is at least once, so a repeated callback must be harmless. Events it does not
   handle are acknowledged with 200 too, so they are not retried. A refusal by the API answers 422
   and a failing API 502, so the callback log shows what went wrong and the sender retries.

Settings (config [sample_merchant], env overrides): `secret` (CROSSCLIENT_SAMPLE_MERCHANT_SECRET;
default the demo's documented secret), `token` (CROSSCLIENT_SAMPLE_MERCHANT_TOKEN), else the token
in `token_file` (default `sample-merchant-token` in the data directory; `crossclient demo` and
`crossclient serve` on the demo database write it), and `api_url` (default: the server the callback
arrived at, `/api/v3.0`). The API is called with httpx.AsyncClient, so calling back into the same
server process never blocks it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from pathlib import Path

import httpx
from standardwebhooks import Webhook
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

log = logging.getLogger("crossclient.sample_merchant")

DEMO_SECRET = "whsec_Y3Jvc3NjbGllbnQtZGVtby1zZWNyZXQtMDE="  # the demo's documented secret
TOLERANCE_SECONDS = 300
MAX_BODY = 256 * 1024
TOKEN_FILE_NAME = "sample-merchant-token"


class SignatureError(Exception):
    pass


def plenigo_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `plenigo-signature` header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},s={digest}"


def verify(secret: str, headers, body: bytes, now: float | None = None) -> None:
    """Raise SignatureError unless every signature sent is valid and at least one was sent."""
    now = time.time() if now is None else now
    checked = 0
    header = headers.get("plenigo-signature")
    if header:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        try:
            timestamp = int(parts.get("t", ""))
        except ValueError:
            raise SignatureError("plenigo-signature has no valid timestamp") from None
        if abs(now - timestamp) > TOLERANCE_SECONDS:
            raise SignatureError("plenigo-signature timestamp is too old or too new")
        expected = plenigo_signature(secret, timestamp, body).split(",s=", 1)[1]
        if not hmac.compare_digest(expected, parts.get("s", "")):
            raise SignatureError("plenigo-signature does not match")
        checked += 1
    if headers.get("webhook-signature"):
        try:
            Webhook(secret).verify(body, {k: headers[k] for k in
                                          ("webhook-id", "webhook-timestamp", "webhook-signature")
                                          if k in headers}, json_parse=False)
        except Exception as exc:
            raise SignatureError(f"webhook-signature: {exc}") from None
        checked += 1
    if not checked:
        raise SignatureError("the callback is not signed")


class ApiRefused(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body if isinstance(body, dict) else {}


class SampleMerchant:
    def __init__(self, *, secret: str = DEMO_SECRET, token: str | None = None,
                 token_file: Path | None = None, api_url: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.secret = secret
        self.token = token
        self.token_file = token_file
        self.api_url = api_url
        self.transport = transport  # tests may route the API calls in-process

    @classmethod
    def from_config(cls, config) -> SampleMerchant:
        from storage.db import default_data_dir

        section = config.section("sample_merchant") if config is not None else {}
        env = os.environ.get
        token_file = section.get("token_file") or str(default_data_dir() / TOKEN_FILE_NAME)
        return cls(secret=env("CROSSCLIENT_SAMPLE_MERCHANT_SECRET") or section.get("secret") or DEMO_SECRET,
                   token=env("CROSSCLIENT_SAMPLE_MERCHANT_TOKEN") or section.get("token") or None,
                   token_file=Path(token_file).expanduser(),
                   api_url=env("CROSSCLIENT_SAMPLE_MERCHANT_API_URL") or section.get("api_url") or None)

    def routes(self) -> list[Route]:
        return [Route("/callbacks", self.callbacks, methods=["POST"])]

    def current_token(self) -> str | None:
        if self.token:
            return self.token
        if self.token_file and self.token_file.is_file():
            lines = self.token_file.read_text(encoding="utf-8").split()
            return lines[-1] if lines else None
        return None

    async def callbacks(self, request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            verify(self.secret, request.headers, body)
        except SignatureError as exc:
            log.warning("sample merchant: refused callback: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=401)
        try:
            event = json.loads(body)
            entity = event["entity"] if isinstance(event, dict) else None
        except (ValueError, KeyError):
            return JSONResponse({"error": "the body is not a callback envelope"}, status_code=400)
        if event.get("entityType") != "CROSS_CLIENT_ORDER" or event.get("callbackType") != "CREATION":
            return JSONResponse({"result": "ignored", "entityType": event.get("entityType")})
        buyer = entity.get("customer") if isinstance(entity, dict) else None
        code = entity.get("voucherCode") if isinstance(entity, dict) else None
        if not isinstance(buyer, dict) or not buyer.get("email") or not code:
            return JSONResponse({"error": "entity.voucherCode and entity.customer.email are required"},
                                status_code=400)
        token = self.current_token()
        if not token:
            return JSONResponse({"error": "the sample merchant has no API token configured"}, status_code=503)
        api_url = (self.api_url or str(request.base_url).rstrip("/") + "/api/v3.0").rstrip("/")
        try:
            async with httpx.AsyncClient(base_url=api_url, transport=self.transport, timeout=30,
                                         headers={"X-plenigo-token": token}) as api:
                customer_id = await self._find_or_create(api, buyer)
                result = await self._redeem(api, customer_id, code)
        except ApiRefused as exc:
            status = 502 if exc.status >= 500 or exc.status in (401, 429) else 422
            log.warning("sample merchant: API refused: %s", exc)
            return JSONResponse({"error": "the API refused", "apiStatus": exc.status, **exc.body},
                                status_code=status)
        except httpx.HTTPError as exc:
            log.warning("sample merchant: API unreachable: %s", exc)
            return JSONResponse({"error": f"the API is unreachable: {exc}"}, status_code=502)
        log.info("sample merchant: voucher %s for customer %s: %s", code, customer_id, result)
        return JSONResponse({"result": result, "customerId": customer_id, "orderId": entity.get("orderId")})

    async def _find_or_create(self, api: httpx.AsyncClient, buyer: dict) -> str:
        found = await self._call(api.get("/customers", params={"email": buyer["email"]}))
        if found.get("items"):
            return found["items"][0]["customerId"]
        language = buyer.get("language") or "de"
        payload = {"email": buyer["email"], "firstName": buyer.get("firstName") or "",
                   "lastName": buyer.get("lastName") or "", "language": language}
        try:
            created = await self._call(api.post("/customers", json=payload))
        except ApiRefused as exc:
            # Another delivery of the same callback created them a moment ago.
            again = await self._call(api.get("/customers", params={"email": buyer["email"]}))
            if again.get("items"):
                return again["items"][0]["customerId"]
            raise exc
        return created["customerId"]

    async def _redeem(self, api: httpx.AsyncClient, customer_id: str, code: str) -> str:
        try:
            await self._call(api.post("/subscriptions/useCrossClientVoucher",
                                      json={"customerId": customer_id, "voucherCode": code}))
        except ApiRefused as exc:
            if exc.body.get("errorCode") == 35002:
                return "already redeemed"
            raise
        return "redeemed"

    @staticmethod
    async def _call(pending) -> dict:
        response = await pending
        try:
            data = response.json()
        except ValueError:
            data = {"errorMessage": response.text[:200]}
        if response.status_code >= 300:
            raise ApiRefused(response.status_code, data)
        return data
