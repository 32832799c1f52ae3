"""ToolSpec -> a real HTTP call: `HttpTool`, `ToolRuntimeConfig`, `ToolOutcome`.

An `HttpTool` validates the model's arguments against the spec's schema, places
them in the path, query, headers and JSON body, and calls the API with httpx. The
customer id (`X-Customer-Id`) comes from `RunContext.user_id`, never from the
model; `Idempotency-Key` is the tool call id, so a replayed call is applied once.

Where a call may go, and what it carries:

- a path argument is one path segment: empty, `.`, `..`, control characters and
  `/`, backslash, `?` and `#` are refused (`args_error`), so no argument can climb out of the path;
- the target is checked by `graphs.tools.egress` (the spec-fetch policy): no
  loopback, private, link-local or metadata address unless the admin trusted the
  host (TOOL_ALLOW_HOSTS, TOOL_ALLOW_PRIVATE) or it is under the shop base URL the
  server was configured or wired with; the connection goes to the checked address
  (Host and SNI keep the name) and redirects are never followed;
- credentials follow `ToolSpec.credentials`: the shop's bearer token and
  `X-Customer-Id` only to a URL under the shop base URL, an imported spec's own
  (named environment variable) to its own API, and nothing by default.
Idempotent methods (GET/HEAD/PUT/DELETE) are retried with exponential backoff on
transport errors and 502/503/504; POST and PATCH never are. Responses are read up to
`max_response_bytes`. Every failure (4xx/5xx, timeout, oversize, bad arguments)
becomes `ToolOutcome(ok=False, content=<one readable sentence>)` rather than an
exception, so the model can tell the customer what happened.
"""

from __future__ import annotations

import asyncio
import json
import os
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema

from graphs.tools.egress import EgressPolicy, EgressRefused, pinned, under_prefix
from graphs.tools.spec import SHOP_CREDENTIALS, ToolCredentials, ToolSpec

__all__ = ["HttpTool", "ToolOutcome", "ToolRuntimeConfig", "args_error", "path_arg_error", "schema_error"]

_RETRY_STATUSES = frozenset({502, 503, 504})
_PATH_BREAKERS = frozenset("/\\?#")


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
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    """Which addresses tool calls may reach (the shop base URL of a run is trusted on top)."""

    @classmethod
    def from_settings(cls, settings: Any) -> ToolRuntimeConfig:
        """From any object with the `app.core.config.Settings` tool fields (read by name)."""
        return cls(
            timeout_s=float(getattr(settings, "tool_timeout_s", cls.timeout_s)),
            max_retries=int(getattr(settings, "tool_max_retries", cls.max_retries)),
            max_response_bytes=int(getattr(settings, "tool_max_response_bytes", cls.max_response_bytes)),
            base_url=getattr(settings, "shop_api_url", None),
            api_token=getattr(settings, "shop_api_token", None),
            egress=EgressPolicy.build(
                allow_private=bool(getattr(settings, "tool_allow_private", False)),
                allow_hosts=getattr(settings, "tool_allow_hosts", None) or (),
                trusted_prefixes=[getattr(settings, "shop_api_url", None)],
            ),
        )


@dataclass(frozen=True)
class ToolOutcome:
    ok: bool
    content: str
    """What the model and the `tool_result` event see: the JSON body, or one sentence on failure."""
    status: int | None = None
    data: Any = None


def args_error(spec: ToolSpec, args: Any) -> str | None:
    """Why `args` do not fit the tool's schema or make a safe path, or None when they do."""
    return schema_error(spec.args_schema, args, spec.name) or path_arg_error(spec, args)


def path_arg_error(spec: ToolSpec, args: dict[str, Any]) -> str | None:
    """Why a path argument could change which resource the path names, or None.

    Each one fills exactly one segment: `.`, `..` or an empty value would climb or
    collapse the path, and `/ \\ ? #` or control characters would (once a server or
    proxy decodes them) start a new segment, query or fragment.
    """
    for name, value in args.items():
        if spec.arg_locations.get(name) != "path":
            continue
        text = str(value)
        if text in ("", ".", ".."):
            return (f"invalid arguments for {spec.name}: {name}: {text!r} is not allowed in a path parameter "
                    "(it would change the path); give the identifier itself")
        bad = next((ch for ch in text if ch in _PATH_BREAKERS or unicodedata.category(ch) == "Cc"), None)
        if bad is not None:
            return (f"invalid arguments for {spec.name}: {name}: the character {bad!r} is not allowed in a path "
                    "parameter (it would change the path); give the identifier itself")
    return None


_VALIDATORS: OrderedDict[int, tuple[dict[str, Any], jsonschema.Draft202012Validator]] = OrderedDict()


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """The schema's validator, built once per schema object (a tool's schema lives as long as its registry)."""
    key = id(schema)
    hit = _VALIDATORS.get(key)
    if hit is not None and hit[0] is schema:
        _VALIDATORS.move_to_end(key)
        return hit[1]
    validator = jsonschema.Draft202012Validator(schema)
    _VALIDATORS[key] = (schema, validator)  # the schema itself is kept, so its id is not reused meanwhile
    while len(_VALIDATORS) > 1024:
        _VALIDATORS.popitem(last=False)
    return validator


