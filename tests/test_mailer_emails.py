"""E-mails leave through the outbox: SMTP (a real aiosmtpd server) and the .eml file transport."""
from __future__ import annotations

import asyncio
import datetime as dt
import email
import json
from email import policy

import pytest

from mailer.worker import Worker
from storage.clock import now
from storage.config import Config
from storage.connections import accept_invitation_code, create_connection
from storage.db import db
from storage.models import Connection, EmailOutbox
from storage.tenancy import create_client
from tests.mailer_servers import SmtpSink, free_port
from tests.world import OPS, companies


def smtp_config(port: int, **mail) -> Config:
    return Config(data={"mail": {"transport": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port,
                                 "smtp_security": "none", "smtp_timeout": 5, **mail}})


def file_config(tmp_path, **mail) -> Config:
    return Config(data={"mail": {"transport": "file", "outbox_dir": str(tmp_path / "outbox"), **mail}})


def deliver(config: Config) -> int:
    return asyncio.run(Worker(config).run_once())


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def test_invitation_arrives_by_smtp_with_both_parts_and_its_code_works(sqlite_db):
    w = companies()
    connection = create_connection(w.source, w.target.company_id, callback_url="http://127.0.0.1:9/cb",
                                   actor=OPS)
    with SmtpSink() as smtp:
        assert deliver(smtp_config(smtp.port)) == 1
    assert len(smtp.messages) == 1
    sender, recipients, raw = smtp.messages[0]
    assert recipients == ["online@south.example"]
    message = parse(raw)
    assert message["To"] == "online@south.example"
    assert message["Subject"] == "North Digital invites South Online to a cross-client connection"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    # The code is in both parts; it is the only place the plain code ever lives.
    code = next(line.strip() for line in text.splitlines() if line.startswith("    ") and "-" in line)
    assert code in html
    for part in (text, html):
        assert "North Digital" in part and "SOURCECLIENT00000001" in part
        assert "Access to offers" in part and "accept" in part and "decline" in part
        assert "Dec 2026" in part or "UTC" in part  # the expiry date
    row = EmailOutbox.get(EmailOutbox.kind == "invitation")
    assert row.status == "SENT" and row.attempts == 1 and row.sent_at is not None
    assert json.loads(row.params_json)["code"] == ""  # blanked once sent
    accepted = accept_invitation_code(w.target, code, actor=OPS)
    assert accepted.id == connection.id and accepted.status == "ACTIVE"


def test_file_transport_writes_an_eml_a_person_can_open_with_escaped_html(sqlite_db, tmp_path):
    w = companies()
    tricky = create_client(w.north, "TRICKYCLIENT00000001", "Bold <b>&</b> Co", "tricky@north.example")
    create_connection(tricky, w.target.company_id, callback_url="http://127.0.0.1:9/cb",
                      access_to_offers=False, actor=OPS)
    assert deliver(file_config(tmp_path)) == 1
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert [f.name.split("-", 2)[2] for f in files] == ["000001-invitation.eml"]
    message = parse(files[0].read_bytes())
    assert message["To"] == "online@south.example"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Bold &lt;b&gt;&amp;&lt;/b&gt; Co" in html and "<b>&</b>" not in html
    assert "Bold <b>&</b> Co invites you" in text or "Bold <b>&</b> Co (" in text
    assert "Access to offers: off" in text
    assert EmailOutbox.get_by_id(1).status == "SENT"


def test_failed_smtp_send_is_retried_with_backoff_then_failed(sqlite_db):
    w = companies()
    create_connection(w.source, w.target.company_id, callback_url="http://127.0.0.1:9/cb", actor=OPS)
    dead_port = free_port()  # nothing listens there
    deliver(smtp_config(dead_port, retry_schedule=["10m"]))
    row = EmailOutbox.get(EmailOutbox.kind == "invitation")
    assert row.status == "QUEUED" and row.attempts == 1
    assert "Connection refused" in row.last_error or "refused" in row.last_error.lower()
    assert row.next_attempt_at > now() + dt.timedelta(minutes=8)
    # Due again: the second failure uses up the schedule.
    with db.atomic():
        EmailOutbox.update(next_attempt_at=now()).execute()
    deliver(smtp_config(dead_port, retry_schedule=["10m"]))
    row = EmailOutbox.get_by_id(row.id)
    assert row.status == "FAILED" and row.attempts == 2
    assert json.loads(row.params_json)["code"] != ""  # never sent: the code is still needed
    # ...and it is sent when a person retries it once SMTP works.
    from storage.outbox import retry_email

    retry_email(row.id, actor=OPS)
    with SmtpSink() as smtp:
        deliver(smtp_config(smtp.port))
    assert len(smtp.messages) == 1 and EmailOutbox.get_by_id(row.id).status == "SENT"


def test_expired_invitation_sends_the_expired_notice_to_the_source(sqlite_db, tmp_path):
    w = companies()
    connection = create_connection(w.source, w.target.company_id, callback_url="http://127.0.0.1:9/cb",
                                   actor=OPS)
    with db.atomic():
        Connection.update(invitation_expires_at=now() - dt.timedelta(minutes=1)).where(
            Connection.id == connection.id).execute()
    deliver(file_config(tmp_path))  # the worker expires due invitations itself
    assert Connection.get_by_id(connection.id).status == "EXPIRED"
    notice = EmailOutbox.get(EmailOutbox.kind == "invitation_answered")
    assert notice.to_address == "digital@north.example" and notice.status == "SENT"
    [eml] = (tmp_path / "outbox").glob("*invitation_answered.eml")
    message = parse(eml.read_bytes())
    assert message["Subject"] == "Your cross-client invitation to South Online expired"
    assert "EXPIRED" in message.get_body(("plain",)).get_content()


@pytest.mark.parametrize("outcome,subject", [("ACTIVE", "South Online accepted your cross-client invitation"),
                                             ("DECLINED", "South Online declined your cross-client invitation")])
def test_answered_notice_subjects(outcome, subject):
    from mailer.emails import render

    got, text, html = render("invitation_answered", {
        "connection_id": 7, "outcome": outcome, "source_name": "North Digital", "target_name": "South Online",
        "target_company_id": "TARGETCLIENT00000001"})
    assert got == subject
    assert outcome in text and outcome in html


def test_unknown_kind_fails_for_good_without_retry(sqlite_db, tmp_path):
    from storage.outbox import queue_email

    with db.atomic():
        queue_email("no_such_kind", "someone@example.org", {})
    deliver(file_config(tmp_path))
    row = EmailOutbox.get_by_id(1)
    assert row.status == "FAILED" and "unknown e-mail kind" in row.last_error
