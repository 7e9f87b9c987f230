"""Serving the API: `crossclient serve` (API and outbox worker in one process) and an in-process server.

`run_server(args)` opens the database, binds the port itself (a taken port is a clear error, not a
dying thread), serves the app with uvicorn and runs `mailer.worker.Worker(config).run(stop_event)`
in the same event loop. SIGTERM or ctrl+c stop it gracefully: uvicorn finishes the requests in
flight, the worker finishes the delivery in hand, then the process exits 0.
`start_in_thread(host, port, config)` runs the API on a thread of its own and returns a handle
with `stop()`; port 0 picks a free port (`handle.port`). It serves the database the caller opened.
On the demo database both make sure the sample merchant has a token (`provision_sample_merchant`).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from api.app import create_app
from api.sample_merchant import SampleMerchant
from storage.config import Config

log = logging.getLogger("crossclient.api")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the caller decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; raises OSError with a readable message when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and accepted sockets inherit the listener's proto. Without it Nagle holds back the body of
    # every small response until the client's delayed ACK, about 40 ms per request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def provision_sample_merchant(config: Config | None) -> str | None:
    """On the demo database, give the sample merchant a live token of Nordpost Digital.

    The token goes to the merchant's token file (mode 0600), unless a token is configured
    explicitly. An existing file is kept while its token still works. Returns the file's path.
    """
    from storage.demo import NORDPOST_DIGITAL, demo_exists
    from storage.errors import DomainError
    from storage.tenancy import get_client
    from storage.tokens import authenticate, create_token

    merchant = SampleMerchant.from_config(config)
    if merchant.token or merchant.token_file is None or not demo_exists():
        return None
    current = merchant.current_token()
    if current:
        try:
            if authenticate(current).client.company_id == NORDPOST_DIGITAL:
                return str(merchant.token_file)
        except DomainError:
            pass
    from storage.audit import Actor

    _, plain = create_token(get_client(NORDPOST_DIGITAL), "sample-merchant",
                            actor=Actor.operator("demo"))
    path: Path = merchant.token_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(plain + "\n", encoding="utf-8")
    log.info("sample merchant token written to %s", path)
    return str(path)


def _uvicorn_config(app, log_level: str, access_log: bool = False) -> uvicorn.Config:
    return uvicorn.Config(app, log_level=log_level, lifespan="off", access_log=access_log,
                          timeout_graceful_shutdown=10)


@dataclass
class ServerHandle:
    host: str
    port: int
    thread: threading.Thread
    server: _Server

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 15) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(host: str = "127.0.0.1", port: int = 8080, config: Config | None = None, *,
                    log_level: str = "warning") -> ServerHandle:
    """Serve the API on its own thread and event loop until `handle.stop()`.

    The outbox worker is not started here; the caller runs it (mailer.worker.start_in_thread).
    """
    config = config or Config()
    sock = bind(host, port)
    try:
        provision_sample_merchant(config)
    except Exception:
        log.exception("could not provision the sample merchant's token")
    server = _Server(_uvicorn_config(create_app(config), log_level))
    failed: list[BaseException] = []

    def serve():
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # SystemExit from uvicorn's startup included
            failed.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=serve, name=f"crossclient-api-{sock.getsockname()[1]}", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)
    if not server.started:
        raise RuntimeError(f"the API server did not start: {failed[0] if failed else 'unknown error'}")
    return ServerHandle(host, sock.getsockname()[1], thread, server)


def _worker(config: Config):
    from mailer.worker import Worker

    return Worker(config)


async def serve(config: Config, sock: socket.socket, *, log_level: str = "info",
                with_worker: bool = True) -> None:
    """The API and the outbox worker in this event loop, until SIGTERM/SIGINT."""
    access_log = bool(config.get("api", "access_log", True, env="CROSSCLIENT_API_ACCESS_LOG"))
    server = _Server(_uvicorn_config(create_app(config), log_level, access_log))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def shutdown() -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, shutdown)
    worker = _worker(config) if with_worker else None
    worker_task = asyncio.create_task(worker.run(stop), name="outbox-worker") if worker else None
    try:
        await server.serve(sockets=[sock])
    finally:
        stop.set()
        if worker_task is not None:
            await worker_task


def run_server(args) -> int:
    """`crossclient serve [--host] [--port]`: args.db, args.config, args.host, args.port."""
    from storage.config import load_config
    from storage.db import close_database, open_database, resolve_url

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the sample merchant's own API calls
    config = load_config(getattr(args, "config", None))
    open_database(getattr(args, "db", None))
    host, port = getattr(args, "host", "127.0.0.1"), int(getattr(args, "port", 8080))
    try:
        sock = bind(host, port)
    except OSError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 1
    token_file = provision_sample_merchant(config)
    print(f"crossclient API on http://{host}:{sock.getsockname()[1]}/api/v3.0 "
          f"(database {resolve_url(getattr(args, 'db', None))})", flush=True)
    if token_file:
        print(f"sample merchant token in {token_file}", flush=True)
    try:
        asyncio.run(serve(config, sock))
    finally:
        sock.close()
        close_database()
    return 0
