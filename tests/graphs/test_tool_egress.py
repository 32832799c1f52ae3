"""Where a tool call may go and what it carries, against real HTTP servers that record every request.

The shop's bearer token and the customer id go only to the shop base URL; an
imported spec's API gets its own credentials or none; path arguments cannot
climb out of their segment; private, loopback and metadata addresses are refused
unless trusted; redirects are never followed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from graphs.context import RunContext
from graphs.tools import HttpTool, ToolRegistry, ToolRuntimeConfig, ToolSpec
from graphs.tools.egress import EgressPolicy
from graphs.tools.spec import ToolCredentials


@dataclass
class Recorder:
    """A real HTTP server on loopback: every request's method, path and headers; answers 200 {} (or `redirect`)."""

    base: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    redirect: str | None = None

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]


def _serve(recorder: Recorder) -> Iterator[Recorder]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            recorder.requests.append({"method": self.command, "path": self.path,
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": self.rfile.read(length) if length else b""})
            if recorder.redirect:
                self.send_response(302)
                self.send_header("Location", recorder.redirect)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps({"order_id": "1042", "status": "shipped", "total": 10}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def shop() -> Iterator[Recorder]:
    yield from _serve(Recorder())


@pytest.fixture
def other() -> Iterator[Recorder]:
    yield from _serve(Recorder())


SHOP_TOKEN = "shop-secret-token"


def _tool(name: str, base_url: str | None, *, path: str = "/orders/{order_id}", method: str = "GET",
          credentials: Any = "shop") -> ToolSpec:
    return ToolSpec(name=name, method=method, path=path, description="", base_url=base_url,
                    args_schema={"type": "object", "properties": {"order_id": {"type": "string"}}},
                    arg_locations={"order_id": "path"}, credentials=credentials)


def _runtime(**egress: Any) -> ToolRuntimeConfig:
    return ToolRuntimeConfig(api_token=SHOP_TOKEN, max_retries=0, timeout_s=5, egress=EgressPolicy.build(**egress))


def _context(shop: Recorder) -> RunContext:
    # the run is wired with the shop base URL, as Services.run_context does
    return RunContext(user_id="cust-7", extra={"shop_base_url": shop.base + "/shop"})


async def test_shop_credentials_reach_only_the_shop_base_url(shop: Recorder, other: Recorder,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOL_SECRET_LOYALTY", "loyalty-secret")
    registry = ToolRegistry([
        _tool("shop_order", None),                                   # the configured shop tool
        _tool("imported_plain", other.base),                         # an import without credentials
        _tool("configured_elsewhere", other.base),                   # a configured tool whose server is not the shop
        _tool("imported_own", other.base + "/v1", credentials=ToolCredentials(
            env="TOOL_SECRET_LOYALTY", customer_id_header="X-Customer-Id")),
        _tool("imported_relative", None, credentials=None),          # an import whose server is relative: the shop
    ], runtime=_runtime(allow_hosts=["127.0.0.1"]))
    ctx = _context(shop)
    for name in registry.names:
        outcome = await registry.call(name, {"order_id": "1042"}, call_id=f"c-{name}", context=ctx)
        assert outcome.ok, (name, outcome.content)

    # the shop got its token and the customer id from its own tool, and nothing from the import
    by_path = {tuple(r["headers"].get(h) for h in ("authorization", "x-customer-id")) for r in shop.requests}
    assert len(shop.requests) == 2
    assert (f"Bearer {SHOP_TOKEN}", "cust-7") in by_path and (None, None) in by_path
    # the other API never saw the shop's token nor the customer id, only its own configured secret
    seen = [(r["path"], r["headers"].get("authorization"), r["headers"].get("x-customer-id")) for r in other.requests]
    assert sorted(seen) == [
        ("/orders/1042", None, None),
        ("/orders/1042", None, None),
        ("/v1/orders/1042", "Bearer loyalty-secret", "cust-7"),
    ]
    assert not any(SHOP_TOKEN in json.dumps(r["headers"]) for r in other.requests)


async def test_a_missing_spec_secret_is_a_clear_refusal(other: Recorder, shop: Recorder,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOOL_SECRET_GONE", raising=False)
    tool = _tool("needs_secret", other.base, credentials=ToolCredentials(env="TOOL_SECRET_GONE"))
    outcome = await HttpTool(tool, _runtime(allow_hosts=["127.0.0.1"]))({"order_id": "1"}, call_id="c",
                                                                        context=_context(shop))
    assert not outcome.ok and "TOOL_SECRET_GONE is not set" in outcome.content
    assert other.requests == []


@pytest.mark.parametrize("bad", ["..", ".", "", "../admin", "a/../../b", "1042?x=1", "1042#x", "a\\b",
                                 "10\x0042", "1042\r\nX-Evil: 1", "\x7f"])
async def test_path_traversal_attempts_never_leave_their_segment(bad: str, shop: Recorder) -> None:
    registry = ToolRegistry([_tool("shop_order", None)], runtime=_runtime())
    assert registry.validate_args("shop_order", {"order_id": bad}) is not None  # an edited approval is refused too
    outcome = await registry.call("shop_order", {"order_id": bad}, call_id="c", context=_context(shop))
    assert not outcome.ok and "not allowed in a path parameter" in outcome.content
    assert shop.requests == []


async def test_ordinary_path_arguments_still_work(shop: Recorder) -> None:
    registry = ToolRegistry([_tool("shop_order", None)], runtime=_runtime())
    for value in ("1042", "a b", "..a", "%2e%2e", "ü-1"):
        outcome = await registry.call("shop_order", {"order_id": value}, call_id="c", context=_context(shop))
        assert outcome.ok, (value, outcome.content)
    assert shop.paths() == ["/shop/orders/1042", "/shop/orders/a%20b", "/shop/orders/..a", "/shop/orders/%252e%252e",
                            "/shop/orders/%C3%BC-1"]


def _resolver(table: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]
    return resolve


@pytest.mark.parametrize(("base", "why"), [
    ("http://metadata.internal.test", "link-local"),           # resolves to 169.254.169.254
    ("http://169.254.169.254/latest", "link-local"),
    ("http://db.internal.test:8080", "private"),               # resolves to 10.0.0.5
    ("http://loop.test:{port}", "loopback"),                   # resolves to 127.0.0.1, where a real server listens
    ("http://[::ffff:127.0.0.1]:{port}", "loopback"),
    ("http://127.0.0.1:{port}", "loopback"),                   # the shop's host, another port
    ("http://0.0.0.0:{port}", "unspecified"),
])
async def test_private_and_metadata_targets_are_refused(base: str, why: str, other: Recorder, shop: Recorder) -> None:
    port = other.base.rsplit(":", 1)[1]
    resolver = _resolver({"metadata.internal.test": ["169.254.169.254"], "db.internal.test": ["10.0.0.5"],
                          "loop.test": ["127.0.0.1"]})
    tool = _tool("imported", base.format(port=port), credentials=None)
    outcome = await HttpTool(tool, _runtime(resolver=resolver))({"order_id": "1"}, call_id="c", context=_context(shop))
    assert not outcome.ok and "was not called" in outcome.content and why in outcome.content, outcome.content
    assert "TOOL_ALLOW_HOSTS" in outcome.content
    assert other.requests == [] and shop.requests == []


async def test_an_allow_listed_host_is_reached_and_the_shop_prefix_is_not_the_whole_host(
        other: Recorder, shop: Recorder) -> None:
    resolver = _resolver({"loop.test": ["127.0.0.1"]})
    port = other.base.rsplit(":", 1)[1]
    trusted = HttpTool(_tool("imported", f"http://localhost:{port}", credentials=None),
                       _runtime(allow_hosts=["localhost"], resolver=resolver))
    assert (await trusted({"order_id": "1"}, call_id="c", context=_context(shop))).ok
    assert other.paths() == ["/orders/1"]
    # the shop base URL is trusted as a prefix: the same host and port outside /shop is not
    beside = HttpTool(_tool("beside_shop", shop.base + "/api", credentials=None), _runtime(resolver=resolver))
    outcome = await beside({"order_id": "1"}, call_id="c", context=_context(shop))
    assert not outcome.ok and "loopback" in outcome.content
    assert shop.requests == []


async def test_redirects_are_not_followed(shop: Recorder, other: Recorder) -> None:
    shop.redirect = other.base + "/orders/1042"
    registry = ToolRegistry([_tool("shop_order", None)], runtime=_runtime(allow_hosts=["127.0.0.1"]))
    outcome = await registry.call("shop_order", {"order_id": "1042"}, call_id="c", context=_context(shop))
    assert not outcome.ok and "redirect" in outcome.content and "never follow" in outcome.content
    assert len(shop.requests) == 1 and other.requests == []
