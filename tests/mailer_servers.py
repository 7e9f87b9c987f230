"""Real servers on free loopback ports for the mailer tests: a callback receiver (uvicorn) and an
SMTP server (aiosmtpd). Both record what they received. Both speak TLS when given a certificate
(`cert`: a trustme LeafCert, or anything with its `private_key_pem`, `cert_chain_pems` and
`configure_cert`): the receiver serves https, the SMTP server STARTTLS or implicit TLS.

Receiver paths (any path prefix works, the last segment decides):
  /ok 204 · /fail 500 · /flaky 500 for the first two tries of each webhook-id, then 204 ·
  /hang answers after 5 s (or when the server stops) · /slow?ms=N answers 204 after N ms ·
  /redirect 302 to /ok · /big 500 with a 10 000-byte body
"""
from __future__ import annotations

import asyncio
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class ReceiverApp:
    """A raw ASGI app that records every request and answers by path."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._flaky: dict[str, int] = {}

    def count(self, path_end: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path_end is None or r.path.endswith(path_end))

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        with self._lock:
            self.requests.append(Received(path, headers, body, time.perf_counter()))
        last = path.rstrip("/").rsplit("/", 1)[-1]
        status, payload, extra = 204, b"", []
        if last == "fail":
            status, payload = 500, b'{"error":"receiver broken"}'
        elif last == "flaky":
            webhook_id = headers.get("webhook-id", "")
            with self._lock:
                seen = self._flaky[webhook_id] = self._flaky.get(webhook_id, 0) + 1
            if seen <= 2:
                status, payload = 500, f"not yet ({seen})".encode()
        elif last == "hang":
            await asyncio.sleep(5)
        elif last == "slow":
            ms = int(parse_qs(scope.get("query_string", b"").decode()).get("ms", ["50"])[0])
            await asyncio.sleep(ms / 1000)
        elif last == "redirect":
            status, extra = 302, [(b"location", b"/ok")]
        elif last == "big":
            status, payload = 500, b"x" * 10_000
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(payload)).encode())]
                    + extra})
        await send({"type": "http.response.body", "body": payload})


class Receiver:
    """The receiver app served by uvicorn in a background thread; over https with `cert`; it
    closes a kept-alive connection after `keep_alive` idle seconds."""

    def __init__(self, cert=None, keep_alive: float = 5) -> None:
        self.app = ReceiverApp()
        self.port = free_port()
        self.scheme = "https" if cert is not None else "http"
        self._files = tempfile.TemporaryDirectory(prefix="receiver-tls-") if cert is not None else None
        tls = {}
        if cert is not None:  # uvicorn reads the key and the chain from files
            folder = Path(self._files.name)
            cert.private_key_pem.write_to_path(str(folder / "key.pem"))
            (folder / "chain.pem").write_bytes(b"".join(pem.bytes() for pem in cert.cert_chain_pems))
            tls = {"ssl_keyfile": str(folder / "key.pem"), "ssl_certfile": str(folder / "chain.pem")}
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", timeout_graceful_shutdown=1, access_log=False,
                                timeout_keep_alive=keep_alive, **tls)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """The URL of `path`; `host` may be another name of this machine (localhost)."""
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        if self._files is not None:
            self._files.cleanup()


class SmtpSink:
    """aiosmtpd on a free loopback port; `messages` holds (envelope sender, recipients, bytes).

    With `cert`, `security` "starttls" (the server refuses mail before STARTTLS) or "tls"
    (implicit TLS from the first byte); `encrypted` tells for each message whether it came over
    TLS. With `login` (user, password) the server requires AUTH, offered only after TLS, and
    `logins` records each try as (user, accepted).
    """

    def __init__(self, *, cert=None, security: str = "none", login: tuple[str, str] | None = None) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list[tuple[str, list[str], bytes]] = []
        self.encrypted: list[bool] = []
        self.logins: list[tuple[str, bool]] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                      or envelope.content))
                sink.encrypted.append(server.transport.get_extra_info("ssl_object") is not None)
                return "250 OK"

        def authenticate(server, session, envelope, mechanism, data):
            user = data.login.decode(errors="replace")
            accepted = (user, data.password.decode(errors="replace")) == login
            sink.logins.append((user, accepted))
            return AuthResult(success=accepted, handled=False)  # handled=False: the server answers 535

        options: dict = {}
        if security != "none":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(context)
            if security == "starttls":
                options.update(tls_context=context, require_starttls=True)
            else:
                options.update(ssl_context=context)
        if login is not None:
            options.update(authenticator=authenticate, auth_required=True, auth_require_tls=True)
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **options)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def wait_for(condition, timeout: float = 10.0, interval: float = 0.02):
    """Poll `condition` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
