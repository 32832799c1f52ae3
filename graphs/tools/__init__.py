"""Tools generated from OpenAPI operations: specs, the HTTP caller, the registry, approval policy."""

from graphs.tools.openapi import HttpTool, ToolOutcome, ToolRuntimeConfig
from graphs.tools.policy import confirm_message, resolve_approver
from graphs.tools.registry import RegisteredTool, ToolRegistry, default_registry, validate_tool_args
from graphs.tools.spec import (
    OpenAPIError,
    ToolSpec,
    build_tool_specs,
    load_openapi,
    operations_from_openapi,
)

__all__ = [
    "HttpTool",
    "OpenAPIError",
    "RegisteredTool",
    "ToolOutcome",
    "ToolRegistry",
    "ToolRuntimeConfig",
    "ToolSpec",
    "build_tool_specs",
    "confirm_message",
    "default_registry",
    "load_openapi",
    "operations_from_openapi",
    "resolve_approver",
    "validate_tool_args",
]
