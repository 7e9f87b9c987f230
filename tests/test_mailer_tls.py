"""TLS on both ways out, against real servers on loopback with certificates made by trustme:
SMTP with STARTTLS and implicit TLS (aiosmtpd), callbacks over https (uvicorn), a private CA named
in [mail] smtp_ca_file / [callbacks] ca_file, and what an untrusted or misnamed certificate and a
refused login look like in the outbox and the callback log."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import pytest
import trustme
from standardwebhooks.webhooks import Webhook

from mailer.callbacks import send_test_ping
from mailer.settings import CallbackSettings, MailSettings
from mailer.worker import Worker
from storage.clock import now
from storage.config import Config
from storage.connections import create_connection
from storage.db import db
from storage.models import Callback, CallbackAttempt, EmailOutbox
from storage.orders import place_order
from storage.outbox import list_emails
from tests.mailer_servers import Receiver, SmtpSink
from tests.world import OPS, companies, customer, shop

USER, PASSWORD = "crossclient-mailer", "relay-pw-123"


@pytest.fixture(scope="module")
def company_ca() -> trustme.CA:
    """A private CA, as a company mail relay or a merchant's internal endpoint would use."""
    return trustme.CA(organization_name="Company Internal CA")


@pytest.fixture(scope="module")
def server_cert(company_ca):
    return company_ca.issue_cert("127.0.0.1", "localhost")


@pytest.fixture
def ca_file(company_ca, tmp_path):
    path = tmp_path / "company-ca.pem"
    company_ca.cert_pem.write_to_path(str(path))
    return path


def run_worker(config: Config) -> int:
    return asyncio.run(Worker(config).run_once())


# --- SMTP -------------------------------------------------------------------------------------

def smtp_config(port: int, security: str, **mail) -> Config:
    return Config(data={"mail": {"transport": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port,
                                 "smtp_security": security, "smtp_timeout": 5, **mail}})


def invite() -> EmailOutbox:
    """Queue the invitation e-mail through the domain, as the backoffice does."""
    w = companies()
    create_connection(w.source, w.target.company_id, callback_url="http://127.0.0.1:9/cb", actor=OPS)
    return EmailOutbox.get(EmailOutbox.kind == "invitation")


def test_starttls_with_login_delivers_the_invitation_through_a_private_ca(sqlite_db, server_cert, ca_file):
    row = invite()
    with SmtpSink(cert=server_cert, security="starttls", login=(USER, PASSWORD)) as smtp:
        run_worker(smtp_config(smtp.port, "starttls", smtp_user=USER, smtp_password=PASSWORD,
                               smtp_ca_file=str(ca_file)))
    assert smtp.logins == [(USER, True)]  # AUTH is offered only after STARTTLS
    assert smtp.encrypted == [True]
    [(_, recipients, raw)] = smtp.messages
    assert recipients == ["online@south.example"] and b"North Digital invites South Online" in raw
    row = EmailOutbox.get_by_id(row.id)
    assert row.status == "SENT" and row.attempts == 1 and row.last_error is None


def test_implicit_tls_delivers_the_invitation(sqlite_db, server_cert, ca_file):
    row = invite()
    with SmtpSink(cert=server_cert, security="tls") as smtp:
        run_worker(smtp_config(smtp.port, "tls", smtp_ca_file=str(ca_file)))
    assert smtp.encrypted == [True] and smtp.messages[0][1] == ["online@south.example"]
    assert EmailOutbox.get_by_id(row.id).status == "SENT"


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_untrusted_certificate_keeps_the_email_queued_with_a_certificate_error(sqlite_db, server_cert, ca_file,
                                                                                security):
    row = invite()
    with SmtpSink(cert=server_cert, security=security) as smtp:
        # Only the system's CAs are trusted: the company CA is not among them.
        run_worker(smtp_config(smtp.port, security, retry_schedule=["10m", "1h"]))
        assert smtp.messages == []
        row = EmailOutbox.get_by_id(row.id)
        assert row.status == "QUEUED" and row.attempts == 1 and row.next_attempt_at > now()
        assert row.last_error.startswith(f"TLS with 127.0.0.1:{smtp.port}: certificate verify failed: ")
        assert "unable to get local issuer certificate" in row.last_error
        assert "[mail] smtp_ca_file" in row.last_error  # what to do about it
        # The outbox view shows it (the TUI shows the first 200 characters).
        [shown] = list_emails(status="QUEUED").items
        assert shown.id == row.id and "certificate verify failed" in shown.last_error[:200]
        # Not lost: once the CA is configured, the retry delivers it.
        with db.atomic():
            EmailOutbox.update(next_attempt_at=now()).execute()
        run_worker(smtp_config(smtp.port, security, smtp_ca_file=str(ca_file)))
    assert len(smtp.messages) == 1
    row = EmailOutbox.get_by_id(row.id)
    assert row.status == "SENT" and row.attempts == 2


