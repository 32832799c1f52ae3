"""Tools from OpenAPI: specs, the HTTP caller (retries, caps, headers), the registry, approver rules."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.demo.shop import create_shop_app
from graphs.agents import load_agents
from graphs.context import RunContext
from graphs.tools import (
    HttpTool,
    ToolRegistry,
    ToolRuntimeConfig,
    ToolSpec,
    confirm_message,
    default_registry,
    operations_from_openapi,
    resolve_approver,
    validate_tool_args,
)
from graphs.tools.egress import EgressPolicy

DOC = {
    "openapi": "3.0.3",
    "servers": [{"url": "https://api.example.com/v2"}],
    "paths": {
        "/things/{thing_id}": {
            "parameters": [{"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {
                "operationId": "get_thing",
                "summary": "Get a thing",
                "parameters": [
                    {"name": "verbose", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "X-Customer-Id", "in": "header", "schema": {"type": "string"}},
                ],
            },
            "patch": {
                "operationId": "patch_thing",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Patch"}}}},
            },
        }
    },
    "components": {
        "schemas": {
            "Patch": {"type": "object", "required": ["label"], "properties": {"label": {"$ref": "#/components/schemas/Label"}}},
            "Label": {"type": "string", "nullable": True, "maxLength": 5},
        }
    },
}


def test_operations_become_specs_with_refs_resolved() -> None:
    specs = operations_from_openapi(DOC)
    get, patch = specs["get_thing"], specs["patch_thing"]
    assert (get.method, get.path, get.base_url, get.description) == ("GET", "/things/{thing_id}", "https://api.example.com/v2", "Get a thing")
    assert get.args_schema["properties"].keys() == {"thing_id", "verbose"}  # the customer header is never an argument
    assert get.args_schema["required"] == ["thing_id"]
    assert dict(get.arg_locations) == {"thing_id": "path", "verbose": "query"}
    assert patch.args_schema["properties"]["label"] == {"type": ["string", "null"], "maxLength": 5}
    assert patch.args_schema["required"] == ["thing_id", "label"]
    assert not patch.idempotent and get.idempotent


def test_demo_shop_tools_match_demo_md() -> None:
    registry = default_registry()
    assert registry.spec("get_order_status").args_schema["required"] == ["order_id"]
    assert set(registry.spec("update_shipping_address").args_schema["required"]) == {"order_id", "address"}
    assert [s.name for s in registry.for_agent("order_actions")] == ["get_order_status", "cancel_order", "update_shipping_address"]
    assert (registry.spec("cancel_order").risk, registry.spec("cancel_order").approver) == ("high", "customer")
    assert (registry.spec("update_shipping_address").risk, registry.spec("update_shipping_address").approver) == ("medium", "customer")
    assert registry.spec("search_help_center").approver == "none"


def test_validate_tool_args() -> None:
    assert validate_tool_args("cancel_order", {"order_id": "1042"}) is None
    assert "order_id" in validate_tool_args("cancel_order", {"order_id": 1042})
    assert "'address' is a required property" in validate_tool_args("update_shipping_address", {"order_id": "1033"})
    assert "Additional properties" in validate_tool_args("cancel_order", {"order_id": "1042", "customer_id": "x"})
    assert validate_tool_args("nope", {}) == "no tool named 'nope'"
    spec = default_registry().spec("create_refund")
    assert validate_tool_args(spec, {"order_id": "1017", "amount": -1}) is not None


def _mock(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _spec(method: str = "GET", path: str = "/things/{thing_id}") -> ToolSpec:
    return ToolSpec(
        name="thing", method=method, path=path, description="", base_url="http://api",
        args_schema={"type": "object", "properties": {"thing_id": {"type": "string"}, "label": {"type": "string"}}},
        arg_locations={"thing_id": "path", "label": "body"},
    )


# "http://api" is the shop base URL here: trusted by the address policy, and where the token may go.
FAST = ToolRuntimeConfig(max_retries=2, retry_backoff_s=0.001, timeout_s=1, max_response_bytes=2048, api_token="tok",
                         base_url="http://api")


async def test_headers_come_from_the_run_not_the_model() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": 1})

    async with _mock(handler) as http:
        ctx = RunContext(user_id="cust-9", http=http)
        result = await HttpTool(_spec("POST"), FAST)({"thing_id": "a b", "label": "x"}, call_id="call_1", context=ctx)

    assert result.ok and result.data == {"ok": 1} and result.content == '{"ok":1}'
    [request] = seen
    assert request.url == "http://api/things/a%20b"
    assert request.headers["X-Customer-Id"] == "cust-9"
    assert request.headers["Idempotency-Key"] == "call_1"
    assert request.headers["Authorization"] == "Bearer tok"
    assert json.loads(request.content) == {"label": "x"}


async def test_idempotent_methods_retry_with_backoff() -> None:
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(503) if len(attempts) < 3 else httpx.Response(200, json={"id": "a"})

    async with _mock(handler) as http:
        result = await HttpTool(_spec("GET"), FAST)({"thing_id": "a"}, call_id="c", context=RunContext(http=http))
    assert result.ok and len(attempts) == 3


async def test_post_is_never_retried() -> None:
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(503, json={"detail": "try later"})

    async with _mock(handler) as http:
        result = await HttpTool(_spec("POST"), FAST)({"thing_id": "a"}, call_id="c", context=RunContext(http=http))
    assert not result.ok and result.content == "try later" and result.status == 503
    assert len(attempts) == 1


async def test_timeouts_and_transport_errors_become_readable_results() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with _mock(slow) as http:
        result = await HttpTool(_spec(), FAST)({"thing_id": "a"}, call_id="c", context=RunContext(http=http))
    assert not result.ok and "timed out" in result.content
    async with _mock(down) as http:
        result = await HttpTool(_spec(), FAST)({"thing_id": "a"}, call_id="c", context=RunContext(http=http))
    assert not result.ok and "could not reach" in result.content


async def test_oversized_responses_are_refused() -> None:
    async with _mock(lambda r: httpx.Response(200, content=b"x" * 5000)) as http:
        result = await HttpTool(_spec(), FAST)({"thing_id": "a"}, call_id="c", context=RunContext(http=http))
    assert not result.ok and "larger than 2048 bytes" in result.content


async def test_errors_without_detail_name_the_tool_and_status() -> None:
    async with _mock(lambda r: httpx.Response(500, text="<html>boom</html>")) as http:
        result = await HttpTool(_spec("POST"), FAST)({"thing_id": "a"}, call_id="c", context=RunContext(http=http))
    assert result.content == "thing failed with HTTP 500: <html>boom</html>"


async def test_invalid_model_args_never_reach_the_api() -> None:
    calls = []
    async with _mock(lambda r: calls.append(r) or httpx.Response(200)) as http:
        result = await default_registry().call(
            "cancel_order", {"order_id": "1042", "customer_id": "someone-else"}, call_id="c", context=RunContext(http=http)
        )
    assert not result.ok and "invalid arguments for cancel_order" in result.content
    assert calls == []


async def test_base_url_comes_from_the_run_then_the_settings() -> None:
    spec = ToolSpec(name="t", method="GET", path="/x", description="", args_schema={"type": "object", "properties": {}})
    urls = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(200, json={})

    async with _mock(handler) as http:
        await HttpTool(spec, ToolRuntimeConfig(base_url="http://settings"))({}, call_id="c", context=RunContext(http=http))
        await HttpTool(spec, ToolRuntimeConfig(base_url="http://settings"))(
            {}, call_id="c", context=RunContext(http=http, extra={"shop_base_url": "http://run/"})
        )
        missing = await HttpTool(spec, ToolRuntimeConfig())({}, call_id="c", context=RunContext(http=http))
    assert urls == ["http://settings/x", "http://run/x"]
    assert "SHOP_API_URL" in missing.content


def test_runtime_config_from_settings() -> None:
    from app.core.config import load_settings

    settings = load_settings(tool_timeout_s=3, tool_max_retries=0, tool_max_response_bytes=4096,
                             shop_api_url="http://shop", shop_api_token="t")
    assert ToolRuntimeConfig.from_settings(settings) == ToolRuntimeConfig(
        timeout_s=3, max_retries=0, max_response_bytes=4096, base_url="http://shop", api_token="t",
        egress=EgressPolicy.build(trusted_prefixes=["http://shop"]),
    )


async def test_refund_approver_rule_reads_the_order() -> None:
    registry = default_registry()
    spec = registry.spec("create_refund")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_shop_app())) as http:
        ctx = RunContext(http=http, extra={"shop_base_url": "http://shop"})

        async def approver(args: dict[str, Any]) -> str:
            return await resolve_approver(spec, args, registry=registry, context=ctx, call_id="c")

        assert await approver({"order_id": "1017"}) == "operator"  # total 129.90
        assert await approver({"order_id": "1005"}) == "customer"  # total 45.50
        assert await approver({"order_id": "1017", "amount": 20}) == "customer"  # the amount wins over the total
        assert await approver({"order_id": "1005", "amount": 150}) == "operator"
        assert await approver({"order_id": "1099"}) == "operator"  # cannot check: the stricter approver


def test_confirm_messages() -> None:
    registry = default_registry()
    assert confirm_message(registry.spec("cancel_order"), {"order_id": "1042"}) == "Cancel order 1042? This cannot be undone."
    assert confirm_message(registry.spec("update_shipping_address"), {"order_id": "1033"}).endswith("to ??")
    generic = ToolSpec(name="close_account", method="POST", path="/", description="", args_schema={})
    assert confirm_message(generic, {"account": "a1"}) == "Allow close account (account=a1)?"


async def test_registry_with_specs_adds_tools_without_touching_the_original() -> None:
    base = ToolRegistry.from_agents(load_agents())
    extra = ToolSpec(name="get_thing", method="GET", path="/t", description="", agent="faq",
                     args_schema={"type": "object", "properties": {}})
    bigger = base.with_specs([extra])

    assert "get_thing" in bigger.names and "get_thing" not in base.names
    assert [s.name for s in bigger.for_agent("faq")] == ["search_help_center", "get_thing"]
    assert [s.name for s in bigger.for_agent("billing")] == [s.name for s in base.for_agent("billing")]

    async def fake(args: dict[str, Any], *, call_id: str, context: Any) -> Any:
        from graphs.tools import ToolOutcome

        return ToolOutcome(True, "fake")

    swapped = ToolRegistry([extra], callables={"get_thing": fake})
    assert (await swapped.call("get_thing", {}, call_id="c")).content == "fake"
    assert not (await swapped.call("missing", {}, call_id="c")).ok


def test_registry_refuses_grants_of_unknown_tools() -> None:
    with pytest.raises(KeyError, match="unknown tool"):
        ToolRegistry([], grants={"faq": ["nope"]})
