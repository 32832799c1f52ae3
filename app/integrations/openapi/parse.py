"""OpenAPI documents in, `Operation` records out: validation, `$ref`s, operations.

Owns everything between a loaded document (`load.py`) and the list of operations
an agent could call: `parse_spec(doc)` checks the document (OpenAPI 3.0 and 3.1;
Swagger 2.0 is converted by `swagger2.py`) and lists its operations through
`graphs.tools.openapi_parse`, the implementation the graph's tools use too: local
`$ref`s resolved (cycles cut, every inlined schema under a node budget), operation
ids made up where missing, one JSON-schema `args_schema` per operation from its
parameters and request body.

Only local references (`#/...`) are followed: resolving a remote `$ref` would be a
second, unchecked fetch, so such documents are refused with a hint to bundle them.
Webhooks and callbacks are requests the API makes to us, not tools, so they are
counted but not turned into operations.

Every problem raises `SpecError` (`load.py`) whose message says where in the
document it is, what is wrong and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.integrations.openapi.load import SpecError
from app.integrations.openapi.swagger2 import convert_swagger2
from graphs.tools.openapi_parse import (
    HIDDEN_HEADERS,
    HTTP_METHODS,
    OpenAPIError,
    Operation,
    assign_operation_ids,
    canonical_hash,
    pointer,
    read_operations,
    server_url,
    slugify,
)

__all__ = [
    "HIDDEN_HEADERS",
    "HTTP_METHODS",
    "Operation",
    "ParsedSpec",
    "canonical_hash",
    "parse_spec",
    "slugify",
]

MAX_ERRORS_SHOWN = 8


@dataclass
class ParsedSpec:
    title: str
    version: str
    """The API's own version (`info.version`)."""
    openapi_version: str
    """The document's format, e.g. `3.0.4`, or `2.0` when converted from Swagger."""
    description: str
    base_url: str
    operations: list[Operation]
    document: dict[str, Any]
    """The document as imported (Swagger 2.0: after conversion)."""
    notes: list[str] = field(default_factory=list)
    webhook_count: int = 0
    callback_count: int = 0


def _detect_version(doc: dict[str, Any]) -> tuple[str, str]:
    """("3.0" | "3.1" | "2.0", the exact version string), or SpecError."""
    if "openapi" in doc:
        version = str(doc["openapi"]).strip()
        for major in ("3.0", "3.1"):
            if version == major or version.startswith(major + "."):
                return major, version
        raise SpecError(
            f"unsupported OpenAPI version {version!r}: this server imports OpenAPI 3.0 and 3.1 "
            "(and converts Swagger 2.0); convert the document first"
        )
    if "swagger" in doc:
        version = str(doc["swagger"]).strip()
        if version in ("2.0", "2"):
            return "2.0", "2.0"
        raise SpecError(
            f"unsupported Swagger version {version!r}: only Swagger 2.0 is converted; use OpenAPI 3"
        )
    raise SpecError(
        "not an OpenAPI document: the top level has no 'openapi' field (for example `openapi: 3.0.3`); "
        f"found keys: {', '.join(sorted(map(str, doc))[:8]) or 'none'}"
    )


def _validate(doc: dict[str, Any], major: str) -> None:
    problems: list[str] = []
    info = doc.get("info")
    if not isinstance(info, dict):
        problems.append("/info: missing; it needs at least `title` and `version`")
    else:
        if not isinstance(info.get("title"), str) or not info["title"].strip():
            problems.append("/info/title: missing or not a string")
        if not isinstance(info.get("version"), (str, int, float)):
            problems.append("/info/version: missing or not a string")
    paths = doc.get("paths")
    if major == "3.0" and paths is None:
        problems.append("/paths: missing (OpenAPI 3.0 requires it; use `paths: {}` for none)")
    if major == "3.1" and paths is None and not doc.get("webhooks") and not doc.get("components"):
        problems.append("/: an OpenAPI 3.1 document needs `paths`, `webhooks` or `components`")
    if paths is not None and not isinstance(paths, dict):
        problems.append(
            f"/paths: must be a mapping of path -> operations, got {type(paths).__name__}"
        )
    elif isinstance(paths, dict):
        for path, item in paths.items():
            where = pointer("paths", path)
            if not isinstance(path, str) or not path.startswith("/"):
                problems.append(f"{where}: a path must start with '/'")
            if not isinstance(item, dict):
                problems.append(f"{where}: must be a mapping of method -> operation")
                continue
            for method, op in item.items():
                if method in HTTP_METHODS and not isinstance(op, dict):
                    problems.append(f"{where}/{method}: must be an operation object")
    servers = doc.get("servers")
    if servers is not None and not isinstance(servers, list):
        problems.append("/servers: must be a list")
    if problems:
        shown = "; ".join(problems[:MAX_ERRORS_SHOWN])
        more = (
            f" (and {len(problems) - MAX_ERRORS_SHOWN} more)"
            if len(problems) > MAX_ERRORS_SHOWN
            else ""
        )
        raise SpecError(f"invalid OpenAPI document: {shown}{more}")


def parse_spec(doc: Any, *, source_url: str | None = None) -> ParsedSpec:
    """Validate a loaded document and list its operations with resolved argument schemas."""
    if not isinstance(doc, dict):
        raise SpecError(
            f"not an OpenAPI document: expected a mapping at the top level (with `openapi: 3.x`), "
            f"got {type(doc).__name__}"
        )
    major, exact = _detect_version(doc)
    notes: list[str] = []
    if major == "2.0":
        doc, notes = convert_swagger2(doc)
        major, exact = "3.0", "2.0"
    _validate(doc, major)
    info = doc["info"]
    base_url = server_url(doc.get("servers"), source_url)
    try:
        operations, callbacks = read_operations(doc, source_url=source_url)
    except OpenAPIError as exc:
        raise SpecError(str(exc)) from None
    assign_operation_ids(operations)
    webhooks = len(doc.get("webhooks") or {}) if isinstance(doc.get("webhooks"), dict) else 0
    if webhooks:
        notes.append(
            f"{webhooks} webhook(s) describe requests the API sends; they are not agent tools"
        )
    if callbacks:
        notes.append(
            f"{callbacks} callback(s) describe requests the API sends; they are not agent tools"
        )
    if not base_url:
        notes.append(
            "the document names no server URL; set `base_url` when importing so tools know where to call"
        )
    return ParsedSpec(
        title=str(info["title"]).strip(),
        version=str(info["version"]),
        openapi_version=exact,
        description=str(info.get("description") or "").strip(),
        base_url=base_url,
        operations=operations,
        document=doc,
        notes=notes,
        webhook_count=webhooks,
        callback_count=callbacks,
    )
