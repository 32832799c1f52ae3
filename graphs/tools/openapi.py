"""ToolSpec -> a real HTTP call: `HttpTool`, `ToolRuntimeConfig`, `ToolOutcome`.

An `HttpTool` validates the model's arguments against the spec's schema, places
them in the path, query, headers and JSON body, and calls the API with httpx. The
customer id (`X-Customer-Id`) comes from `RunContext.user_id`, never from the
model; `Idempotency-Key` is the tool call id, so a replayed call is applied once.
Idempotent methods (GET/HEAD/PUT/DELETE) are retried with exponential backoff on
transport errors and 502/503/504; POST and PATCH never are. Responses are read up to
`max_response_bytes`. Every failure (4xx/5xx, timeout, oversize, bad arguments)
becomes `ToolOutcome(ok=False, content=<one readable sentence>)` rather than an
exception, so the model can tell the customer what happened.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema

from graphs.tools.spec import ToolSpec

__all__ = ["HttpTool", "ToolOutcome", "ToolRuntimeConfig", "args_error", "schema_error"]

_RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True, kw_only=True)
class ToolRuntimeConfig:
    """How tools reach their API. Build it from the server settings with `from_settings`."""

    timeout_s: float = 10.0
    max_retries: int = 2
    max_response_bytes: int = 256 * 1024
    base_url: str | None = None
    """Fallback base URL (SHOP_API_URL) when neither the spec nor the run gives one."""
    api_token: str | None = None
    """Sent as `Authorization: Bearer` (SHOP_API_TOKEN)."""
    retry_backoff_s: float = 0.2
    """First retry waits this long, then twice as long each time."""

    @classmethod
    def from_settings(cls, settings: Any) -> ToolRuntimeConfig:
        """From any object with the `app.core.config.Settings` tool fields (read by name)."""
        return cls(
            timeout_s=float(getattr(settings, "tool_timeout_s", cls.timeout_s)),
            max_retries=int(getattr(settings, "tool_max_retries", cls.max_retries)),
            max_response_bytes=int(getattr(settings, "tool_max_response_bytes", cls.max_response_bytes)),
            base_url=getattr(settings, "shop_api_url", None),
            api_token=getattr(settings, "shop_api_token", None),
        )


@dataclass(frozen=True)
class ToolOutcome:
    ok: bool
    content: str
    """What the model and the `tool_result` event see: the JSON body, or one sentence on failure."""
    status: int | None = None
    data: Any = None


def args_error(spec: ToolSpec, args: Any) -> str | None:
    """Why `args` do not fit the tool's schema, or None when they do."""
    return schema_error(spec.args_schema, args, spec.name)


def schema_error(schema: dict[str, Any], args: Any, tool: str) -> str | None:
    """Why `args` do not fit `schema` (the JSON schema of `tool`'s arguments), or None."""
    if not isinstance(args, dict):
        return f"arguments for {tool} must be an object, got {type(args).__name__}"
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(args), key=lambda e: list(e.path))
    if not errors:
        return None
    first = errors[0]
    where = ".".join(str(p) for p in first.path) or "arguments"
    return f"invalid arguments for {tool}: {where}: {first.message}"


