"""Shared by the API tests: a shop world with tokens, an httpx client on the ASGI app, and a
JSON-schema check of responses against the plenigo contract (read from shared/contract when it
is beside the repository, else the copy shipped in api/)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from api.app import create_app
from api.contract import EXTENSION_SCHEMAS
from storage.config import Config
from storage.models import Callback, Voucher
from storage.tokens import create_token
from tests import world

ROOT = Path(__file__).resolve().parents[1]
SHARED_CONTRACT = ROOT.parent / "shared" / "contract" / "plenigo-openapi-subset.json"
SHIPPED_CONTRACT = ROOT / "api" / "plenigo-openapi-subset.json"
URI = "urn:test:contract"


@cache
def contract_document() -> dict:
    path = SHARED_CONTRACT if SHARED_CONTRACT.exists() else SHIPPED_CONTRACT
    doc = json.loads(path.read_text(encoding="utf-8"))
    # Our extension's schemas refer to the contract's; they are checked the same way.
    doc["components"]["schemas"].update(EXTENSION_SCHEMAS)
    return doc


@cache
def _validator(name: str) -> Draft202012Validator:
    registry = Registry().with_resource(URI, Resource(contents=contract_document(), specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{URI}#/components/schemas/{name}"}, registry=registry)


def assert_schema(name: str, data) -> None:
    """Fail with every violation when `data` does not match the contract's schema `name`."""
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(name).iter_errors(data)]
    assert not problems, f"{name} violations: {problems}"


def assert_error(response: httpx.Response, status: int, code: int | None = None, field: str | None = None):
    """An error answer in plenigo's shape with this status (and code, and a field named)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert_schema("ErrorResult" if status == 400 else "ErrorResultBase", body)
    assert isinstance(body["errorCode"], int) and body["errorMessage"]
    for problem in body.get("validationErrors", []):
        assert_schema("ValidationError", problem)
    if code is not None:
        assert body["errorCode"] == code, body
    if field is not None:
        assert field in [e["field"] for e in body["validationErrors"]], body
    return body


@dataclass
class ApiWorld:
    shop: world.Shop
    source_token: str
    target_token: str
    sibling_token: str
    south_customer: object
    north_customer: object

    @property
    def source(self):
        return self.shop.world.source

    @property
    def target(self):
        return self.shop.world.target


def make_world(callback_url: str = "http://127.0.0.1:9/callbacks") -> ApiWorld:
    shop = world.shop(callback_url)
    w = shop.world
    return ApiWorld(
        shop,
        create_token(w.source, "source")[1],
        create_token(w.target, "target")[1],
        create_token(w.sibling, "sibling")[1],
        world.customer(w.south, 1),
        world.customer(w.north, 2),
    )


def headers(token: str) -> dict:
    return {"X-plenigo-token": token}


def latest_voucher() -> Voucher:
    return Voucher.select().order_by(Voucher.id.desc()).first()


def latest_callback() -> Callback:
    return Callback.select().order_by(Callback.id.desc()).first()


def api_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver/api/v3.0")


@pytest.fixture
def api_world(any_db) -> ApiWorld:
    """The world on SQLite, and on PostgreSQL too when CROSSCLIENT_TEST_POSTGRES is set."""
    return make_world()


@pytest.fixture
def sqlite_world(sqlite_db) -> ApiWorld:
    """The world on SQLite only, for checks that do not depend on the database."""
    return make_world()


@pytest.fixture
async def api():
    """An httpx client on a fresh app (rate limit high enough not to interfere); the test's world
    fixture opens the database."""
    app = create_app(Config(data={"api": {"rate_limit_per_second": 1000, "rate_limit_burst": 1000},
                                  "sample_merchant": {"token": "unused"}}))
    async with api_client(app) as client:
        client.app = app
        yield client


def signed_headers(secret: str, body: bytes, msg_id: str = "msg_test", at: int | None = None,
                   plenigo: bool = True, standard: bool = True) -> dict:
    """The headers DOMAIN.md says a callback carries, computed here independently of api/."""
    import datetime as dt
    import hashlib
    import hmac
    import time

    from standardwebhooks import Webhook

    at = int(time.time()) if at is None else at
    out = {"content-type": "application/json"}
    if plenigo:
        digest = hmac.new(secret.encode("utf-8"), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
        out["plenigo-signature"] = f"t={at},s={digest}"
    if standard:
        out["webhook-id"] = msg_id
        out["webhook-timestamp"] = str(at)
        out["webhook-signature"] = Webhook(secret).sign(msg_id, dt.datetime.fromtimestamp(at, dt.UTC),
                                                        body.decode())
    return out


def callback_request(callback: Callback, **kwargs) -> tuple[bytes, dict]:
    """The body and headers of a delivery of `callback`, signed with its connection's secret."""
    body = callback.payload_json.encode()
    return body, signed_headers(callback.connection.signing_secret, body, callback.webhook_id, **kwargs)
