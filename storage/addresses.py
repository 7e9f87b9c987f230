"""Which network addresses a callback may go to: public ones only, unless explicitly allowed.

A callback URL whose host resolves to a private, loopback, link-local or otherwise non-public
address would let a client make crossclient call into its own network (SSRF). Storage checks the
URL when a connection is saved; the mailer checks every address again right before it connects,
because DNS answers change. A name that does not resolve is accepted at save time (it may resolve
later); at send time it is a `dns` failure.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlparse


def address_problem(address: str) -> str | None:
    """Why `address` (an IP literal) may not be called back, or None when it is public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


def resolve(host: str, port: int | None = None) -> list[str]:
    """Every address `host` resolves to (raises socket.gaierror when it does not)."""
    infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = info[4][0]
        if address not in seen:
            seen.append(address)
    return seen


def url_problem(url: str) -> str | None:
    """A sentence saying why `url` may not be used for callbacks, or None.

    Only the address policy is checked here (the URL's shape is validated elsewhere); a host that
    does not resolve yields None.
    """
    parsed = urlparse(url)
    host = parsed.hostname
    if not host:
        return None
    try:
        addresses = resolve(host, parsed.port)
    except (socket.gaierror, UnicodeError, OSError):
        return None
    for address in addresses:
        kind = address_problem(address)
        if kind:
            return (f"resolves to a {kind} address ({address}); callbacks may only go to public "
                    "addresses unless the configuration allows private ones")
    return None
