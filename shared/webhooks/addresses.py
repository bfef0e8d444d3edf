"""Which URLs a webhook endpoint may have (design section 12): http or https, at most
`webhook_url_length_max` characters, a host, no credentials, and, unless
`webhook_allow_private` is set, a host that is a public address: a literal IP address is
checked as written, a host name by every address it resolves to. The sender checks the
addresses again when it connects (worker/webhook_sender.py), so that a name that resolves to
a private address later is refused then (DNS rebinding)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

SCHEMES = ("http", "https")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """A URL a webhook endpoint may not have; the message says why."""


def is_public(address: Address) -> bool:
    """Whether an address may be delivered to without `webhook_allow_private`: a global
    unicast address (not private, loopback, link-local, shared, reserved, unspecified or
    multicast); an IPv4 address mapped into IPv6 is judged as the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> Address | None:
    """The host as an IP address, if it is one (IPv6 without its brackets)."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def parse_url(url: str, length_max: int) -> SplitResult:
    """The URL's parts, or UrlRefused: a scheme other than http(s), too long, no host,
    credentials, a bad port, or a character that is not printable ASCII."""
    if len(url) > length_max:
        raise UrlRefused(f"must have at most {length_max} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise UrlRefused("must be printable ASCII without spaces (percent-encode the rest)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlRefused(f"is not a URL: {error}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise UrlRefused("must be an http or https URL")
    if not parts.hostname:
        raise UrlRefused("must name a host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not carry credentials")
    if port == 0:
        raise UrlRefused("must not name port 0")
    return parts


async def check_url(url: str, *, length_max: int, allow_private: bool, timeout_s: float) -> None:
    """UrlRefused unless the URL may be an endpoint's: see the module's docstring. A host name
    that does not resolve within `timeout_s` is refused too: it could not be delivered to."""
    parts = parse_url(url, length_max)
    if allow_private:
        return
    host = parts.hostname or ""
    literal = literal_address(host)
    if literal is not None:
        if not is_public(literal):
            raise UrlRefused(f"names a private or loopback address ({literal})")
        return
    for address in await resolve(host, timeout_s):
        if not is_public(address):
            raise UrlRefused(f"names a host that resolves to a private address ({address})")


async def resolve(host: str, timeout_s: float) -> list[Address]:
    """Every address `host` resolves to, or UrlRefused if it does not within `timeout_s`."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        raise UrlRefused(f"names a host that does not resolve ({host})") from None
    addresses = [literal_address(str(info[4][0])) for info in infos]
    found = [address for address in addresses if address is not None]
    if not found:
        raise UrlRefused(f"names a host that does not resolve ({host})")
    return found
