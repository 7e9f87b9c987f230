"""The mailer's settings, read from the config file's [mail], [callbacks] and [worker] sections.

Every key is optional; environment variables (named beside each key) win over the file. Durations
are seconds, or strings with a unit: "500ms", "10s", "1m", "6h", "1d".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mailer.tls import ca_file_setting
from storage.config import Config
from storage.db import default_data_dir

DEFAULT_CALLBACK_SCHEDULE = ["0s", "10s", "1m", "10m", "1h", "6h", "24h"]
# Delays after the 1st, 2nd, ... failed e-mail send; then the e-mail is FAILED.
DEFAULT_MAIL_SCHEDULE = ["30s", "2m", "10m", "1h", "6h", "24h"]
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value, what: str = "duration") -> float:
    """`10`, `2.5`, "10s", "1m", "6h", "1d", "500ms" -> seconds."""
    if isinstance(value, bool):
        raise SystemExit(f"config: {what}: {value!r} is not a duration")
    if isinstance(value, int | float):
        result = float(value)
    else:
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*", str(value))
        if not match:
            raise SystemExit(f"config: {what}: {value!r} is not a duration such as 10s, 1m or 6h")
        result = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if result < 0:
        raise SystemExit(f"config: {what}: must not be negative")
    return result


def schedule(value, what: str) -> list[float]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    if not isinstance(value, list) or not value:
        raise SystemExit(f"config: {what}: must be a list of durations such as [\"0s\", \"10s\", \"1m\"]")
    return [seconds(v, what) for v in value]


def _bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass
class MailSettings:
    """[mail]: how e-mails leave: `transport` "file" (default) or "smtp"."""

    transport: str = "file"
    outbox_dir: Path = field(default_factory=lambda: default_data_dir() / "outbox")
    sender: str = "crossclient <noreply@crossclient.localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls, tls or none
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = 30.0
    smtp_ca_file: Path | None = None  # PEM CA certificates trusted besides the system's (private CA)
    retry_schedule: list[float] = field(default_factory=lambda: schedule(DEFAULT_MAIL_SCHEDULE, "mail"))
    concurrency: int = 2

    @classmethod
    def from_config(cls, config: Config) -> MailSettings:
        g = config.get
        transport = str(g("mail", "transport", "file", env="CROSSCLIENT_MAIL_TRANSPORT")).lower()
        if transport not in ("file", "smtp"):
            raise SystemExit(f"config: [mail] transport must be \"file\" or \"smtp\", not {transport!r}")
        security = str(g("mail", "smtp_security", "starttls", env="CROSSCLIENT_SMTP_SECURITY")).lower()
        if security not in ("starttls", "tls", "none"):
            raise SystemExit(f"config: [mail] smtp_security must be starttls, tls or none, not {security!r}")
        outbox = g("mail", "outbox_dir", "", env="CROSSCLIENT_MAIL_OUTBOX")
        return cls(
            transport=transport,
            outbox_dir=Path(outbox).expanduser() if outbox else default_data_dir() / "outbox",
            sender=str(g("mail", "from", cls.sender, env="CROSSCLIENT_MAIL_FROM")),
            smtp_host=str(g("mail", "smtp_host", "localhost", env="CROSSCLIENT_SMTP_HOST")),
            smtp_port=int(g("mail", "smtp_port", 465 if security == "tls" else 587, env="CROSSCLIENT_SMTP_PORT")),
            smtp_security=security,
            smtp_user=g("mail", "smtp_user", None, env="CROSSCLIENT_SMTP_USER") or None,
            smtp_password=g("mail", "smtp_password", None, env="CROSSCLIENT_SMTP_PASSWORD") or None,
            smtp_timeout=seconds(g("mail", "smtp_timeout", "30", env="CROSSCLIENT_SMTP_TIMEOUT"), "smtp_timeout"),
            smtp_ca_file=ca_file_setting(g("mail", "smtp_ca_file", None, env="CROSSCLIENT_SMTP_CA_FILE"),
                                         "[mail] smtp_ca_file"),
            retry_schedule=schedule(g("mail", "retry_schedule", DEFAULT_MAIL_SCHEDULE), "[mail] retry_schedule"),
            concurrency=max(1, int(g("mail", "concurrency", 2))),
        )


@dataclass
class CallbackSettings:
    """[callbacks]: timeouts, retry schedule, address policy and concurrency of callback sends."""

    connect_timeout: float = 5.0
    timeout: float = 15.0
    retry_schedule: list[float] = field(default_factory=lambda: schedule(DEFAULT_CALLBACK_SCHEDULE, "callbacks"))
    jitter: float = 0.1
    allow_private_addresses: bool = False
    per_host_concurrency: int = 8
    max_in_flight: int = 64
    response_excerpt_bytes: int = 4096
    warn_after_failures: int = 10
    user_agent: str = "crossclient-callbacks/0.1"
    ca_file: Path | None = None  # PEM CA certificates trusted besides the system's (private CA)

    @classmethod
    def from_config(cls, config: Config) -> CallbackSettings:
        g = config.get
        jitter = float(g("callbacks", "jitter", 0.1))
        if not 0 <= jitter < 1:
            raise SystemExit("config: [callbacks] jitter must be a fraction between 0 and 1, e.g. 0.1")
        return cls(
            connect_timeout=seconds(g("callbacks", "connect_timeout", "5", env="CROSSCLIENT_CALLBACK_CONNECT_TIMEOUT"),
                                    "[callbacks] connect_timeout"),
            timeout=seconds(g("callbacks", "timeout", "15", env="CROSSCLIENT_CALLBACK_TIMEOUT"),
                            "[callbacks] timeout"),
            retry_schedule=schedule(g("callbacks", "retry_schedule", DEFAULT_CALLBACK_SCHEDULE),
                                    "[callbacks] retry_schedule"),
            jitter=jitter,
            allow_private_addresses=_bool(g("callbacks", "allow_private_addresses", False,
                                            env="CROSSCLIENT_ALLOW_PRIVATE_CALLBACKS")),
            per_host_concurrency=max(1, int(g("callbacks", "per_host_concurrency", 8))),
            max_in_flight=max(1, int(g("callbacks", "max_in_flight", 64))),
            response_excerpt_bytes=max(0, min(4096, int(g("callbacks", "response_excerpt_bytes", 4096)))),
            warn_after_failures=int(g("callbacks", "warn_after_failures", 10)),
            ca_file=ca_file_setting(g("callbacks", "ca_file", None, env="CROSSCLIENT_CALLBACK_CA_FILE"),
                                    "[callbacks] ca_file"),
        )


@dataclass
class WorkerSettings:
    """[worker]: polling, leases and housekeeping of the outbox worker."""

    poll_interval: float = 1.0
    lease_seconds: float = 60.0
    expire_every: float = 60.0
    shutdown_grace: float = 20.0
    batch_size: int = 100
    record_every: float = 0.1

    @classmethod
    def from_config(cls, config: Config, callbacks: CallbackSettings) -> WorkerSettings:
        g = config.get
        poll = min(1.0, seconds(g("worker", "poll_interval", 1.0), "[worker] poll_interval"))
        # A lease must outlive the wait for a send slot (up to two sends, see worker.HOLD) and the
        # slowest send, or a second worker would send the callback again.
        lease_default = max(60.0, 4 * (callbacks.timeout + callbacks.connect_timeout))
        return cls(
            poll_interval=max(0.01, poll),
            lease_seconds=max(0.2, seconds(g("worker", "lease_seconds", lease_default), "[worker] lease_seconds")),
            expire_every=seconds(g("worker", "expire_invitations_every", 60), "[worker] expire_invitations_every"),
            shutdown_grace=seconds(g("worker", "shutdown_grace", 20), "[worker] shutdown_grace"),
            batch_size=max(1, int(g("worker", "batch_size", 100))),
            record_every=min(1.0, seconds(g("worker", "record_every", "100ms"), "[worker] record_every")),
        )


def apply_address_policy(config: Config) -> bool:
    """Set storage's save-time switch from [callbacks] allow_private_addresses (call at start).

    Storage reads no configuration, so whoever starts a process that edits connections (the
    backoffice, the API server, the worker) calls this once. Returns the policy in force in this
    process, which the sends follow too: the config allows private addresses, or the process has
    already allowed them (the demo and the test suite do).
    """
    from storage import connections

    allowed = CallbackSettings.from_config(config).allow_private_addresses
    if allowed:
        connections.ALLOW_PRIVATE_CALLBACK_URLS = True
    return connections.ALLOW_PRIVATE_CALLBACK_URLS
