"""Fetching spec URLs: SSRF refusals (direct, after DNS, on a redirect), size and time caps.

The servers here are real HTTP servers on 127.0.0.1. Loopback is what the fetcher
refuses, so to reach the *redirect* check through the real fetch path the first
hop uses the name `localhost`, trusted through OPENAPI_FETCH_ALLOW_HOSTS, and it
redirects to the literal 127.0.0.1, which is not trusted: the refusal comes from
the per-hop check, with the redirect really served and really followed.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler

import pytest

from app.core.config import Settings
from app.integrations.openapi.fetch import FetchError, address_problem, check_url, fetch_spec
from tests.openapi.conftest import LocalServer, fixture_bytes

SPEC = fixture_bytes("petstore-expanded-3.0.yaml")


def serve_spec(req: BaseHTTPRequestHandler) -> None:
    req.send_response(200)
    req.send_header("Content-Type", "application/yaml")
    req.send_header("Content-Length", str(len(SPEC)))
    req.end_headers()
    req.wfile.write(SPEC)


def redirect_to(location: str):
    def handler(req: BaseHTTPRequestHandler) -> None:
        req.send_response(302)
        req.send_header("Location", location)
        req.send_header("Content-Length", "0")
        req.end_headers()

    return handler


def settings(**kw: object) -> Settings:
    return Settings(database_url=None, **kw)  # type: ignore[arg-type]


async def test_loopback_url_is_refused(local_server: LocalServer) -> None:
    local_server.routes["/spec.yaml"] = serve_spec
    with pytest.raises(
        FetchError, match=r"127\.0\.0\.1 is a loopback address.*OPENAPI_FETCH_ALLOW_HOSTS"
    ):
        await fetch_spec(local_server.url("/spec.yaml"), settings())


async def test_allowed_when_private_fetching_is_on(local_server: LocalServer) -> None:
    local_server.routes["/spec.yaml"] = serve_spec
    fetched = await fetch_spec(
        local_server.url("/spec.yaml"), settings(openapi_fetch_allow_private=True)
    )
    assert fetched.content == SPEC and fetched.content_type == "application/yaml"


async def test_redirect_to_loopback_is_refused_on_the_hop(local_server: LocalServer) -> None:
    hits: list[str] = []

    def target(req: BaseHTTPRequestHandler) -> None:
        hits.append(req.path)
        serve_spec(req)

    local_server.routes["/internal"] = target
    local_server.routes["/start"] = redirect_to(local_server.url("/internal"))  # literal 127.0.0.1
    trusted_first_hop = settings(openapi_fetch_allow_hosts=["localhost"])
    with pytest.raises(
        FetchError, match=r"refused to fetch 'http://127\.0\.0\.1:\d+/internal'.*loopback"
    ):
        await fetch_spec(local_server.url("/start", host="localhost"), trusted_first_hop)
    assert hits == []  # the redirect target was never requested
    # and the same chain goes through when the target is trusted too: the redirect really is followed
    both = settings(openapi_fetch_allow_hosts=["localhost", "127.0.0.1"])
    fetched = await fetch_spec(local_server.url("/start", host="localhost"), both)
    assert fetched.content == SPEC and fetched.url.endswith("/internal") and hits == ["/internal"]


async def test_relative_redirects_and_the_hop_limit(local_server: LocalServer) -> None:
    local_server.routes["/spec.yaml"] = serve_spec
    local_server.routes["/a"] = redirect_to("/spec.yaml")
    local_server.routes["/loop"] = redirect_to("/loop")
    ok = settings(openapi_fetch_allow_private=True)
    assert (await fetch_spec(local_server.url("/a"), ok)).content == SPEC
    with pytest.raises(FetchError, match="more than 5 redirects"):
        await fetch_spec(local_server.url("/loop"), ok)


async def test_public_name_resolving_to_private_address_is_refused() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        assert host == "specs.example.com"
        return ["93.184.216.34", "10.1.2.3"]  # one bad address is enough to refuse

    with pytest.raises(
        FetchError, match=r"specs\.example\.com resolves to 10\.1\.2\.3, which is a private address"
    ):
        await fetch_spec("https://specs.example.com/openapi.json", settings(), resolver=resolver)


async def test_check_url_rejects_schemes_and_metadata_addresses() -> None:
    with pytest.raises(FetchError, match="only http and https"):
        await check_url("file:///etc/passwd", settings())
    with pytest.raises(FetchError, match="link-local"):
        await check_url("http://169.254.169.254/latest/meta-data", settings())
    with pytest.raises(FetchError, match="loopback"):
        await check_url("http://[::ffff:127.0.0.1]/x", settings())
    with pytest.raises(FetchError, match="does not resolve"):
        await check_url("http://no-such-host.invalid/spec.json", settings())


@pytest.mark.parametrize(
    "ip,problem",
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("192.168.1.1", "private"),
        ("172.16.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-public"),
        ("224.0.0.1", "multicast"),
        ("::ffff:10.0.0.1", "private (embedded in IPv6 ::ffff:10.0.0.1)"),
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_problem(ip: str, problem: str | None) -> None:
    assert address_problem(ip) == problem


async def test_size_cap_aborts_a_stream_without_length(local_server: LocalServer) -> None:
    def endless(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.end_headers()  # no Content-Length: the fetcher must count
        try:
            for _ in range(10_000):
                req.wfile.write(b" " * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass

    local_server.routes["/big"] = endless
    start = time.perf_counter()
    with pytest.raises(FetchError, match=r"over the limit of 1,048,576 bytes.*stopped reading"):
        await fetch_spec(
            local_server.url("/big"),
            settings(openapi_fetch_allow_private=True, openapi_max_bytes=1024 * 1024),
        )
    assert time.perf_counter() - start < 5


async def test_size_cap_refuses_a_declared_length(local_server: LocalServer) -> None:
    def declared(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Length", str(50 * 1024 * 1024))
        req.end_headers()

    local_server.routes["/declared"] = declared
    with pytest.raises(FetchError, match="52,428,800 bytes, over the limit"):
        await fetch_spec(local_server.url("/declared"), settings(openapi_fetch_allow_private=True))


async def test_slow_server_hits_the_total_timeout(local_server: LocalServer) -> None:
    def drip(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.end_headers()
        try:
            for _ in range(100):
                req.wfile.write(b" ")
                req.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass

    local_server.routes["/slow"] = drip
    start = time.perf_counter()
    with pytest.raises(FetchError, match=r"no complete answer within 0\.5s"):
        await fetch_spec(
            local_server.url("/slow"),
            settings(openapi_fetch_allow_private=True, openapi_fetch_timeout_s=0.5),
        )
    assert time.perf_counter() - start < 3


async def test_http_errors_are_reported(local_server: LocalServer) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        await fetch_spec(local_server.url("/missing"), settings(openapi_fetch_allow_private=True))
