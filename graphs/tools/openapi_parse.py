"""OpenAPI operations -> `Operation` records with `$ref`s resolved and argument schemas built.

The one implementation shared by the graph's tools (`graphs.tools.spec` turns each
`Operation` into a `ToolSpec`) and the app's OpenAPI import (`app.integrations.openapi.parse`
adds safe loading, validation, Swagger 2.0 conversion and the import records).

- `Resolver` follows local `$ref`s (`#/...`; remote ones are refused) and inlines
  schemas with cycles cut, not followed, and a node budget per schema, so neither a
  cycle nor an exponential chain of references can blow up.
- `read_operations(doc)` lists every operation of the document's `paths` with one
  JSON-schema `args_schema` built from its parameters and request body; headers the
  HTTP layer or the server sets never become arguments.
- `assign_operation_ids` makes every id a unique, tool-safe name (made up when missing).

Nothing here validates the document as a whole or performs I/O. Every problem raises
`OpenAPIError` (a `ValueError`) whose message says where in the document it is.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin

__all__ = [
    "HIDDEN_HEADERS",
    "HTTP_METHODS",
    "OpenAPIError",
    "Operation",
    "Resolver",
    "assign_operation_ids",
    "build_operation",
    "canonical_hash",
    "pointer",
    "read_operations",
    "server_url",
    "slugify",
]

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
PARAM_LOCATIONS = ("query", "header", "path", "cookie")
MAX_SCHEMA_DEPTH = 32  # nesting of one inlined argument schema
MAX_SCHEMA_NODES = 5_000  # nodes of one inlined argument schema
MAX_REF_HOPS = 50  # $ref -> $ref -> ... chains before we call it a loop
# A tool name every model provider accepts.
OPERATION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Headers the HTTP layer or the server sets; a model must never fill them in.
HIDDEN_HEADERS = frozenset(
    {
        "authorization",
        "content-type",
        "accept",
        "content-length",
        "host",
        "cookie",
        "x-customer-id",
        "idempotency-key",
    }
)


class OpenAPIError(ValueError):
    """An OpenAPI document cannot be turned into operations; the message names where and why."""


@dataclass
class Operation:
    """One callable operation of an imported spec, with its `$ref`s resolved."""

    operation_id: str
    method: str  # upper case
    path: str
    summary: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    parameters: list[dict[str, Any]] = field(default_factory=list)
    """`{"name", "in", "required", "description", "deprecated"}`; the argument has the same name."""
    body: dict[str, Any] | None = None
    """`{"content_type", "required", "description", "arg"}`; `arg` is `body_arg`."""
    args_schema: dict[str, Any] = field(default_factory=dict)
    arg_locations: dict[str, str] = field(default_factory=dict)
    """argument -> "path" | "query" | "header" | "body" (the `ToolSpec` convention)."""
    body_arg: str | None = None
    """When the body is not an object of its own arguments, the argument that carries it whole."""
    base_url: str = ""
    deprecated: bool = False
    security: list[Any] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)
    """The operation's `x-` keys (path-item ones merged under them)."""
    original_operation_id: str | None = None
    notes: list[str] = field(default_factory=list)

    def definition(self) -> dict[str, Any]:
        """What the operation *is*: its change hash covers exactly this."""
        return {
            "method": self.method,
            "path": self.path,
            "summary": self.summary,
            "description": self.description,
            "tags": self.tags,
            "parameters": self.parameters,
            "body": self.body,
            "args_schema": self.args_schema,
            "arg_locations": self.arg_locations,
            "body_arg": self.body_arg,
            "base_url": self.base_url,
            "deprecated": self.deprecated,
            "security": self.security,
            "extensions": self.extensions,
        }

    @property
    def change_hash(self) -> str:
        return canonical_hash(self.definition())


def canonical_hash(value: Any) -> str:
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def slugify(text: str, *, sep: str = "_", max_len: int = 64, split_camel: bool = True) -> str:
    """`"/pets/{id}/Photos"` -> `"pets_id_photos"`; camelCase is split first unless told not to."""
    if split_camel:
        text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    slug = re.sub(r"[^a-z0-9]+", sep, text.lower()).strip(sep)
    return slug[:max_len].strip(sep)


