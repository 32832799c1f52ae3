"""Fetching a spec from a URL without becoming a proxy into the private network.

`fetch_spec(url, settings)` is the only place the server fetches a URL an admin
typed. It refuses, unless the settings allow it:

- schemes other than http and https;
- hosts that resolve to a private, loopback, link-local, multicast or otherwise
  non-public address. The check runs on the addresses DNS gives now, and the
  connection is then made to the checked address itself (Host header and TLS SNI
  keep the name), so a DNS answer that changes between check and connect
  ("rebinding") cannot slip through;
- every redirect hop, checked the same way: redirects are followed by hand;
- bodies over `OPENAPI_MAX_BYTES` (read as a stream, abandoned at the cap) and
  fetches longer than `OPENAPI_FETCH_TIMEOUT_S` in total.

`OPENAPI_FETCH_ALLOW_PRIVATE=true` lifts the address check for every host;
`OPENAPI_FETCH_ALLOW_HOSTS` lifts it for the named hosts only (the name as written
in the URL, e.g. an internal API host), and a redirect away from such a host is
checked again.

The address rule itself (`address_problem`, resolving, pinning) is
`graphs.tools.egress`, shared with the tool calls, which obey the same policy.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from app.core.bodies import read_capped
from app.core.config import Settings
from app.core.errors import BadRequest
from graphs.tools.egress import Resolver, address_problem, is_ip, pinned, system_resolver

__all__ = ["FetchError", "FetchedSpec", "Resolver", "address_problem", "check_url", "fetch_spec"]

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
ALLOW_HINT = "set OPENAPI_FETCH_ALLOW_HOSTS to trust this host (or OPENAPI_FETCH_ALLOW_PRIVATE=true), or upload the file instead"


class FetchError(BadRequest):
    """A spec URL was refused or could not be fetched; the message says which and why."""


@dataclass
class FetchedSpec:
    content: bytes
    content_type: str | None
    url: str
    """The URL the document finally came from (after redirects)."""


async def check_url(
    url: str, settings: Settings, *, resolver: Resolver | None = None
) -> tuple[httpx.URL, list[str]]:
    """Parse and vet one hop: its scheme, its host's addresses. Returns the URL and the addresses to use."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(f"refused to fetch {url!r}: not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(
            f"refused to fetch {url!r}: only http and https URLs are fetched, not {parsed.scheme or 'none'!r}"
        )
    host = parsed.host
    if not host:
        raise FetchError(f"refused to fetch {url!r}: the URL has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if is_ip(host):
        addresses = [host]
    else:
        try:
            addresses = await (resolver or system_resolver)(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchError(
                f"could not fetch {url!r}: the host {host!r} does not resolve ({exc}); check the URL"
            ) from None
        if not addresses:
            raise FetchError(
                f"could not fetch {url!r}: the host {host!r} has no addresses; check the URL"
            )
    trusted = settings.openapi_fetch_allow_private or host.lower() in {
        h.lower() for h in settings.openapi_fetch_allow_hosts
    }
    if not trusted:
        for ip in addresses:
            problem = address_problem(ip)
            if problem:
                shown = host if host == ip else f"{host} resolves to {ip}, which"
                raise FetchError(
                    f"refused to fetch {url!r}: {shown} is a {problem} address, and spec URLs may only reach "
                    f"public addresses so an import cannot probe the server's own network; {ALLOW_HINT}"
                )
    return parsed, addresses


def _pinned(parsed: httpx.URL, ip: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request for `parsed` sent to the checked address `ip`, keeping the name for Host and SNI."""
    target, headers, extensions = pinned(parsed, ip)
    headers["Accept"] = "application/json, application/yaml, text/yaml, */*"
    return target, headers, extensions


async def fetch_spec(
    url: str,
    settings: Settings,
    *,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchedSpec:
    """Fetch a spec document, hop by hop, each hop vetted; see the module docstring."""
    cap = settings.openapi_max_bytes
    timeout_s = settings.openapi_fetch_timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            async with httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,
                transport=transport,
                timeout=httpx.Timeout(timeout_s),
            ) as client:
                current = url
                for _hop in range(settings.openapi_fetch_max_redirects + 1):
                    parsed, addresses = await check_url(current, settings, resolver=resolver)
                    result = await _get(client, current, parsed, addresses, cap)
                    if isinstance(result, FetchedSpec):
                        return result
                    current = result  # a redirect: the next hop is checked like the first
                raise FetchError(
                    f"refused to fetch {url!r}: more than {settings.openapi_fetch_max_redirects} redirects "
                    "(OPENAPI_FETCH_MAX_REDIRECTS); give the final URL"
                )
    except TimeoutError:
        raise FetchError(
            f"could not fetch {url!r}: no complete answer within {timeout_s:g}s (OPENAPI_FETCH_TIMEOUT_S); "
            "check the URL or upload the file instead"
        ) from None


async def _get(
    client: httpx.AsyncClient, url: str, parsed: httpx.URL, addresses: list[str], cap: int
) -> FetchedSpec | str:
    last_error: Exception | None = None
    for ip in addresses[:4]:
        target, headers, extensions = _pinned(parsed, ip)
        request = client.build_request("GET", target, headers=headers, extensions=extensions)
        try:
            response = await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            last_error = exc
            continue  # try the host's next checked address
        except httpx.HTTPError as exc:
            raise FetchError(f"could not fetch {url!r}: {type(exc).__name__}: {exc}") from None
        try:
            if response.status_code in REDIRECT_CODES:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(
                        f"could not fetch {url!r}: HTTP {response.status_code} redirect without a Location"
                    )
                return str(parsed.join(location))
            if response.status_code >= 400:
                raise FetchError(
                    f"could not fetch {url!r}: the server answered HTTP {response.status_code}; check the URL and "
                    "that it is reachable without a login"
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise FetchError(
                    f"refused to fetch {url!r}: the document is {int(declared):,} bytes, over the limit of {cap:,} "
                    "(OPENAPI_MAX_BYTES)"
                )
            content = await read_capped(response.aiter_bytes(), cap, lambda: FetchError(
                f"refused to fetch {url!r}: the document is over the limit of {cap:,} bytes "
                "(OPENAPI_MAX_BYTES); stopped reading"))
            return FetchedSpec(content=content, content_type=response.headers.get("content-type"), url=url)
        except httpx.HTTPError as exc:
            raise FetchError(f"could not fetch {url!r}: {type(exc).__name__}: {exc}") from None
        finally:
            await response.aclose()
    raise FetchError(f"could not fetch {url!r}: could not connect to {parsed.host} ({last_error})")
