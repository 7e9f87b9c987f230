"""The API on a real uvicorn on a loopback port: the whole flow, concurrency, `crossclient serve`."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from api.server import bind, start_in_thread
from storage.config import Config
from storage.models import Callback, Subscription, Voucher
from tests.api_world import assert_schema, callback_request, headers, make_world


@pytest.fixture
def server(any_db):
    handle = start_in_thread("127.0.0.1", 0, Config(data={"sample_merchant": {"token_file": "/nonexistent"}}))
    yield handle
    handle.stop()
    assert not handle.thread.is_alive()


def _world_calling_back(server):
    """A shop whose connection's callbacks go to the sample merchant of the running server."""
    w = make_world(f"{server.url}/sample-merchant/callbacks")
    merchant = server.server.config.app.state.sample_merchant
    merchant.token = w.source_token
    merchant.secret = w.shop.connection.signing_secret
    return w


async def _deliver(callback: Callback) -> httpx.Response:
    """Deliver a queued callback as DOMAIN.md says the outbox worker does: signed, POSTed once."""
    body, sent = callback_request(callback)
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(callback.connection.callback_url, content=body, headers=sent)


async def test_whole_flow_through_a_real_server(server):
    w = _world_calling_back(server)
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v3.0", timeout=30) as client:
        bought = await client.post(f"/products/shoppingCarts/{w.shop.basket.id}/purchase",
                                   headers=headers(w.target_token),
                                   json={"customerId": w.south_customer.customer_number})
        assert bought.status_code == 201, bought.text
        callback = Callback.get(Callback.entity_id == str(bought.json()["orderId"]))
        assert callback.connection.callback_url.startswith(server.url)

        delivered = await _deliver(callback)
        assert delivered.status_code == 200, delivered.text
        assert delivered.json()["result"] == "redeemed"

        found = await client.get("/customers", headers=headers(w.source_token),
                                 params={"email": w.south_customer.email})
        [customer] = found.json()["items"]
        subs = await client.get(f"/customers/{customer['customerId']}/subscriptions", headers=headers(w.source_token))
        assert subs.status_code == 200
        assert_schema("Subscriptions", subs.json())
        [sub] = subs.json()["items"]
        assert sub["subscriptionType"] == "CROSS_COMPANY_TIME_BASED"
        assert sub["connectedOfferInfo"]["companyId"] == w.target.company_id
        assert sub["connectedOfferInfo"]["customerId"] == w.south_customer.customer_number

        again = await _deliver(callback)  # at-least-once delivery: a repeat changes nothing
        assert again.json()["result"] == "already redeemed"
        assert Subscription.select().where(Subscription.client == w.source).count() == 1


async def test_whole_flow_with_the_outbox_worker(server):
    from mailer import worker

    w = _world_calling_back(server)
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v3.0", timeout=30) as client:
        bought = await client.post(f"/products/shoppingCarts/{w.shop.basket.id}/purchase",
                                   headers=headers(w.target_token),
                                   json={"customerId": w.south_customer.customer_number})
        assert bought.status_code == 201
        handle = worker.start_in_thread(Config())
        try:
            for _ in range(400):
                if Voucher.get().status == "REDEEMED":
                    break
                await asyncio.sleep(0.05)
        finally:
            handle.stop()
        assert Voucher.get().status == "REDEEMED"
        customer = (await client.get("/customers", headers=headers(w.source_token),
                                     params={"email": w.south_customer.email})).json()["items"][0]
        subs = await client.get(f"/customers/{customer['customerId']}/subscriptions", headers=headers(w.source_token))
        assert [s["subscriptionType"] for s in subs.json()["items"]] == ["CROSS_COMPANY_TIME_BASED"]


async def test_twenty_concurrent_redemptions_one_success(server):
    w = _world_calling_back(server)
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v3.0", timeout=60,
                                 limits=httpx.Limits(max_connections=20)) as client:
        bought = await client.post(f"/products/shoppingCarts/{w.shop.basket.id}/purchase",
                                   headers=headers(w.target_token),
                                   json={"customerId": w.south_customer.customer_number})
        assert bought.status_code == 201
        code = Voucher.get().code
        answers = await asyncio.gather(*[
            client.post("/subscriptions/useCrossClientVoucher", headers=headers(w.source_token),
                        json={"customerId": w.north_customer.customer_number, "voucherCode": code})
            for _ in range(20)])
    successes = [a for a in answers if a.status_code == 200]
    assert len(successes) == 1 and successes[0].json() == {"success": True}
    refused = [a.json()["errorCode"] for a in answers if a.status_code != 200]
    assert refused == [35002] * 19
    assert Subscription.select().where(Subscription.voucher.is_null(False)).count() == 1


def test_taken_port_is_a_clear_error(server):
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        bind("127.0.0.1", server.port)


async def test_accepted_connections_send_small_answers_at_once():
    """asyncio turns Nagle off only on sockets whose proto is TCP; bind() must make such a socket,
    or every small answer waits for the client's delayed ACK (about 40 ms)."""
    sock = bind("127.0.0.1", 0)
    accepted = asyncio.get_running_loop().create_future()

    async def on_connect(reader, writer):
        raw = writer.get_extra_info("socket")
        accepted.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=sock)
    try:
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        assert await asyncio.wait_for(accepted, 5) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_crossclient_serve_stops_gracefully_on_sigterm(tmp_path):
    port = _free_port()
    env = {**os.environ, "CROSSCLIENT_DATA_DIR": str(tmp_path / "data"), "CROSSCLIENT_CONFIG": ""}
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "--db", str(tmp_path / "serve.sqlite3"),
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v3.0/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.05)
        assert response.status_code == 200
        assert json.loads(response.text)["servers"][0]["url"] == "/api/v3.0"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v3.0/customers").status_code == 401
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert f"crossclient API on http://127.0.0.1:{port}/api/v3.0" in output
