"""The HTTP client callbacks go out with: explicit timeouts, no redirects, no proxies from env,
and an address guard at connect time.

The guard resolves the host itself, refuses private, loopback and link-local answers (unless
allowed) and then connects to the very address it checked, so a DNS answer that changes between
the check and the connect cannot slip through. TLS still verifies the certificate against the
host name of the URL (httpcore passes it as SNI, independent of the address), trusting the
system's CAs plus [callbacks] ca_file (mailer.tls).
"""
from __future__ import annotations

import select
import socket
import sys
import typing

import anyio
import httpcore
import httpx

from mailer.settings import CallbackSettings
from mailer.tls import tls_context
from storage.addresses import address_problem


class AddressRefused(Exception):
    """The callback host resolves to an address callbacks may not go to."""


class NameNotResolved(Exception):
    """The callback host has no address (DNS)."""


def is_socket_readable(sock: socket.socket) -> bool:
    """Whether a read would return at once (data, or the end of a connection the server closed);
    the check httpcore makes, on a socket we keep."""
    fd = sock.fileno()
    if fd < 0:
        return True  # closed: the next read returns the end
    if sys.platform == "win32" or not hasattr(select, "poll"):
        return bool(select.select([fd], [], [], 0)[0])
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    """A connected stream whose socket is looked up once.

    Before each request httpcore asks every idle keep-alive connection whether the server closed
    it (`get_extra_info("is_readable")`), and anyio answers by building a dict of the socket's
    attributes, a `getpeername()` system call included, each time: at a few hundred callbacks a
    second with 16 connections per host that was most of the worker's CPU. The answer here is the
    same poll of the same socket, without the rebuilding.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream):
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "socket":
            return self._socket
        if info == "is_readable" and self._socket is not None:
            return is_socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that vets every address before it connects."""

    def __init__(self, *, allow_private: bool):
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def _addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            with anyio.fail_after(timeout):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise NameNotResolved(f"resolving {host} timed out") from None
        except (socket.gaierror, UnicodeError) as exc:
            raise NameNotResolved(f"{host} does not resolve: {exc}") from None
        seen: list[str] = []
        for info in infos:
            address = str(info[4][0])
            if address not in seen:
                seen.append(address)
        if not seen:
            raise NameNotResolved(f"{host} has no address")
        return seen

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await self._addresses(host, port, timeout)
        if not self.allow_private:
            for address in addresses:
                kind = address_problem(address)
                if kind:
                    raise AddressRefused(f"{host} resolves to a {kind} address ({address}); callbacks to "
                                         "private addresses are not allowed by [callbacks] "
                                         "allow_private_addresses")
        last: Exception | None = None
        for address in addresses:
            try:
                return _Stream(await self._inner.connect_tcp(address, port, timeout=timeout,
                                                              local_address=local_address,
                                                              socket_options=socket_options))
            except httpcore.ConnectError as exc:  # try the next address of the name
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover
        raise AddressRefused("unix sockets are not used for callbacks")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def make_client(settings: CallbackSettings) -> httpx.AsyncClient:
    """One shared AsyncClient for all callback sends of a worker."""
    limits = httpx.Limits(max_connections=settings.max_in_flight,
                          max_keepalive_connections=settings.max_in_flight, keepalive_expiry=30)
    ssl_context = tls_context(settings.ca_file)
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits, trust_env=False)
    # httpx builds its httpcore pool without a way to pass a network backend: swap the pool for an
    # identical one that connects through the guard.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(allow_private=settings.allow_private_addresses),
    )
    timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False,
                             trust_env=False, headers={"User-Agent": settings.user_agent})