class HttpTool:
    """Calls one OpenAPI operation. `await tool(args, call_id=..., context=...)` -> ToolOutcome."""

    def __init__(self, spec: ToolSpec, config: ToolRuntimeConfig) -> None:
        self.spec = spec
        self.config = config

    async def __call__(self, args: dict[str, Any], *, call_id: str, context: Any = None) -> ToolOutcome:
        spec = self.spec
        problem = args_error(spec, args)
        if problem:
            return ToolOutcome(False, problem)
        base = self._base_url(context)
        if base is None:
            return ToolOutcome(
                False,
                f"{spec.name} has no API base URL: set SHOP_API_URL or RunContext.extra['shop_base_url']",
            )
        url, params, headers, body = self._request_parts(base, args)
        headers["Accept"] = "application/json"
        user_id = getattr(context, "user_id", None)
        if user_id:
            headers["X-Customer-Id"] = str(user_id)
        if spec.method not in ("GET", "HEAD"):
            headers["Idempotency-Key"] = call_id
        if self.config.api_token:
            headers["Authorization"] = f"Bearer {self.config.api_token}"

        client = getattr(context, "http", None)
        if client is not None:
            return await self._send_with_retries(client, url, params, headers, body)
        async with httpx.AsyncClient(timeout=self.config.timeout_s) as own_client:
            return await self._send_with_retries(own_client, url, params, headers, body)

    def _base_url(self, context: Any) -> str | None:
        if self.spec.base_url:
            return self.spec.base_url
        extra = getattr(context, "extra", None) or {}
        return extra.get("shop_base_url") or self.config.base_url

    def _request_parts(self, base: str, args: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, str], Any]:
        path = self.spec.path
        params: dict[str, Any] = {}
        headers: dict[str, str] = {}
        body: Any = None
        for name, value in args.items():
            where = self.spec.arg_locations.get(name, "body")
            if where == "path":
                path = path.replace("{" + name + "}", quote(str(value), safe=""))
            elif where == "query":
                params[name] = json.dumps(value) if isinstance(value, (dict, list)) else value
            elif where == "header":
                headers[name] = str(value)
            elif self.spec.body_arg is not None:
                body = value
            else:
                body = {**(body or {}), name: value}
        if body is None and self.spec.method in ("POST", "PUT", "PATCH") and self.spec.body_arg is None:
            if any(loc == "body" for loc in self.spec.arg_locations.values()):
                body = {}
        return base.rstrip("/") + path, params, headers, body

    async def _send_with_retries(
        self, client: httpx.AsyncClient, url: str, params: dict[str, Any], headers: dict[str, str], body: Any
    ) -> ToolOutcome:
        spec = self.spec
        attempts = 1 + (self.config.max_retries if spec.idempotent else 0)
        what = f"{spec.method} {spec.path}"
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                status, raw = await self._send(client, url, params, headers, body)
            except _TooLarge:
                return ToolOutcome(
                    False, f"the response of {spec.name} was larger than {self.config.max_response_bytes} bytes"
                )
            except httpx.TimeoutException:
                if last:
                    return ToolOutcome(
                        False, f"{spec.name} timed out after {self.config.timeout_s:g}s ({what}); the service is slow or down"
                    )
            except httpx.TransportError as exc:
                if last:
                    return ToolOutcome(False, f"{spec.name} could not reach the service ({what}): {exc.__class__.__name__}")
            else:
                if status not in _RETRY_STATUSES or last:
                    return self._outcome(status, raw)
            await asyncio.sleep(self.config.retry_backoff_s * (2**attempt))
        raise AssertionError("unreachable: the last attempt always returns")

    async def _send(
        self, client: httpx.AsyncClient, url: str, params: dict[str, Any], headers: dict[str, str], body: Any
    ) -> tuple[int, bytes]:
        kwargs: dict[str, Any] = {"params": params, "headers": headers, "timeout": self.config.timeout_s}
        if body is not None:
            kwargs["json"] = body
        async with client.stream(self.spec.method, url, **kwargs) as response:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.config.max_response_bytes:
                raise _TooLarge
            chunks = bytearray()
            async for chunk in response.aiter_bytes():
                chunks.extend(chunk)
                if len(chunks) > self.config.max_response_bytes:
                    raise _TooLarge
            return response.status_code, bytes(chunks)

    def _outcome(self, status: int, raw: bytes) -> ToolOutcome:
        text = raw.decode("utf-8", errors="replace")
        try:
            data: Any = json.loads(text) if text else None
        except ValueError:
            data = None
        if 200 <= status < 300:
            content = json.dumps(data, ensure_ascii=False, separators=(",", ":")) if data is not None else text
            return ToolOutcome(True, content or "done", status, data)
        detail = data.get("detail") if isinstance(data, dict) else None
        if isinstance(detail, str) and detail:
            return ToolOutcome(False, detail, status, data)
        snippet = " ".join(text.split())[:200] or "no details"
        return ToolOutcome(False, f"{self.spec.name} failed with HTTP {status}: {snippet}", status, data)


class _TooLarge(Exception):
    pass
