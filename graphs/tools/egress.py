"""The address policy for every outbound request the server makes on someone's behalf.

Two kinds of request leave the server towards a URL it did not choose itself: an
admin's spec URL (`app/integrations/openapi/fetch.py`) and every tool call (`graphs/tools/openapi.py`,
whose base URL comes from an imported spec). Both use this one policy, which lives
on the graphs side because `graphs/` never imports `app/` while `app/` may import
`graphs/`, so a single implementation serves both.

The rule: a URL must be http(s) and every address its host resolves to must be
public (not loopback, private, link-local, which includes the cloud metadata address
169.254.169.254, multicast, reserved or unspecified; IPv4 embedded in IPv6 counts as
the IPv4 it carries), unless the admin trusted it:

- `allow_private`: every host (an installation whose APIs all live on a private network);
- `allow_hosts`: these host names or IPs, as written in the URL;
- `trusted_prefixes`: these exact base URLs (scheme, host, port and a path prefix), the
  way the server trusts the shop base URL it was configured with (`SHOP_API_URL`, or
  the demo shop it mounts itself on loopback) without trusting the rest of that host.

The connection then goes to the checked address itself (`pinned`), keeping the name
for the Host header and TLS SNI, so a DNS answer that changes between the check and
the connect (rebinding) cannot reach an address that was never checked.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "EgressPolicy",
    "EgressRefused",
    "Resolver",
    "address_problem",
    "is_ip",
    "pinned",
    "system_resolver",
    "under_prefix",
]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""`await resolver(host, port)` -> the addresses to try, best first."""


class EgressRefused(Exception):
    """A URL the policy does not let the server reach; the message says which address and why."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    # IPv4 first: a server reached by name usually listens there, and the order is otherwise arbitrary.
    return sorted(dict.fromkeys(addresses), key=lambda a: ":" in a)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def address_problem(ip: str) -> str | None:
    """Why connecting to this address is refused, or None for a public address."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return "unparseable"
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour or (addr.teredo[1] if addr.teredo else None)
        if embedded is not None:
            inner = address_problem(str(embedded))
            if inner:
                return f"{inner} (embedded in IPv6 {ip})"
    for attr, word in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_private", "private"),
        ("is_multicast", "multicast"),
        ("is_reserved", "reserved"),
    ):
        if getattr(addr, attr):
            return word
    if not addr.is_global:
        return "non-public"
    return None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = 443 if url.scheme == "https" else 80
    return url.scheme, (url.host or "").lower(), url.port or default


@functools.lru_cache(maxsize=256)
def _parsed(url: str) -> httpx.URL:
    return httpx.URL(url)  # immutable: one parse per configured base URL


def under_prefix(url: httpx.URL | str, prefix: httpx.URL | str) -> bool:
    """Whether `url` is `prefix` or below it: same scheme, host and port, and a path under the prefix's
    path at a segment boundary (`/shop` covers `/shop/orders`, not `/shopping`)."""
    url = url if isinstance(url, httpx.URL) else httpx.URL(url)
    prefix = prefix if isinstance(prefix, httpx.URL) else _parsed(prefix)
    if _origin(url) != _origin(prefix):
        return False
    base = prefix.path.rstrip("/")
    return url.path == base or url.path.startswith(base + "/") or not base


@dataclass(frozen=True)
class EgressPolicy:
    allow_private: bool = False
    allow_hosts: frozenset[str] = frozenset()
    trusted_prefixes: tuple[str, ...] = ()
    resolver: Resolver | None = field(default=None, compare=False)
    """Name resolution (tests inject one); None: the system's."""

    @classmethod
    def build(cls, *, allow_private: bool = False, allow_hosts: Iterable[str] = (),
              trusted_prefixes: Iterable[str | None] = (), resolver: Resolver | None = None) -> EgressPolicy:
        return cls(allow_private=allow_private, allow_hosts=frozenset(h.lower() for h in allow_hosts),
                   trusted_prefixes=tuple(p for p in trusted_prefixes if p), resolver=resolver)

    def trusting(self, *prefixes: str | None) -> EgressPolicy:
        """This policy with more trusted base URLs (e.g. the shop base URL a run was wired with)."""
        extra = tuple(p for p in prefixes if p and p not in self.trusted_prefixes)
        if not extra:
            return self
        return EgressPolicy(allow_private=self.allow_private, allow_hosts=self.allow_hosts,
                            trusted_prefixes=self.trusted_prefixes + extra, resolver=self.resolver)

    def trusts(self, url: httpx.URL) -> bool:
        """Whether the admin trusted this URL, so its addresses are not checked."""
        host = (url.host or "").lower()
        return (self.allow_private or host in self.allow_hosts
                or any(under_prefix(url, p) for p in self.trusted_prefixes))

    async def addresses(self, url: httpx.URL) -> list[str]:
        """The checked addresses to connect to for `url`; [] when it is trusted (connect by name).

        Raises EgressRefused for a scheme other than http(s), a host that does not resolve,
        or any resolved address that is not public."""
        if url.scheme not in ("http", "https"):
            raise EgressRefused(f"only http and https URLs are reached, not {url.scheme or 'none'!r}")
        host = url.host
        if not host:
            raise EgressRefused("the URL has no host")
        if self.trusts(url):
            return []
        port = url.port or (443 if url.scheme == "https" else 80)
        if is_ip(host):
            found = [host]
        else:
            try:
                found = await (self.resolver or system_resolver)(host, port)
            except (OSError, UnicodeError) as exc:
                raise EgressRefused(f"the host {host!r} does not resolve ({exc})") from None
            if not found:
                raise EgressRefused(f"the host {host!r} has no addresses")
        for ip in found:
            problem = address_problem(ip)
            if problem:
                shown = host if host == ip else f"{host} resolves to {ip}, which"
                raise EgressRefused(f"{shown} is a {problem} address")
        return found


def pinned(url: httpx.URL, ip: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request for `url` sent to the checked address `ip`: the URL with the IP, the Host header
    and the TLS SNI extension that keep the name."""
    headers = {"Host": url.netloc.decode("ascii")}
    extensions: dict[str, Any] = {}
    if url.scheme == "https":
        extensions["sni_hostname"] = url.host
    return url.copy_with(host=ip), headers, extensions
