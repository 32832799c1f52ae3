"""ToolSpec: one OpenAPI operation as a tool, as plain data.

`operations_from_openapi(document)` turns every operation of an OpenAPI 3.0/3.1
document into a `ToolSpec` (method, path, the JSON schema of its arguments built
from path/query/header parameters and the request body with `$ref`s resolved) by
way of `graphs.tools.openapi_parse`, the parser the app's OpenAPI import uses too.
`build_tool_specs(config, document)` keeps the operations that agents.yaml grants
and stamps each with its agent, risk and approver. `tool_spec(operation)` turns
one imported `Operation` into a ToolSpec; nothing here performs I/O except
`load_openapi`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from graphs.agents import AgentConfigError, AgentsConfig
from graphs.tools.openapi_parse import (
    HIDDEN_HEADERS,
    OpenAPIError,
    Operation,
    assign_operation_ids,
    read_operations,
)

__all__ = [
    "HIDDEN_HEADERS",
    "IDEMPOTENT_METHODS",
    "SHOP_CREDENTIALS",
    "OpenAPIError",
    "ToolCredentials",
    "ToolSpec",
    "build_tool_specs",
    "load_openapi",
    "operations_from_openapi",
    "tool_spec",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
SHOP_CREDENTIALS = "shop"
"""`ToolSpec.credentials` of the configured tools: the shop's token and the customer id, sent only
to the shop base URL (SHOP_API_URL or the demo shop the server mounts)."""
CREDENTIAL_ENV_PREFIX = "TOOL_SECRET_"
"""Per-spec secrets are read from environment variables named so, which keeps the server's own
secrets (AUTH_SECRET, DATABASE_URL, LLM_API_KEY, SHOP_API_TOKEN) out of any import's reach."""


@dataclass(frozen=True, kw_only=True)
class ToolCredentials:
    """How the tools of one imported spec authenticate. Only names are stored: the secret is read
    from the environment variable `env` at call time, so it never sits in the database."""

    env: str | None = None
    """Variable holding the secret (named TOOL_SECRET_*); None: no secret is sent."""
    header: str = "Authorization"
    scheme: str = "Bearer"
    """Put before the secret with a space; "" sends the secret alone (e.g. for X-Api-Key)."""
    customer_id_header: str | None = None
    """Send the run's customer id in this header (e.g. X-Customer-Id); None: the API is not told."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ToolCredentials | None:
        if not data:
            return None
        return cls(env=data.get("env"), header=data.get("header") or "Authorization",
                   scheme=data.get("scheme", "Bearer") or "", customer_id_header=data.get("customer_id_header"))

    def headers(self, user_id: str | None, environ: Mapping[str, str]) -> dict[str, str]:
        """The headers to send; KeyError(name) when the secret's variable is not set."""
        out: dict[str, str] = {}
        if self.env:
            secret = environ.get(self.env)
            if not secret:
                raise KeyError(self.env)
            out[self.header] = f"{self.scheme} {secret}" if self.scheme else secret
        if self.customer_id_header and user_id:
            out[self.customer_id_header] = str(user_id)
        return out


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
    credentials: ToolCredentials | str | None = SHOP_CREDENTIALS
    """SHOP_CREDENTIALS (the configured tools): the shop's token and customer id, only to the shop
    base URL; a ToolCredentials: an imported spec's own; None: nothing (an import's default)."""
    customer_editable: frozenset[str] = frozenset()
    """Identifying arguments a customer may still change when approving (agents.yaml `customer_may_edit`)."""
    kind: str = "openapi"
    """`openapi` (an HTTP call) or `knowledge` (the built-in knowledge-base search, see graphs.tools.knowledge)."""

    @property
    def operation_id(self) -> str:
        return self.name

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS

    @property
    def reads_only(self) -> bool:
        """A GET or HEAD: running it twice changes nothing."""
        return self.method.upper() in ("GET", "HEAD")

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
    """Every operation of the document as a ToolSpec with the default policy (low, no approver).

    Operations are read by `graphs.tools.openapi_parse` (the OpenAPI import's parser
    too): an operation without a usable operationId gets a made-up one, but an
    operationId used twice is an error, since agents.yaml grants tools by it.
    `base_url` overrides the servers; a relative server URL (like the demo shop's
    `/demo-shop`) leaves the base URL to be resolved per run.
    """
    operations, _ = read_operations(dict(document))
    seen: set[str] = set()
    for op in operations:
        if op.operation_id in seen:
            raise OpenAPIError(f"operationId {op.operation_id!r} is used twice ({op.path} {op.method})")
        if op.operation_id:
            seen.add(op.operation_id)
    assign_operation_ids(operations)
    return {op.operation_id: tool_spec(op, base_url=base_url) for op in operations}


def tool_spec(operation: Operation, *, base_url: str | None = None) -> ToolSpec:
    """An `Operation` as a ToolSpec (default policy); `base_url` overrides the operation's own."""
    if base_url is None:
        url = operation.base_url
        base_url = url if url.startswith(("http://", "https://")) else None
    schema = operation.args_schema
    args_schema = {
        "type": "object",
        "properties": schema.get("properties", {}),
        "required": list(schema.get("required", [])),
        "additionalProperties": False,
    }
    description = " ".join(p for p in (operation.summary, operation.description) if p)
    return ToolSpec(
        name=operation.operation_id,
        method=operation.method,
        path=operation.path,
        description=description or f"{operation.method} {operation.path}",
        args_schema=args_schema,
        arg_locations=dict(operation.arg_locations),
        body_arg=operation.body_arg,
        base_url=base_url,
    )


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
            if policy.kind == "knowledge":
                from graphs.tools.knowledge import knowledge_tool_spec

                specs.setdefault(policy.operation, replace(knowledge_tool_spec(policy.operation), risk=policy.risk,
                                                           approver=policy.approver, agent=agent.name))
                continue
            op = operations.get(policy.operation)
            if op is None:
                raise AgentConfigError(
                    f"{config.source}: agent {agent.name!r}: key `tools[{policy.operation}].operation`: "
                    f"no operation with that operationId in the OpenAPI document; known: {', '.join(sorted(operations))}"
                )
            if policy.operation not in specs:
                unknown = [a for a in policy.customer_may_edit if a not in op.args_schema["properties"]]
                if unknown:
                    raise AgentConfigError(
                        f"{config.source}: agent {agent.name!r}: key `tools[{policy.operation}].customer_may_edit`: "
                        f"{policy.operation} has no argument(s) {unknown}; it has {sorted(op.args_schema['properties'])}"
                    )
                specs[policy.operation] = replace(
                    op, risk=policy.risk, approver=policy.approver, agent=agent.name, confirm=policy.confirm,
                    customer_editable=frozenset(policy.customer_may_edit),
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