# --------------------------------------------------------------------------- references


def _pointer_unescape(token: str) -> str:
    return unquote(token).replace("~1", "/").replace("~0", "~")


def pointer(*parts: Any) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class Resolver:
    """Local `$ref` lookups over one document, with cycle-safe schema inlining."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def lookup(self, ref: str, where: str) -> Any:
        if not ref.startswith("#"):
            raise OpenAPIError(
                f"{where}: the $ref {ref!r} points outside this document; only local references (#/...) are "
                "followed, so fetching a spec never makes further requests. Bundle the spec into one file "
                "first (for example `npx @redocly/cli bundle`)"
            )
        target: Any = self.doc
        for token in [t for t in ref[1:].split("/") if t != ""]:
            key = _pointer_unescape(token)
            if isinstance(target, dict) and key in target:
                target = target[key]
            elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
                target = target[int(key)]
            else:
                raise OpenAPIError(
                    f"{where}: the $ref {ref!r} points at nothing in this document; fix the reference"
                )
        return target

    def deref(self, value: Any, where: str) -> Any:
        """Follow a chain of `$ref`s to a non-reference object (parameters, bodies, path items)."""
        seen: list[str] = []
        while isinstance(value, dict) and isinstance(value.get("$ref"), str):
            ref = value["$ref"]
            if ref in seen or len(seen) >= MAX_REF_HOPS:
                raise OpenAPIError(
                    f"{where}: the $ref chain {' -> '.join([*seen, ref])} never reaches an object"
                )
            seen.append(ref)
            value = self.lookup(ref, where)
        return value

    def schema(self, value: Any, where: str, *, budget: list[int] | None = None) -> Any:
        """A self-contained copy of a schema: references inlined, cycles cut, size capped."""
        return self._inline(
            value, where, refs=(), depth=0, budget=budget or [MAX_SCHEMA_NODES], props=False
        )

    def _inline(
        self,
        value: Any,
        where: str,
        *,
        refs: tuple[str, ...],
        depth: int,
        budget: list[int],
        props: bool,
    ) -> Any:
        if not isinstance(value, (dict, list)):
            return value
        budget[0] -= 1
        if budget[0] < 0:
            return {"description": "(schema truncated: too large to inline)"}
        if depth > MAX_SCHEMA_DEPTH:
            return {"description": "(schema truncated: nested too deeply)"}
        if isinstance(value, list):
            return [
                self._inline(v, where, refs=refs, depth=depth + 1, budget=budget, props=False)
                for v in value
            ]
        if props:  # the keys of `properties` are names, every value is a schema
            return {
                k: self._inline(v, where, refs=refs, depth=depth + 1, budget=budget, props=False)
                for k, v in value.items()
            }
        ref = value.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if ref in refs:
                # A recursive type (a tree, a linked list): one level is shown, deeper levels are left open.
                return {
                    "type": "object",
                    "description": f"(a nested {name}; recursive reference not expanded)",
                }
            target = self.lookup(ref, where)
            resolved = self._inline(
                target, where, refs=(*refs, ref), depth=depth + 1, budget=budget, props=False
            )
            siblings = {k: v for k, v in value.items() if k != "$ref"}
            if siblings and isinstance(resolved, dict):
                extra = self._inline(
                    siblings, where, refs=refs, depth=depth + 1, budget=budget, props=False
                )
                resolved = {**resolved, **extra}
            return resolved
        out: dict[str, Any] = {}
        for key, sub in value.items():
            if key in ("xml", "externalDocs", "example", "examples") or key.startswith("x-"):
                continue
            if key == "nullable":
                continue  # folded into `type` below
            is_props = key in (
                "properties",
                "patternProperties",
                "$defs",
                "definitions",
                "dependentSchemas",
            )
            out[key] = self._inline(
                sub, where, refs=refs, depth=depth + 1, budget=budget, props=is_props
            )
        if value.get("nullable") is True:  # 3.0 -> JSON Schema
            kind = out.get("type")
            if isinstance(kind, str):
                out["type"] = [kind, "null"]
        return out


# --------------------------------------------------------------------------- operations


def server_url(servers: Any, source_url: str | None) -> str:
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        return (source_url and urljoin(source_url, "/")) or ""
    server = servers[0]
    url = str(server.get("url") or "")
    for name, var in (server.get("variables") or {}).items():
        if isinstance(var, dict) and "default" in var:
            url = url.replace("{" + str(name) + "}", str(var["default"]))
    if source_url and not re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE):
        url = urljoin(
            source_url, url
        )  # a relative server URL is relative to where the spec came from
    return url.rstrip("/")


def build_operation(
    resolver: Resolver,
    *,
    path: str,
    method: str,
    op: dict[str, Any],
    item: dict[str, Any],
    base_url: str,
    global_security: list[Any],
) -> Operation:
    where = pointer("paths", path, method)
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for i, raw in enumerate([*(item.get("parameters") or []), *(op.get("parameters") or [])]):
        p = resolver.deref(raw, f"{where}/parameters/{i}")
        if (
            not isinstance(p, dict)
            or not isinstance(p.get("name"), str)
            or p.get("in") not in PARAM_LOCATIONS
        ):
            raise OpenAPIError(
                f"{where}/parameters/{i}: a parameter needs a string `name` and `in` one of {', '.join(PARAM_LOCATIONS)}"
            )
        merged[(p["in"], p["name"])] = p  # operation-level parameters override path-level ones
    notes: list[str] = []
    declared = {name for (loc, name) in merged if loc == "path"}
    for name in re.findall(r"\{([^}/]+)\}", path):
        if name not in declared:
            merged[("path", name)] = {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
            }
            notes.append(f"path parameter {name!r} is not declared; assumed a required string")

    # Arguments are named exactly like the HTTP parameters and body properties, because
    # graphs.tools.openapi.HttpTool places each argument by its name.
    properties: dict[str, Any] = {}
    required: list[str] = []
    parameters: list[dict[str, Any]] = []
    locations: dict[str, str] = {}
    for (loc, name), p in merged.items():
        if loc == "cookie" or (loc == "header" and name.lower() in HIDDEN_HEADERS):
            continue  # set by the HTTP layer or the server, never by the model
        if name in properties:
            notes.append(
                f"{loc} parameter {name!r} has the name of another parameter; left out of the arguments"
            )
            continue
        schema_src = p.get("schema")
        if schema_src is None and isinstance(p.get("content"), dict) and p["content"]:
            first: Any = next(iter(p["content"].values()), {})
            schema_src = first.get("schema") if isinstance(first, dict) else None
        schema = resolver.schema(
            schema_src if schema_src is not None else {"type": "string"}, where
        )
        if not isinstance(schema, dict):
            schema = {}
        if p.get("description") and "description" not in schema:
            schema = {**schema, "description": str(p["description"])}
        is_required = bool(p.get("required")) or loc == "path"
        properties[name] = schema
        locations[name] = loc
        if is_required:
            required.append(name)
        parameters.append(
            {
                "name": name,
                "in": loc,
                "required": is_required,
                "description": str(p.get("description") or ""),
                "deprecated": bool(p.get("deprecated")),
            }
        )

    body: dict[str, Any] | None = None
    body_arg: str | None = None
    if op.get("requestBody") is not None:
        rb = resolver.deref(op["requestBody"], f"{where}/requestBody")
        content = rb.get("content") if isinstance(rb, dict) else None
        if isinstance(content, dict) and content:
            ctype = next((c for c in content if "json" in c.lower()), next(iter(content)))
            media = content[ctype] if isinstance(content[ctype], dict) else {}
            schema = resolver.schema(media.get("schema", {}), f"{where}/requestBody")
            schema = schema if isinstance(schema, dict) else {}
            body_required = bool(rb.get("required"))
            body = {
                "content_type": ctype,
                "required": body_required,
                "description": str(rb.get("description") or ""),
            }
            if "json" not in ctype.lower():
                notes.append(
                    f"the request body is {ctype}; tools send JSON, so check that the API accepts it"
                )
            props = schema.get("properties")
            flat = (
                isinstance(props, dict)
                and props
                and not (set(props) & set(properties))
                and schema.get("type", "object") == "object"
            )
            if flat and isinstance(props, dict):  # (the isinstance again: for the type checker)
                # An object body becomes one argument per property, as a model expects.
                for prop, prop_schema in props.items():
                    properties[prop] = prop_schema
                    locations[prop] = "body"
                if body_required:
                    required.extend(
                        str(r)
                        for r in schema.get("required") or []
                        if r in props and r not in required
                    )
            else:
                body_arg = "body" if "body" not in properties else "request_body"
                if body["description"] and "description" not in schema:
                    schema = {**schema, "description": body["description"]}
                properties[body_arg] = schema
                locations[body_arg] = "body"
                if body_required:
                    required.append(body_arg)
            body["arg"] = body_arg
    args_schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        args_schema["required"] = required

    extensions = {k: v for k, v in item.items() if isinstance(k, str) and k.startswith("x-")}
    extensions.update({k: v for k, v in op.items() if isinstance(k, str) and k.startswith("x-")})
    tags = [str(t) for t in op.get("tags") or [] if isinstance(t, (str, int))]
    security = op.get("security", global_security)
    return Operation(
        operation_id=str(op.get("operationId") or ""),
        method=method.upper(),
        path=path,
        summary=str(op.get("summary") or item.get("summary") or "").strip(),
        description=str(op.get("description") or item.get("description") or "").strip(),
        tags=tags,
        parameters=parameters,
        body=body,
        args_schema=args_schema,
        arg_locations=locations,
        body_arg=body_arg,
        base_url=base_url,
        deprecated=bool(op.get("deprecated")),
        security=security if isinstance(security, list) else [],
        extensions=extensions,
        notes=notes,
    )


def assign_operation_ids(operations: list[Operation]) -> None:
    """Make every id a unique, tool-safe name: kept when it already is one, made up otherwise."""
    used: set[str] = set()
    for op in operations:
        original = op.operation_id
        if original and OPERATION_ID_RE.match(original):
            candidate = original
        else:
            candidate = slugify(original) if original else slugify(f"{op.method} {op.path}")
            candidate = candidate or op.method.lower()
            if original:
                op.original_operation_id = original
                op.notes.append(
                    f"operationId {original!r} is not a valid tool name; renamed {candidate!r}"
                )
            else:
                op.notes.append(f"no operationId; made up {candidate!r} from the method and path")
        unique, n = candidate, 2
        while unique.lower() in used:
            suffix = f"_{n}"
            unique, n = candidate[: 64 - len(suffix)] + suffix, n + 1
        if unique != candidate:
            op.notes.append(
                f"operationId {candidate!r} is used twice in the document; this one is {unique!r}"
            )
            op.original_operation_id = op.original_operation_id or original or None
        op.operation_id = unique
        used.add(unique.lower())


def read_operations(
    doc: dict[str, Any], *, source_url: str | None = None
) -> tuple[list[Operation], int]:
    """Every operation under `paths` (ids as written; see `assign_operation_ids`), and the callback count."""
    resolver = Resolver(doc)
    base_url = server_url(doc.get("servers"), source_url)
    security = doc.get("security")
    global_security: list[Any] = security if isinstance(security, list) else []
    operations: list[Operation] = []
    callbacks = 0
    for path, raw_item in (doc.get("paths") or {}).items():
        item = resolver.deref(raw_item, pointer("paths", path))
        if not isinstance(item, dict):
            raise OpenAPIError(
                f"{pointer('paths', path)}: must be a mapping of method -> operation"
            )
        item_base = server_url(item["servers"], source_url) if item.get("servers") else base_url
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            op_base = server_url(op["servers"], source_url) if op.get("servers") else item_base
            operations.append(
                build_operation(
                    resolver,
                    path=path,
                    method=method,
                    op=op,
                    item=item,
                    base_url=op_base,
                    global_security=global_security,
                )
            )
            callbacks += len(op.get("callbacks") or {})
    return operations, callbacks
