"""E-mails: rendering the queued kinds from Jinja2 templates, and the two transports.

Each kind has three templates in `mailer/templates/`: `<kind>.subject.txt`, `<kind>.txt` (plain
text) and `<kind>.html`. HTML templates are autoescaped; the plain-text part is not escaped (it is
not HTML), and every template fails loudly on a missing parameter (StrictUndefined).

Transports:
- `file` (the default, needs nothing installed): each message is written as an `.eml` file into
  the outbox folder (`outbox/` in the data directory), named after its creation time, id and kind,
  so a person can open it in any mail program. Writing the same e-mail again overwrites its file.
- `smtp`: host, port, STARTTLS / TLS / none, optional login, timeout. Certificates and host names
  are verified against the system's CAs plus [mail] smtp_ca_file (a private CA), see mailer.tls.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound, select_autoescape

from mailer.settings import MailSettings
from mailer.tls import describe_tls_error, is_host_name_mismatch, tls_context
from storage.models import EmailOutbox

KINDS = ("invitation", "invitation_answered", "callbacks_failing")


class PermanentFailure(Exception):
    """The message can never be sent as it is (unknown kind, recipient refused for good)."""


class SendFailed(Exception):
    """A send failed for a reason told in words (TLS, login); retried on the schedule."""


def _when(value) -> str:
    """An ISO date-time (naive UTC) as people read it: `13 Dec 2026, 10:00 UTC`."""
    if not value:
        return ""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


_env = Environment(loader=PackageLoader("mailer", "templates"), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, keep_trailing_newline=False, trim_blocks=False)
_env.filters["when"] = _when


def render(kind: str, params: dict) -> tuple[str, str, str]:
    """(subject, plain text, html) of an e-mail of `kind`."""
    if kind not in KINDS:
        raise PermanentFailure(f"unknown e-mail kind {kind!r}")
    try:
        subject = _env.get_template(f"{kind}.subject.txt").render(**params)
        text = _env.get_template(f"{kind}.txt").render(**params)
        html = _env.get_template(f"{kind}.html").render(**params)
    except TemplateNotFound as exc:
        raise PermanentFailure(f"template {exc.name} missing") from None
    return " ".join(subject.split()), text.strip() + "\n", html


def build_message(email: EmailOutbox, settings: MailSettings) -> EmailMessage:
    """The MIME message (multipart/alternative: plain text, then HTML) of one outbox row."""
    subject, text, html = render(email.kind, json.loads(email.params_json or "{}"))
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = email.to_address
    message["Date"] = format_datetime(email.created_at.replace(tzinfo=dt.UTC))
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "crossclient.localhost"
    message["Message-ID"] = make_msgid(f"outbox{email.id}", domain=domain)
    message["X-Crossclient-Kind"] = email.kind
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def eml_path(email: EmailOutbox, settings: MailSettings) -> Path:
    return settings.outbox_dir / f"{email.created_at:%Y%m%d-%H%M%S}-{email.id:06d}-{email.kind}.eml"


def write_file(email: EmailOutbox, message: EmailMessage, settings: MailSettings) -> str:
    """The embedded transport: an `.eml` file in the outbox folder (written atomically)."""
    path = eml_path(email, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".eml.part")
    with open(partial, "wb") as fh:
        fh.write(message.as_bytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, path)
    return str(path)


def send_smtp(message: EmailMessage, settings: MailSettings) -> str:
    """Send through the configured SMTP server; raises PermanentFailure when refused for good and
    SendFailed, in words a person can act on, when TLS or the login fails (both are retried)."""
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    context = None
    if settings.smtp_security != "none":
        try:
            context = tls_context(settings.smtp_ca_file)
        except OSError as exc:  # the file was fine when the config was read (ssl.SSLError is an OSError)
            problem = exc.reason if isinstance(exc, ssl.SSLError) else exc.strerror
            raise SendFailed(f"[mail] smtp_ca_file {settings.smtp_ca_file}: {problem or exc}") from None
    try:
        if settings.smtp_security == "tls":
            server = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout,
                                      context=context)
        else:
            server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
        with server:
            if settings.smtp_security == "starttls":
                server.starttls(context=context)
            if settings.smtp_user:
                server.login(settings.smtp_user, settings.smtp_password or "")
            server.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        text = "; ".join(f"{rcpt}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
                         for rcpt, (code, msg) in exc.recipients.items())
        if codes and all(500 <= code < 600 for code in codes):
            raise PermanentFailure(f"recipient refused: {text}") from None
        raise
    except smtplib.SMTPAuthenticationError as exc:
        # A wrong password is a config problem: retried on the schedule (a fixed password is used
        # by the next try), reported in words.
        raise SendFailed(f"SMTP login refused by {where} for user {settings.smtp_user!r}: {describe_error(exc)}; "
                         "check [mail] smtp_user and smtp_password") from None
    except ssl.SSLError as exc:
        raise SendFailed(f"TLS with {where}: {describe_tls_error(exc)}{_tls_hint(exc, settings)}") from None
    return where


def _tls_hint(exc: ssl.SSLError, settings: MailSettings) -> str:
    if not isinstance(exc, ssl.SSLCertVerificationError):
        if exc.reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"):  # the server did not speak TLS
            return (f"; is [mail] smtp_security {settings.smtp_security!r} right for port {settings.smtp_port}? "
                    "(tls is usually port 465, starttls 587)")
        return ""
    if is_host_name_mismatch(exc):
        return "; [mail] smtp_host must be a name the server's certificate is issued for"
    if settings.smtp_ca_file is None:
        return "; if the server's certificate comes from a private CA, name that CA in [mail] smtp_ca_file"
    return f"; trusted are the system's CAs and those in [mail] smtp_ca_file ({settings.smtp_ca_file})"


def deliver(email: EmailOutbox, settings: MailSettings) -> str:
    """Render and send one e-mail with the configured transport (blocking); returns where it went."""
    message = build_message(email, settings)
    if settings.transport == "smtp":
        return send_smtp(message, settings)
    return write_file(email, message, settings)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, SendFailed):
        return str(exc)
    if isinstance(exc, smtplib.SMTPResponseException):
        msg = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"SMTP {exc.smtp_code}: {msg}"
    return f"{type(exc).__name__}: {exc}"