def test_certificate_for_another_host_name_is_refused_even_from_a_trusted_ca(sqlite_db, company_ca, ca_file):
    row = invite()
    with SmtpSink(cert=company_ca.issue_cert("mail.company.example"), security="starttls") as smtp:
        run_worker(smtp_config(smtp.port, "starttls", smtp_ca_file=str(ca_file)))
    assert smtp.messages == []
    row = EmailOutbox.get_by_id(row.id)
    assert row.status == "QUEUED"
    assert "certificate verify failed: IP address mismatch" in row.last_error
    assert "[mail] smtp_host must be a name the server's certificate is issued for" in row.last_error


def test_wrong_password_is_reported_in_words_and_retried(sqlite_db, server_cert, ca_file):
    row = invite()
    with SmtpSink(cert=server_cert, security="starttls", login=(USER, PASSWORD)) as smtp:
        run_worker(smtp_config(smtp.port, "starttls", smtp_user=USER, smtp_password="wrong-pw",
                               smtp_ca_file=str(ca_file), retry_schedule=["10m", "1h"]))
        assert smtp.messages == [] and smtp.logins and all(not ok for _, ok in smtp.logins)
        row = EmailOutbox.get_by_id(row.id)
        # A config problem that retrying will not fix soon, but may be fixed meanwhile: retried on
        # the schedule like any other failure, not FAILED at once.
        assert row.status == "QUEUED" and row.attempts == 1 and row.next_attempt_at > now()
        assert row.last_error == (f"SMTP login refused by 127.0.0.1:{smtp.port} for user '{USER}': "
                                  "SMTP 535: 5.7.8 Authentication credentials invalid; "
                                  "check [mail] smtp_user and smtp_password")
        assert "wrong-pw" not in row.last_error
        with db.atomic():
            EmailOutbox.update(next_attempt_at=now()).execute()
        run_worker(smtp_config(smtp.port, "starttls", smtp_user=USER, smtp_password=PASSWORD,
                               smtp_ca_file=str(ca_file)))
    assert len(smtp.messages) == 1 and smtp.logins[-1] == (USER, True)
    assert EmailOutbox.get_by_id(row.id).status == "SENT"


def test_tls_against_a_plain_smtp_port_says_to_check_the_security_setting(sqlite_db):
    row = invite()
    with SmtpSink() as smtp:
        run_worker(smtp_config(smtp.port, "tls"))
    row = EmailOutbox.get_by_id(row.id)
    assert row.status == "QUEUED" and "handshake failed" in row.last_error
    assert f"is [mail] smtp_security 'tls' right for port {smtp.port}?" in row.last_error


# --- CA file settings -------------------------------------------------------------------------

@pytest.mark.parametrize("settings,section,key,env", [
    (MailSettings, "mail", "smtp_ca_file", "CROSSCLIENT_SMTP_CA_FILE"),
    (CallbackSettings, "callbacks", "ca_file", "CROSSCLIENT_CALLBACK_CA_FILE"),
])
def test_ca_file_settings_are_checked_when_read(settings, section, key, env, ca_file, tmp_path, monkeypatch):
    def read(value):
        return settings.from_config(Config(data={section: {key: value}}))

    assert getattr(read(str(ca_file)), "smtp_ca_file" if section == "mail" else "ca_file") == ca_file
    assert getattr(read(""), "smtp_ca_file" if section == "mail" else "ca_file") is None
    with pytest.raises(SystemExit, match=rf"config: \[{section}\] {key}: file .*missing.pem does not exist"):
        read(str(tmp_path / "missing.pem"))
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(SystemExit, match=rf"config: \[{section}\] {key}: .*notes.txt is not a PEM file of CA "
                                         "certificates"):
        read(str(not_pem))
    with pytest.raises(SystemExit, match=rf"config: \[{section}\] {key}: cannot read .*: Is a directory"):
        read(str(tmp_path))
    # The environment wins over the file.
    monkeypatch.setenv(env, str(tmp_path / "from-env.pem"))
    with pytest.raises(SystemExit, match=rf"\[{section}\] {key}: file .*from-env.pem does not exist"):
        read(str(ca_file))


