"""The demo with the bundled sample merchant: a purchase ends redeemed in Nordpost Digital."""
from __future__ import annotations

import httpx
import pytest

from api.server import provision_sample_merchant, start_in_thread
from storage.config import Config
from storage.demo import DEMO_SECRET, NORDPOST_DIGITAL, write_demo
from storage.models import Callback, Subscription, Voucher
from storage.tenancy import get_client
from storage.tokens import authenticate
from tests.api_world import callback_request


@pytest.fixture
def demo(sqlite_db, tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSCLIENT_DATA_DIR", str(tmp_path / "data"))
    for name in ("CROSSCLIENT_SAMPLE_MERCHANT_TOKEN", "CROSSCLIENT_SAMPLE_MERCHANT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    write_demo(customers_per_side=6)
    return tmp_path / "data" / "sample-merchant-token"


def test_demo_token_is_provisioned_once(demo):
    path = provision_sample_merchant(Config())
    assert path == str(demo) and demo.stat().st_mode & 0o777 == 0o600
    token = demo.read_text().strip()
    assert authenticate(token).client.company_id == NORDPOST_DIGITAL
    assert provision_sample_merchant(Config()) == str(demo)
    assert demo.read_text().strip() == token  # a working token is kept
    demo.write_text("ccx_revoked-or-foreign\n")
    provision_sample_merchant(Config())
    assert authenticate(demo.read_text().strip()).client.company_id == NORDPOST_DIGITAL
    # An explicitly configured token is the integrator's business: nothing is written.
    assert provision_sample_merchant(Config(data={"sample_merchant": {"token": "ccx_x"}})) is None


async def test_demo_callback_is_redeemed_by_the_sample_merchant(demo):
    handle = start_in_thread("127.0.0.1", 0, Config())
    try:
        callback = Callback.select().where(Callback.status == "PENDING").order_by(Callback.id).first()
        assert callback.connection.signing_secret == DEMO_SECRET
        voucher = Voucher.get(Voucher.code == callback.payload_json.split('"voucherCode":"')[1][:19])
        assert voucher.status == "OPEN"
        body, sent = callback_request(callback)
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{handle.url}/sample-merchant/callbacks", content=body, headers=sent)
        assert response.status_code == 200, response.text
        assert response.json()["result"] == "redeemed"
        redeemed = Voucher.get_by_id(voucher.id)
        assert redeemed.status == "REDEEMED"
        sub = Subscription.get(Subscription.voucher == redeemed)
        assert sub.client == get_client(NORDPOST_DIGITAL)
        assert sub.subscription_type == "CROSS_COMPANY_TIME_BASED"
    finally:
        handle.stop()