def schema_error(schema: dict[str, Any], args: Any, tool: str) -> str | None:
    """Why `args` do not fit `schema` (the JSON schema of `tool`'s arguments), or None."""
    if not isinstance(args, dict):
        return f"arguments for {tool} must be an object, got {type(args).__name__}"
    validator = _validator(schema)
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
        if spec.method not in ("GET", "HEAD"):
            headers["Idempotency-Key"] = call_id
        shop = self._shop_base(context)
        try:
            target = httpx.URL(url)
            headers.update(self._credential_headers(target, shop, context))
        except httpx.InvalidURL as exc:
            return ToolOutcome(False, f"{spec.name} was not called: {url!r} is not a valid URL ({exc})")
        except KeyError as missing:
            return ToolOutcome(
                False,
                f"{spec.name} was not called: its credential variable {missing.args[0]} is not set on the server; "
                "an admin must set it (or remove the spec's credentials)",
            )
        try:
            addresses = await self.config.egress.trusting(shop).addresses(target)
        except EgressRefused as exc:
            return ToolOutcome(
                False,
                f"{spec.name} was not called: {target.scheme}://{target.netloc.decode()} is refused because {exc}; "
                "tools may only reach public addresses unless an admin trusts the host (TOOL_ALLOW_HOSTS)",
            )
        client = getattr(context, "http", None)
        if client is not None:
            return await self._send_with_retries(client, target, addresses, params, headers, body)
        async with httpx.AsyncClient(timeout=self.config.timeout_s, trust_env=False) as own_client:
            return await self._send_with_retries(own_client, target, addresses, params, headers, body)

    def _base_url(self, context: Any) -> str | None:
        if self.spec.base_url:
            return self.spec.base_url
        return self._shop_base(context)

    def _shop_base(self, context: Any) -> str | None:
        extra = getattr(context, "extra", None) or {}
        return extra.get("shop_base_url") or self.config.base_url

    def _credential_headers(self, target: httpx.URL, shop: str | None, context: Any) -> dict[str, str]:
        """What authenticates this call: only what the spec's credentials allow, only where they belong."""
        creds = self.spec.credentials
        user_id = getattr(context, "user_id", None)
        if isinstance(creds, ToolCredentials):
            return creds.headers(user_id, os.environ)
        if creds != SHOP_CREDENTIALS or shop is None or not under_prefix(target, shop):
            return {}
        headers: dict[str, str] = {}
        if user_id:
            headers["X-Customer-Id"] = str(user_id)
        if self.config.api_token:
            headers["Authorization"] = f"Bearer {self.config.api_token}"
        return headers

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
        if (body is None and self.spec.method in ("POST", "PUT", "PATCH") and self.spec.body_arg is None
                and any(loc == "body" for loc in self.spec.arg_locations.values())):
            body = {}
        return base.rstrip("/") + path, params, headers, body

    async def _send_with_retries(
        self, client: httpx.AsyncClient, url: httpx.URL, addresses: list[str], params: dict[str, Any],
        headers: dict[str, str], body: Any,
    ) -> ToolOutcome:
        spec = self.spec
        attempts = 1 + (self.config.max_retries if spec.idempotent else 0)
        what = f"{spec.method} {spec.path}"
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                status, raw, location = await self._send(client, url, addresses, params, headers, body)
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
                if location is not None:
                    return ToolOutcome(
                        False,
                        f"{spec.name} was answered with a redirect (HTTP {status}) to {location}, which tools never "
                        "follow; the spec's base URL must name the API's final address",
                        status,
                    )
                if status not in _RETRY_STATUSES or last:
                    return self._outcome(status, raw)
            await asyncio.sleep(self.config.retry_backoff_s * (2**attempt))
        raise AssertionError("unreachable: the last attempt always returns")

    async def _send(
        self, client: httpx.AsyncClient, url: httpx.URL, addresses: list[str], params: dict[str, Any],
        headers: dict[str, str], body: Any,
    ) -> tuple[int, bytes, str | None]:
        """One attempt: to each checked address in turn until one connects (to the name when trusted)."""
        error: httpx.ConnectError | None = None
        candidates: list[str | None] = [*addresses[:4]] or [None]  # none: a trusted URL, by name
        for ip in candidates:
            target, host_headers, extensions = pinned(url, ip) if ip else (url, {}, {})
            request = client.build_request(
                self.spec.method, target, params=params, headers={**headers, **host_headers},
                json=body, timeout=self.config.timeout_s, extensions=extensions,
            )
            try:
                response = await client.send(request, stream=True, follow_redirects=False)
            except httpx.ConnectError as exc:
                error = exc
                continue
            try:
                return await self._read(response)
            finally:
                await response.aclose()
        assert error is not None
        raise error

    async def _read(self, response: httpx.Response) -> tuple[int, bytes, str | None]:
        if response.is_redirect:
            return response.status_code, b"", response.headers.get("location", "")
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.config.max_response_bytes:
            raise _TooLarge
        chunks = bytearray()
        async for chunk in response.aiter_bytes():
            chunks.extend(chunk)
            if len(chunks) > self.config.max_response_bytes:
                raise _TooLarge
        return response.status_code, bytes(chunks), None

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
