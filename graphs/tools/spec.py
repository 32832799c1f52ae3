"""ToolSpec: one OpenAPI operation as a tool, as plain data.

`operations_from_openapi(document)` turns every operation of an OpenAPI 3.0/3.1
document into a `ToolSpec` (method, path, the JSON schema of its arguments built
from path/query/header parameters and the request body with `$ref`s resolved).
`build_tool_specs(config, document)` keeps the operations that agents.yaml grants
and stamps each with its agent, risk and approver. The app's OpenAPI import can
produce ToolSpecs the same way; nothing here performs I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from graphs.agents import AgentConfigError, AgentsConfig

__all__ = [
    "HIDDEN_HEADERS",
    "IDEMPOTENT_METHODS",
    "OpenAPIError",
    "ToolSpec",
    "build_tool_specs",
    "load_openapi",
    "operations_from_openapi",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
HIDDEN_HEADERS = frozenset({"x-customer-id", "idempotency-key", "authorization"})
"""Headers the server sets itself; they never become model arguments."""
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class OpenAPIError(ValueError):
    """An OpenAPI document cannot be turned into tools; the message names the operation and the key."""


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """Everything needed to offer an operation to a model and to call it."""

    name: str
    """Tool name as the model sees it: the operationId."""
    method: str
    path: str
    description: str
    args_schema: dict[str, Any]
    """JSON schema (type object) of the model's arguments."""
    arg_locations: Mapping[str, str] = field(default_factory=dict)
    """argument -> "path" | "query" | "header" | "body"."""
    body_arg: str | None = None
    """When the request body is not an object, the argument that carries it whole."""
    base_url: str | None = None
    """Absolute server URL; None: resolved per run (RunContext.extra["shop_base_url"] or the configured shop URL)."""
    risk: str = "low"
    approver: str | dict[str, Any] = "none"
    agent: str | None = None
    confirm: str | None = None
    """Question for the approver with {arg} placeholders; None: a generic one."""

    @property
    def operation_id(self) -> str:
        return self.name

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS

    def as_openai_tool(self) -> dict[str, Any]:
        """The definition handed to `model.bind_tools`."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.args_schema},
        }


def load_openapi(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise OpenAPIError(f"{path}: cannot read the OpenAPI document: {exc}") from None
    if not isinstance(document, dict) or "paths" not in document:
        raise OpenAPIError(f"{path}: not an OpenAPI document (no `paths` at the top)")
    return document


def operations_from_openapi(document: Mapping[str, Any], *, base_url: str | None = None) -> dict[str, ToolSpec]:
    """Every operation with an operationId, as a ToolSpec with the default policy (low, no approver).

    `base_url` overrides the document's first server; a relative server URL (like the
    demo shop's `/demo-shop`) leaves the base URL to be resolved per run.
    """
    if base_url is None:
        servers = document.get("servers") or []
        url = servers[0].get("url") if servers and isinstance(servers[0], Mapping) else None
        base_url = url if isinstance(url, str) and url.startswith(("http://", "https://")) else None
    specs: dict[str, ToolSpec] = {}
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, Mapping):
            continue
        item = _resolve(item, document)
        shared_params = item.get("parameters", [])
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, Mapping) or not operation.get("operationId"):
                continue
            spec = _operation_spec(document, path, method.upper(), operation, shared_params, base_url)
            if spec.name in specs:
                raise OpenAPIError(f"operationId {spec.name!r} is used twice ({path} {method.upper()})")
            specs[spec.name] = spec
    return specs


def build_tool_specs(config: AgentsConfig, document: Mapping[str, Any] | None = None, *, base_url: str | None = None) -> list[ToolSpec]:
    """The operations agents.yaml grants, with their agent, risk, approver and confirm text."""
    if document is None:
        if config.openapi_path is None:
            raise AgentConfigError(f"{config.source}: key `openapi` is not set and no OpenAPI document was given")
        document = load_openapi(config.openapi_path)
    operations = operations_from_openapi(document, base_url=base_url)
    specs: dict[str, ToolSpec] = {}
    for agent in config.agents:
        for policy in agent.tools:
            op = operations.get(policy.operation)
            if op is None:
                raise AgentConfigError(
                    f"{config.source}: agent {agent.name!r}: key `tools[{policy.operation}].operation`: "
                    f"no operation with that operationId in the OpenAPI document; known: {', '.join(sorted(operations))}"
                )
            if policy.operation not in specs:
                specs[policy.operation] = replace(
                    op, risk=policy.risk, approver=policy.approver, agent=agent.name, confirm=policy.confirm
                )
            _check_rule(config, agent.name, specs[policy.operation], operations)
    return list(specs.values())


def _check_rule(config: AgentsConfig, agent: str, spec: ToolSpec, operations: Mapping[str, ToolSpec]) -> None:
    if not isinstance(spec.approver, Mapping):
        return
    cond = spec.approver["operator_if"]
    where = f"{config.source}: agent {agent!r}: key `tools[{spec.name}].approver.operator_if"
    if "amount_arg" in cond and cond["amount_arg"] not in spec.args_schema["properties"]:
        raise AgentConfigError(f"{where}.amount_arg`: {spec.name} has no argument {cond['amount_arg']!r}")
    lookup = cond.get("lookup")
    if lookup is None:
        return
    target = operations.get(lookup["operation"])
    if target is None or target.method != "GET":
        raise AgentConfigError(f"{where}.lookup.operation`: {lookup['operation']!r} must be a GET operation of the document")
    for param, arg in (lookup.get("args") or {}).items():
        if param not in target.args_schema["properties"]:
            raise AgentConfigError(f"{where}.lookup.args`: {target.name} has no parameter {param!r}")
        if arg not in spec.args_schema["properties"]:
            raise AgentConfigError(f"{where}.lookup.args`: {spec.name} has no argument {arg!r}")


def _operation_spec(
    document: Mapping[str, Any],
    path: str,
    method: str,
    operation: Mapping[str, Any],
    shared_params: Iterable[Any],
    base_url: str | None,
) -> ToolSpec:
    name = str(operation["operationId"])
    properties: dict[str, Any] = {}
    required: list[str] = []
    locations: dict[str, str] = {}
    params: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*shared_params, *operation.get("parameters", [])]:
        param = _resolve(raw, document)
        params[(param.get("name"), param.get("in"))] = param  # operation-level wins
    for (pname, location), param in params.items():
        if location == "cookie" or (location == "header" and str(pname).lower() in HIDDEN_HEADERS):
            continue
        schema = _inline(param.get("schema", {"type": "string"}), document)
        if param.get("description") and "description" not in schema:
            schema["description"] = param["description"]
        properties[pname] = schema
        locations[pname] = location
        if param.get("required") or location == "path":
            required.append(pname)

    body_arg = None
    body = operation.get("requestBody")
    if body:
        body = _resolve(body, document)
        content = body.get("content", {})
        media = content.get("application/json") or next(iter(content.values()), {})
        schema = _inline(media.get("schema", {}), document)
        if schema.get("type") == "object" or "properties" in schema:
            for prop, prop_schema in schema.get("properties", {}).items():
                if prop in properties:
                    raise OpenAPIError(f"operation {name!r}: body property {prop!r} clashes with a parameter of the same name")
                properties[prop] = prop_schema
                locations[prop] = "body"
            if body.get("required"):
                required.extend(r for r in schema.get("required", []) if r not in required)
        elif schema:
            body_arg = "body"
            properties["body"] = schema
            locations["body"] = "body"
            if body.get("required"):
                required.append("body")

    description = " ".join(
        p.strip() for p in (operation.get("summary"), operation.get("description")) if isinstance(p, str) and p.strip()
    ) or f"{method} {path}"
    args_schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return ToolSpec(
        name=name,
        method=method,
        path=path,
        description=description,
        args_schema=args_schema,
        arg_locations=locations,
        body_arg=body_arg,
        base_url=base_url,
    )


def _resolve(node: Any, document: Mapping[str, Any]) -> Any:
    """Follow a top-level `$ref` (local refs only)."""
    seen = set()
    while isinstance(node, Mapping) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise OpenAPIError(f"$ref cycle at {ref!r}")
        seen.add(ref)
        node = _pointer(ref, document)
    return node


def _pointer(ref: str, document: Mapping[str, Any]) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise OpenAPIError(f"$ref {ref!r} is not a local reference (#/...); external references are not supported")
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise OpenAPIError(f"$ref {ref!r} points at nothing")
        node = node[part]
    return node


def _inline(schema: Any, document: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    """A deep copy of `schema` with every `$ref` replaced by its target and 3.0 `nullable` made 3.1 style."""
    if depth > 32:
        raise OpenAPIError("schema nests deeper than 32 levels (a recursive $ref?); tools need a finite schema")
    if isinstance(schema, Mapping):
        if "$ref" in schema:
            target = _inline(_pointer(schema["$ref"], document), document, depth + 1)
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            return {**target, **_inline(extra, document, depth + 1)} if extra else target
        out = {k: _inline(v, document, depth + 1) for k, v in schema.items()}
        if out.pop("nullable", False) and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        for key in ("readOnly", "writeOnly", "xml", "example", "externalDocs"):
            out.pop(key, None)
        return out
    if isinstance(schema, list):
        return [_inline(v, document, depth + 1) for v in schema]  # type: ignore[return-value]
    return copy.deepcopy(schema)
