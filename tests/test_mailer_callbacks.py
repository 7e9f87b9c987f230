"""Callbacks against a real uvicorn receiver: body, headers, signatures, retries, failures, log."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading

import pytest
from standardwebhooks.webhooks import Webhook

from mailer.callbacks import send_test_ping
from mailer.worker import Worker
from storage import connections
from storage.audit import history
from storage.config import Config
from storage.connections import create_connection, update_connection
from storage.db import db
from storage.errors import NotFound, ValidationError
from storage.models import Callback, CallbackAttempt, EmailOutbox
from storage.orders import place_order
from storage.outbox import queue_callback, request_resend
from tests.mailer_servers import Receiver, wait_for
from tests.world import OPS, companies, customer, shop


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def config(tmp_path, *, allow_private=True, **callbacks) -> Config:
    return Config(data={
        "mail": {"transport": "file", "outbox_dir": str(tmp_path / "outbox")},
        "callbacks": {"allow_private_addresses": allow_private, "retry_schedule": ["0s", "1h"], **callbacks},
        "worker": {"poll_interval": 0.05},
    })


def sell(url: str, buyers: int = 1):
    """A shop whose connection calls back to `url`, and `buyers` purchases (one callback each)."""
    s = shop(url=url)
    for n in range(1, buyers + 1):
        place_order(s.world.target, s.basket.id, customer(s.world.south, n).customer_number)
    return s


def run_until(cfg: Config, condition, timeout: float = 15.0):
    """Run a worker in its own thread until `condition()` holds, then stop it gracefully."""
    stop_box: dict = {}

    def main():
        async def go():
            stop_box["loop"] = asyncio.get_running_loop()
            stop_box["stop"] = asyncio.Event()
            await Worker(cfg).run(stop_box["stop"])
        asyncio.run(go())

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        return wait_for(condition, timeout)
    finally:
        wait_for(lambda: "stop" in stop_box, 5)
        stop_box["loop"].call_soon_threadsafe(stop_box["stop"].set)
        thread.join(20)


def deliver(cfg: Config) -> int:
    return asyncio.run(Worker(cfg).run_once())


def attempts(callback_id=None) -> list[CallbackAttempt]:
    query = CallbackAttempt.select().order_by(CallbackAttempt.id)
    if callback_id is not None:
        query = query.where(CallbackAttempt.callback == callback_id)
    return list(query)


def test_payload_and_headers_as_specified_and_both_signatures_verify(sqlite_db, tmp_path, receiver):
    s = sell(receiver.url("/hooks/ok"))
    assert deliver(config(tmp_path)) >= 1
    [got] = receiver.app.snapshot()
    callback = Callback.get()
    secret = s.connection.signing_secret
    body = got.body.decode()
    assert body == callback.payload_json
    envelope = json.loads(body)
    assert envelope["entityType"] == "CROSS_CLIENT_ORDER" and envelope["callbackType"] == "CREATION"
    assert envelope["entityId"] == callback.entity_id
    entity = envelope["entity"]
    assert len(json.dumps(entity)) > 50  # voucher code, customer, offer, order, companies
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"] == callback.webhook_id
    # Standard Webhooks, verified by the reference library.
    assert Webhook(secret).verify(body, got.headers) == envelope
    # plenigo-signature, checked independently: HMAC-SHA256 of "t.body" keyed with the full secret.
    parts = dict(p.split("=", 1) for p in got.headers["plenigo-signature"].split(","))
    assert parts["t"] == got.headers["webhook-timestamp"]
    expected = hmac.new(secret.encode(), f"{parts['t']}.{body}".encode(), hashlib.sha256).hexdigest()
    assert parts["s"] == expected
    # ...and the callback log row says what went out.
    [attempt] = attempts()
    assert (attempt.try_number, attempt.success, attempt.http_status, attempt.trigger) == (1, True, 204, "SCHEDULED")
    assert attempt.url == receiver.url("/hooks/ok") and attempt.request_body == body
    logged = json.loads(attempt.request_headers_json)
    assert logged["webhook-id"] == callback.webhook_id and "plenigo-signature" in logged
    assert attempt.duration_ms >= 0 and attempt.final_try is False
    assert Callback.get_by_id(callback.id).status == "DELIVERED"


def test_basic_auth_is_sent_and_masked_in_the_log(sqlite_db, tmp_path, receiver):
    s = sell(receiver.url("/ok"))
    update_connection(s.connection.id, s.world.source, auth_type="BASIC", basic_user="merchant",
                      basic_password="s3cret-pw", actor=OPS)
    deliver(config(tmp_path))
    [got] = receiver.app.snapshot()
    assert got.headers["authorization"] == "Basic " + base64.b64encode(b"merchant:s3cret-pw").decode()
    logged = attempts()[0].request_headers_json
    assert "s3cret-pw" not in logged and base64.b64encode(b"merchant:s3cret-pw").decode() not in logged
    assert json.loads(logged)["Authorization"] == "Basic merchant:****"


def test_header_pairs_are_sent_and_secret_ones_masked(sqlite_db, tmp_path, receiver):
    s = sell(receiver.url("/ok"))
    update_connection(s.connection.id, s.world.source, auth_type="HEADERS",
                      headers=[["X-Api-Key", "key-123456"], ["X-Tenant", "north"]], actor=OPS)
    deliver(config(tmp_path))
    [got] = receiver.app.snapshot()
    assert got.headers["x-api-key"] == "key-123456" and got.headers["x-tenant"] == "north"
    logged = json.loads(attempts()[0].request_headers_json)
    assert logged["X-Api-Key"] == "****" and logged["X-Tenant"] == "north"


def test_receiver_failing_twice_then_204_gets_three_tries(sqlite_db, tmp_path, receiver):
    sell(receiver.url("/flaky"))
    cfg = config(tmp_path, retry_schedule=["0s", "50ms", "50ms", "1h"], jitter=0)
    run_until(cfg, lambda: Callback.get().status == "DELIVERED")
    log = attempts()
    assert [(a.try_number, a.http_status, a.success, a.final_try) for a in log] == [
        (1, 500, False, False), (2, 500, False, False), (3, 204, True, False)]
    assert log[0].error_kind == "http" and log[0].error_message == "HTTP 500 Internal Server Error"
    assert log[0].response_excerpt == "not yet (1)"
    ids = {r.headers["webhook-id"] for r in receiver.app.snapshot()}
    assert ids == {Callback.get().webhook_id}  # the same webhook-id on every retry
    assert Callback.get().tries == 3


def test_last_scheduled_try_is_final_and_the_callback_failed(sqlite_db, tmp_path, receiver):
    sell(receiver.url("/fail"))
    cfg = config(tmp_path, retry_schedule=["0s", "0s", "0s"])
    deliver(cfg)  # the zero delays are due at once, so one run makes every try
    log = attempts()
    assert [(a.try_number, a.final_try) for a in log] == [(1, False), (2, False), (3, True)]
    callback = Callback.get()
    assert callback.status == "FAILED" and callback.next_attempt_at is None


def test_hanging_receiver_times_out_and_is_logged_as_timeout(sqlite_db, tmp_path, receiver):
    sell(receiver.url("/hang"))
    deliver(config(tmp_path, timeout="300ms", retry_schedule=["0s"]))
    [attempt] = attempts()
    assert attempt.error_kind == "timeout" and not attempt.success and attempt.http_status is None
    assert "timed out" in attempt.error_message
    assert attempt.final_try and Callback.get().status == "FAILED"


def test_a_redirect_is_a_failure_and_not_followed(sqlite_db, tmp_path, receiver):
    sell(receiver.url("/redirect"))
    deliver(config(tmp_path))
    [attempt] = attempts()
    assert (attempt.success, attempt.http_status, attempt.error_kind) == (False, 302, "http")
    assert "not followed" in attempt.error_message
    assert [r.path for r in receiver.app.snapshot()] == ["/redirect"]
    assert Callback.get().status == "PENDING"  # the next try is scheduled


def test_private_address_is_refused_at_send_time_and_logged(sqlite_db, tmp_path, receiver, monkeypatch):
    sell(receiver.url("/ok"))  # saved while private addresses were allowed
    monkeypatch.setattr(connections, "ALLOW_PRIVATE_CALLBACK_URLS", False)
    deliver(config(tmp_path, allow_private=False))
    [attempt] = attempts()
    assert attempt.error_kind == "refused" and "loopback" in attempt.error_message
    assert receiver.app.count() == 0


def test_private_address_is_refused_at_save_time_unless_allowed(sqlite_db, monkeypatch):
    w = companies()
    monkeypatch.setattr(connections, "ALLOW_PRIVATE_CALLBACK_URLS", False)
    for url in ("http://127.0.0.1:8080/cb", "http://10.1.2.3/cb", "http://169.254.169.254/latest",
                "http://[::1]/cb", "http://localhost/cb"):
        with pytest.raises(ValidationError) as refused:
            create_connection(w.source, w.target.company_id, callback_url=url, actor=OPS)
        assert refused.value.errors[0].field == "callbackUrl"
    with pytest.raises(ValidationError):
        create_connection(w.source, w.target.company_id, callback_url="ftp://example.org/cb", actor=OPS)
    # A name that does not resolve (yet) is accepted when saved...
    conn = create_connection(w.source, w.target.company_id, callback_url="https://shop.nowhere.invalid/cb",
                             actor=OPS)
    assert conn.callback_url == "https://shop.nowhere.invalid/cb"


def test_unresolvable_name_fails_at_send_time_as_dns(sqlite_db, tmp_path, monkeypatch):
    sell("https://shop.nowhere.invalid/cb")
    monkeypatch.setattr(connections, "ALLOW_PRIVATE_CALLBACK_URLS", False)
    deliver(config(tmp_path, allow_private=False))
    [attempt] = attempts()
    assert attempt.error_kind == "dns" and "does not resolve" in attempt.error_message


def test_connection_refused_is_logged_as_connect(sqlite_db, tmp_path):
    sell("http://127.0.0.1:9/closed")  # discard port: nothing listens
    deliver(config(tmp_path))
    [attempt] = attempts()
    assert attempt.error_kind == "connect" and attempt.http_status is None


def test_response_excerpt_is_at_most_4_kb(sqlite_db, tmp_path, receiver):
    sell(receiver.url("/big"))
    deliver(config(tmp_path))
    [attempt] = attempts()
    assert attempt.http_status == 500 and len(attempt.response_excerpt) == 4096


def test_manual_resend_of_a_delivered_callback_is_a_new_manual_attempt(sqlite_db, tmp_path, receiver):
    s = sell(receiver.url("/ok"))
    cfg = config(tmp_path)
    deliver(cfg)
    callback = Callback.get()
    with pytest.raises(NotFound):  # only the receiving client's callbacks
        request_resend(callback.id, s.world.target, actor=OPS)
    request_resend(callback.id, s.world.source, actor=OPS)
    assert Callback.get_by_id(callback.id).manual_pending
    deliver(cfg)
    log = attempts()
    assert [(a.try_number, a.trigger, a.success) for a in log] == [(1, "SCHEDULED", True), (2, "MANUAL", True)]
    assert [r.headers["webhook-id"] for r in receiver.app.snapshot()] == [callback.webhook_id] * 2
    after = Callback.get_by_id(callback.id)
    assert after.status == "DELIVERED" and not after.manual_pending
    assert any(e.action == "resend" and e.actor == "tester" for e in history("callback", callback.id))


def test_failed_manual_resend_of_a_failed_callback_stays_failed(sqlite_db, tmp_path, receiver):
    s = sell(receiver.url("/fail"))
    cfg = config(tmp_path, retry_schedule=["0s"])
    deliver(cfg)
    callback = Callback.get()
    assert callback.status == "FAILED"
    request_resend(callback.id, s.world.source, actor=OPS)
    deliver(cfg)
    log = attempts()
    assert [(a.trigger, a.final_try) for a in log] == [("SCHEDULED", True), ("MANUAL", True)]
    assert Callback.get_by_id(callback.id).status == "FAILED"


def test_test_ping_sends_a_signed_test_callback_and_logs_it(sqlite_db, tmp_path, receiver):
    s = sell(receiver.url("/ok"), buyers=0)
    attempt = send_test_ping(s.connection.id, s.world.source, actor=OPS, config=config(tmp_path))
    assert attempt.trigger == "TEST" and attempt.success and attempt.http_status == 204 and attempt.final_try
    [got] = receiver.app.snapshot()
    envelope = Webhook(s.connection.signing_secret).verify(got.body.decode(), got.headers)
    assert envelope["entity"]["test"] is True and envelope["entityId"] == f"TEST-{s.connection.id}"
    assert envelope["entityType"] == "CROSS_CLIENT_ORDER"
    assert Callback.get_by_id(attempt.callback_id).status == "DELIVERED"
    assert any(e.action == "test_callback" for e in history("connection", s.connection.id))
    with pytest.raises(NotFound):
        send_test_ping(s.connection.id, s.world.target, actor=OPS, config=config(tmp_path))
    # The worker never picks a test ping up again by itself.
    deliver(config(tmp_path))
    assert len(attempts()) == 1 and receiver.app.count() == 1


def test_ten_failures_a_day_send_one_warning_mail(sqlite_db, tmp_path, receiver):
    s = sell(receiver.url("/fail"), buyers=0)
    with db.atomic():
        for n in range(12):
            queue_callback(s.connection, "CROSS_CLIENT_ORDER", "CREATION", str(1000 + n), {"n": n})
    deliver(config(tmp_path, retry_schedule=["0s"]))
    assert CallbackAttempt.select().where(CallbackAttempt.success == False).count() == 12  # noqa: E712
    [warning] = EmailOutbox.select().where(EmailOutbox.kind == "callbacks_failing")
    assert warning.to_address == "digital@north.example" and warning.status == "SENT"
    params = json.loads(warning.params_json)
    assert params["failures"] >= 10 and params["recent"][0]["error"].startswith("HTTP 500")
    # More failures the same day: no second warning.
    with db.atomic():
        queue_callback(s.connection, "CROSS_CLIENT_ORDER", "CREATION", "2000", {})
    deliver(config(tmp_path, retry_schedule=["0s"]))
    assert EmailOutbox.select().where(EmailOutbox.kind == "callbacks_failing").count() == 1
    [eml] = (tmp_path / "outbox").glob("*callbacks_failing.eml")
    assert b"keep failing" in eml.read_bytes()


def test_callback_url_fixed_later_is_used_by_the_next_try(sqlite_db, tmp_path, receiver):
    s = sell(receiver.url("/fail"))
    cfg = config(tmp_path, retry_schedule=["0s", "0s"])
    update_connection(s.connection.id, s.world.source, callback_url=receiver.url("/ok"), actor=OPS)
    deliver(cfg)
    assert [a.url.rsplit("/", 1)[1] for a in attempts()] == ["ok"]
    assert Callback.get().status == "DELIVERED"


def test_a_kept_alive_connection_the_receiver_closed_is_not_used_again(sqlite_db):
    """The worker's client keeps connections open between callbacks; when the receiver has closed
    one meanwhile, the next callback must notice (the socket reads as closed) and connect anew,
    not fail with "server disconnected"."""
    from mailer.callbacks import Delivery, send
    from mailer.network import make_client
    from mailer.settings import CallbackSettings

    settings = CallbackSettings.from_config(Config(data={"callbacks": {"allow_private_addresses": True}}))
    settings.allow_private_addresses = True
    with Receiver(keep_alive=0.2) as r:
        async def two_sends():
            outcomes = []
            async with make_client(settings) as http:
                for n in range(2):
                    delivery = Delivery(callback_id=n, webhook_id=f"msg_{n}", body="{}", url=r.url("/ok"),
                                        secret="whsec_" + base64.b64encode(b"k" * 24).decode())
                    outcomes.append(await send(http, delivery, settings))
                    await asyncio.sleep(1.0)  # the receiver closes the idle connection meanwhile
            return outcomes

        outcomes = asyncio.run(two_sends())
        assert [(o.success, o.http_status, o.error_message) for o in outcomes] == [(True, 204, None)] * 2
        assert r.app.count("/ok") == 2
