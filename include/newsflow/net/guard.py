"""SSRF guard: refuse URLs whose host resolves to a non-public address unless it is allow-listed.

Refused: loopback, private, link-local, multicast, reserved and unspecified addresses (IPv4 and IPv6,
including IPv4-mapped IPv6). Allow-list entries are ``host`` or ``host:port``; a bare host allows any port.
Every redirect hop is checked again by the fetcher.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from newsflow.urls import ALLOWED_SCHEMES

Resolver = Callable[[str, int], list[str]]


class BlockedURL(Exception):
    """The URL was refused before any connection was made; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses the system resolver returns for ``host``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def parse_allow_entry(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` as ``(host, port or None)``."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port)
    return entry, None


class NetGuard:
    """Decides whether a URL may be fetched."""

    def __init__(self, allow_hosts: Iterable[str] = (), resolver: Resolver = system_resolver) -> None:
        self._allow = {parse_allow_entry(h) for h in allow_hosts}
        self._resolver = resolver

    def allowed_by_list(self, url: str) -> bool:
        """True when the URL's host (any port) or host and port are on the allow-list."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        return (host, None) in self._allow or (host, port) in self._allow

    def vetted_addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host:port``: all of them when allow-listed, else only when
        every one is public (BlockedURL otherwise). The fetcher connects to these, never looks up again."""
        host = host.lower().strip("[]")
        allowed = (host, None) in self._allow or (host, port) in self._allow
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = self._resolver(host, port)
            except (OSError, UnicodeError) as exc:
                raise BlockedURL(f"cannot resolve host {host!r}: {exc}") from exc
        if not addresses:
            raise BlockedURL(f"host {host!r} resolves to no address")
        if not allowed:
            for address in addresses:
                if not is_public_address(address):
                    raise BlockedURL(
                        f"host {host!r} resolves to non-public address {address} (SSRF guard; "
                        "allow-list it in allow_hosts if this is intended)"
                    )
        return addresses

    def check(self, url: str) -> None:
        """Raise :class:`BlockedURL` unless ``url`` is http(s) and resolves only to public addresses."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError as exc:
            raise BlockedURL(f"malformed URL: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise BlockedURL(f"scheme {scheme or '(none)'!r} not allowed (http/https only)")
        host = parts.hostname
        if not host:
            raise BlockedURL("URL has no host")
        if parts.username or parts.password:
            raise BlockedURL("credentials in URL not allowed")
        if not self.allowed_by_list(url):
            self.vetted_addresses(host, port)  # refuse early; the fetcher vets its own lookup at connect