# --- callbacks over https ---------------------------------------------------------------------

def callback_config(tmp_path, **callbacks) -> Config:
    return Config(data={
        "mail": {"transport": "file", "outbox_dir": str(tmp_path / "outbox")},
        "callbacks": {"allow_private_addresses": True, "retry_schedule": ["0s", "1h"], **callbacks},
    })


def sell(url: str):
    """A connection calling back to `url` and one purchase, which queues one callback."""
    s = shop(url=url)
    place_order(s.world.target, s.basket.id, customer(s.world.south, 1).customer_number)
    return s


def test_https_callback_through_a_private_ca_is_delivered_and_verifies(sqlite_db, tmp_path, server_cert, ca_file):
    with Receiver(cert=server_cert) as receiver:
        # A host name, not an address: the guard resolves it and connects to 127.0.0.1, while SNI
        # and the certificate check use the URL's name.
        url = receiver.url("/hooks/ok", host="localhost")
        s = sell(url)
        run_worker(callback_config(tmp_path, ca_file=str(ca_file)))
        [got] = receiver.app.snapshot()
        [attempt] = CallbackAttempt.select()
        assert (attempt.success, attempt.http_status, attempt.error_kind, attempt.url) == (True, 204, None, url)
        assert Callback.get().status == "DELIVERED"
        secret, body = s.connection.signing_secret, got.body.decode()
        assert body == Callback.get().payload_json
        assert Webhook(secret).verify(body, got.headers)["entityType"] == "CROSS_CLIENT_ORDER"
        parts = dict(p.split("=", 1) for p in got.headers["plenigo-signature"].split(","))
        assert parts["s"] == hmac.new(secret.encode(), f"{parts['t']}.{body}".encode(), hashlib.sha256).hexdigest()
        # The test ping reads the same setting.
        ping = send_test_ping(s.connection.id, s.world.source, actor=OPS,
                              config=callback_config(tmp_path, ca_file=str(ca_file)))
        assert ping.success and ping.http_status == 204 and receiver.app.count() == 2


def test_https_callback_to_an_untrusted_certificate_is_a_tls_error(sqlite_db, tmp_path, server_cert):
    with Receiver(cert=server_cert) as receiver:
        s = sell(receiver.url("/hooks/ok"))
        run_worker(callback_config(tmp_path))  # no ca_file: the company CA is not trusted
        ping = send_test_ping(s.connection.id, s.world.source, actor=OPS, config=callback_config(tmp_path))
        assert receiver.app.count() == 0
    [attempt] = CallbackAttempt.select().where(CallbackAttempt.trigger == "SCHEDULED")
    assert attempt.error_kind == "tls" and not attempt.success and attempt.http_status is None
    assert attempt.error_message == "TLS: certificate verify failed: unable to get local issuer certificate"
    assert Callback.get(Callback.id == attempt.callback_id).status == "PENDING"  # retried on the schedule
    assert (ping.error_kind, ping.error_message) == ("tls", attempt.error_message)


def test_https_callback_to_a_certificate_for_another_host_name_is_a_tls_error(sqlite_db, tmp_path, company_ca,
                                                                               ca_file):
    # Trusted CA, valid certificate, but issued for "localhost" while the URL names 127.0.0.1.
    with Receiver(cert=company_ca.issue_cert("localhost")) as receiver:
        sell(receiver.url("/hooks/ok"))
        run_worker(callback_config(tmp_path, ca_file=str(ca_file)))
        assert receiver.app.count() == 0
    [attempt] = CallbackAttempt.select()
    assert attempt.error_kind == "tls"
    assert attempt.error_message == ("TLS: certificate verify failed: IP address mismatch, certificate is not "
                                     "valid for '127.0.0.1'")
    assert json.loads(attempt.request_headers_json)["webhook-id"] == Callback.get().webhook_id
