"""OpenAPI documents in, `Operation` records out: loading, validation, `$ref`s.

Owns everything between the bytes of a spec and the list of operations an agent
could call:

- `load_document(raw, content_type)` parses JSON or YAML safely: a size cap, YAML's
  safe loader only, and a node budget that counts every alias as the whole subtree
  it stands for, so an alias bomb ("billion laughs") is refused before anything is
  built from it. Recursive aliases and absurd nesting are refused too.
- `parse_spec(doc)` checks the document (OpenAPI 3.0 and 3.1; Swagger 2.0 is
  converted), resolves local `$ref`s (cycles are cut, not followed, and every
  inlined schema has a node budget, so neither a cycle nor an exponential chain of
  references can blow up), makes up operation ids where missing, and builds one
  JSON-schema `args_schema` per operation from its parameters and request body.

Only local references (`#/...`) are followed: resolving a remote `$ref` would be a
second, unchecked fetch, so such documents are refused with a hint to bundle them.
Webhooks and callbacks are requests the API makes to us, not tools, so they are
counted but not turned into operations.

Every problem raises `SpecError` (a `BadRequest`) whose message says where in the
document it is, what is wrong and what to do.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin

import yaml

from app.core.errors import BadRequest

__all__ = [
    "HTTP_METHODS",
    "Operation",
    "ParsedSpec",
    "SpecError",
    "canonical_hash",
    "load_document",
    "parse_spec",
    "slugify",
]

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
PARAM_LOCATIONS = ("query", "header", "path", "cookie")
MAX_DEPTH = 200  # nesting of the document itself; real specs stay under 40
MAX_SCHEMA_DEPTH = 32  # nesting of one inlined argument schema
MAX_SCHEMA_NODES = 5_000  # nodes of one inlined argument schema
MAX_REF_HOPS = 50  # $ref -> $ref -> ... chains before we call it a loop
MAX_ERRORS_SHOWN = 8
# A tool name every model provider accepts.
OPERATION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Headers the HTTP layer or the server sets (graphs.tools.spec.HIDDEN_HEADERS and
# more); a model must never fill them in.
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


class SpecError(BadRequest):
    """The document cannot be imported; the message says where and why."""


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


def canonical_hash(value: Any) -> str:
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def slugify(text: str, *, sep: str = "_", max_len: int = 64, split_camel: bool = True) -> str:
    """`"/pets/{id}/Photos"` -> `"pets_id_photos"`; camelCase is split first unless told not to."""
    if split_camel:
        text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    slug = re.sub(r"[^a-z0-9]+", sep, text.lower()).strip(sep)
    return slug[:max_len].strip(sep)


# --------------------------------------------------------------------------- loading


class _Loader(yaml.SafeLoader):
    """The safe loader; the only change is that we compose first and check the graph."""


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser with the same safe constructor: several times faster on big documents.

    Its composer recurses in C without Python's recursion limit, so a document nested
    deep enough crashes the process instead of raising. It is only used when
    `_nesting_bound` proves the nesting shallow; anything else goes to `_Loader`,
    whose recursion ends in a RecursionError we turn into a refusal.
    """


C_LOADER_MAX_NESTING = 1000


def _nesting_bound(text: str) -> int:
    """An upper bound on how deep a YAML text can nest, cheap to compute.

    A nested block node sits at a greater column than its parent (compact "- - x"
    sequences take two columns a level), so the widest indentation bounds block
    nesting; every flow level needs an unclosed bracket. Brackets inside strings
    only make the bound looser, which is safe.
    """
    widest = max((len(line) - len(line.lstrip(" -?:")) for line in text.splitlines()), default=0)
    depth = deepest = 0
    for ch in re.sub(r"[^\[\]{}]+", "", text):
        depth = depth + 1 if ch in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return widest + deepest + 1


def load_document(
    raw: bytes | str,
    content_type: str | None = None,
    *,
    max_bytes: int = 5 * 1024 * 1024,
    max_nodes: int = 1_000_000,
) -> Any:
    """Parse JSON or YAML text into plain data, refusing what could hurt the server."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise SpecError(
            f"the document is {size:,} bytes, over the limit of {max_bytes:,} (OPENAPI_MAX_BYTES); "
            "split the spec or raise the limit"
        )
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SpecError(
                f"the document is not UTF-8 text (byte {exc.start}): save it as UTF-8 JSON or YAML"
            ) from None
    else:
        text = raw
    if not text.strip():
        raise SpecError("the document is empty: send an OpenAPI document as JSON or YAML")
    ctype = (content_type or "").split(";")[0].strip().lower()
    looks_json = text.lstrip()[:1] in ("{", "[")
    if ctype.endswith("json") or (looks_json and "yaml" not in ctype):
        try:
            data = json.loads(text)
        except RecursionError:
            raise SpecError(
                f"the JSON document is nested too deeply (limit {MAX_DEPTH} levels)"
            ) from None
        except json.JSONDecodeError as exc:
            if ctype.endswith("json"):
                raise SpecError(
                    f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
                    "fix the document or send YAML as application/yaml"
                ) from None
        else:
            _check_data_shape(data, max_nodes)
            return data
    return _load_yaml(text, max_nodes)


def _load_yaml(text: str, max_nodes: int) -> Any:
    fast = _nesting_bound(text) <= C_LOADER_MAX_NESTING
    loader = _FastLoader(text) if fast else _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise SpecError(
                f"the YAML document is nested too deeply (limit {MAX_DEPTH} levels)"
            ) from None
        except yaml.YAMLError as exc:
            raise SpecError(f"invalid YAML: {_yaml_problem(exc)}") from None
        if node is None:
            raise SpecError("the document is empty: send an OpenAPI document as JSON or YAML")
        _check_node_graph(node, max_nodes)
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            # e.g. `!!python/object`: the safe loader builds plain data only
            raise SpecError(f"invalid YAML: {_yaml_problem(exc)}") from None
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{problem}{where}"


def _node_children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_node_graph(root: yaml.Node, max_nodes: int) -> None:
    """Refuse alias bombs, recursive aliases and deep nesting before construction.

    An alias is the same node object reached twice, so the size of a node is
    memoised by identity: the walk visits each distinct node once, however many
    times aliases repeat it, while the sizes add up to the fully expanded document.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # ancestors of the node being visited
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            total = 1 + sum(sizes[id(c)] for c in _node_children(node))
            if total > max_nodes:
                raise SpecError(
                    f"the YAML document expands to more than {max_nodes:,} nodes once its aliases (*name) are "
                    f"followed (from line {node.start_mark.line + 1}); this is how an alias bomb looks, so it is "
                    "refused. Send the document without repeated aliases, or raise OPENAPI_MAX_NODES"
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise SpecError(
                f"the YAML document contains a recursive alias (an anchor used inside itself, line "
                f"{node.start_mark.line + 1}); OpenAPI documents cannot be infinite: remove the alias"
            )
        open_nodes.add(key)
        if len(open_nodes) > MAX_DEPTH:
            raise SpecError(
                f"the YAML document is nested more than {MAX_DEPTH} levels deep; flatten it"
            )
        stack.append((node, True))
        stack.extend((c, False) for c in _node_children(node))


def _check_data_shape(data: Any, max_nodes: int) -> None:
    count = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > max_nodes:
            raise SpecError(
                f"the document has more than {max_nodes:,} nodes (OPENAPI_MAX_NODES); split it"
            )
        if depth > MAX_DEPTH:
            raise SpecError(f"the document is nested more than {MAX_DEPTH} levels deep; flatten it")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


# --------------------------------------------------------------------------- references


def _pointer_unescape(token: str) -> str:
    return unquote(token).replace("~1", "/").replace("~0", "~")


def _pointer(*parts: Any) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class _Resolver:
    """Local `$ref` lookups over one document, with cycle-safe schema inlining."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def lookup(self, ref: str, where: str) -> Any:
        if not ref.startswith("#"):
            raise SpecError(
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
                raise SpecError(
                    f"{where}: the $ref {ref!r} points at nothing in this document; fix the reference"
                )
        return target

    def deref(self, value: Any, where: str) -> Any:
        """Follow a chain of `$ref`s to a non-reference object (parameters, bodies, path items)."""
        seen: list[str] = []
        while isinstance(value, dict) and isinstance(value.get("$ref"), str):
            ref = value["$ref"]
            if ref in seen or len(seen) >= MAX_REF_HOPS:
                raise SpecError(
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


# --------------------------------------------------------------------------- Swagger 2.0


def _rewrite_swagger_refs(value: Any) -> Any:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                for old, new in (
                    ("#/definitions/", "#/components/schemas/"),
                    ("#/responses/", "#/components/responses/"),
                    ("#/parameters/", "#/components/parameters/"),
                ):
                    if ref.startswith(old):
                        node["$ref"] = new + ref[len(old) :]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return value


SWAGGER_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "multipleOf",
)


def convert_swagger2(doc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A Swagger 2.0 document as OpenAPI 3.0: servers, bodies, form data, schemas, refs.

    Covers what agents need (paths, parameters, bodies, definitions, security
    schemes); response headers and `collectionFormat` are carried over loosely.
    """
    import copy

    src = _rewrite_swagger_refs(copy.deepcopy(doc))
    notes = ["converted from Swagger 2.0 to OpenAPI 3.0"]
    host = src.get("host")
    base_path = src.get("basePath") or ""
    schemes = src.get("schemes") or ["https"]
    servers = (
        [{"url": f"{s}://{host}{base_path}"} for s in schemes if isinstance(s, str)] if host else []
    )
    if not servers and base_path:
        servers = [{"url": base_path}]
    consumes = src.get("consumes") or ["application/json"]
    produces = src.get("produces") or ["application/json"]
    shared_params = src.get("parameters") or {}

    def param_schema(p: dict[str, Any]) -> dict[str, Any]:
        return {k: p[k] for k in SWAGGER_SCHEMA_KEYS if k in p}

    def convert_params(
        params: list[Any], op_consumes: list[str]
    ) -> tuple[list[Any], dict[str, Any] | None]:
        out: list[Any] = []
        body: dict[str, Any] | None = None
        form_props: dict[str, Any] = {}
        form_required: list[str] = []
        has_file = False
        for raw in params or []:
            p = raw
            if isinstance(raw, dict) and isinstance(raw.get("$ref"), str):
                name = raw["$ref"].rsplit("/", 1)[-1]
                p = shared_params.get(name, raw)
                if p is raw:
                    out.append(raw)
                    continue
            if not isinstance(p, dict):
                continue
            where = p.get("in")
            if where == "body":
                body = {
                    "required": bool(p.get("required")),
                    "description": p.get("description", ""),
                    "content": {ct: {"schema": p.get("schema", {})} for ct in op_consumes[:1]},
                }
            elif where == "formData":
                schema = param_schema(p)
                if schema.get("type") == "file":
                    has_file = True
                    schema = {"type": "string", "format": "binary"}
                if p.get("description"):
                    schema["description"] = p["description"]
                form_props[p.get("name", "field")] = schema
                if p.get("required"):
                    form_required.append(p.get("name", "field"))
            else:
                converted = {
                    k: v
                    for k, v in p.items()
                    if k not in SWAGGER_SCHEMA_KEYS and k != "collectionFormat"
                }
                converted["schema"] = param_schema(p)
                out.append(converted)
        if form_props and body is None:
            ctype = "multipart/form-data" if has_file else "application/x-www-form-urlencoded"
            schema: dict[str, Any] = {"type": "object", "properties": form_props}
            if form_required:
                schema["required"] = form_required
            body = {"required": bool(form_required), "content": {ctype: {"schema": schema}}}
        return out, body

    paths: dict[str, Any] = {}
    for path, item in (src.get("paths") or {}).items():
        if not isinstance(item, dict):
            paths[path] = item
            continue
        new_item: dict[str, Any] = {}
        for key, op in item.items():
            if key == "parameters" and isinstance(op, list):
                new_item["parameters"], _ = convert_params(op, consumes)
            elif key in HTTP_METHODS and isinstance(op, dict):
                new_op = {
                    k: v
                    for k, v in op.items()
                    if k not in ("parameters", "consumes", "produces", "schemes", "responses")
                }
                params, body = convert_params(
                    op.get("parameters") or [], op.get("consumes") or consumes
                )
                if params:
                    new_op["parameters"] = params
                if body:
                    new_op["requestBody"] = body
                responses: dict[str, Any] = {}
                for code, resp in (op.get("responses") or {}).items():
                    if isinstance(resp, dict) and "schema" in resp:
                        resp = {
                            **{k: v for k, v in resp.items() if k != "schema"},
                            "content": {
                                ct: {"schema": resp["schema"]}
                                for ct in (op.get("produces") or produces)[:1]
                            },
                        }
                    responses[str(code)] = resp
                new_op["responses"] = responses
                new_item[key] = new_op
            else:
                new_item[key] = op
        paths[path] = new_item

    components: dict[str, Any] = {}
    if src.get("definitions"):
        components["schemas"] = src["definitions"]
    non_body = {
        k: v
        for k, v in shared_params.items()
        if isinstance(v, dict) and v.get("in") not in ("body", "formData")
    }
    if non_body:
        components["parameters"] = {
            k: convert_params([v], consumes)[0][0] for k, v in non_body.items()
        }
    if src.get("responses"):
        components["responses"] = src["responses"]
    schemes_out: dict[str, Any] = {}
    for name, scheme in (src.get("securityDefinitions") or {}).items():
        if not isinstance(scheme, dict):
            continue
        if scheme.get("type") == "basic":
            schemes_out[name] = {"type": "http", "scheme": "basic"}
        elif scheme.get("type") == "oauth2":
            flow = {
                "implicit": "implicit",
                "password": "password",
                "application": "clientCredentials",
                "accessCode": "authorizationCode",
            }.get(scheme.get("flow", ""), "clientCredentials")
            schemes_out[name] = {
                "type": "oauth2",
                "flows": {
                    flow: {
                        k: scheme[k]
                        for k in ("authorizationUrl", "tokenUrl", "scopes")
                        if k in scheme
                    }
                },
            }
        else:
            schemes_out[name] = scheme
    if schemes_out:
        components["securitySchemes"] = schemes_out

    out: dict[str, Any] = {"openapi": "3.0.3", "info": src.get("info", {}), "paths": paths}
    if servers:
        out["servers"] = servers
    if components:
        out["components"] = components
    for key in ("security", "tags", "externalDocs"):
        if key in src:
            out[key] = src[key]
    out.update({k: v for k, v in src.items() if isinstance(k, str) and k.startswith("x-")})
    return out, notes


# --------------------------------------------------------------------------- validation and operations


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
            where = _pointer("paths", path)
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


def _server_url(servers: Any, source_url: str | None) -> str:
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        return source_url and urljoin(source_url, "/") or ""
    server = servers[0]
    url = str(server.get("url") or "")
    for name, var in (server.get("variables") or {}).items():
        if isinstance(var, dict) and "default" in var:
            url = url.replace("{" + str(name) + "}", str(var["default"]))
    if source_url and not re.match(r"^[a-z][a-z0-9+.-]*://", url, re.I):
        url = urljoin(
            source_url, url
        )  # a relative server URL is relative to where the spec came from
    return url.rstrip("/")


def _operation(
    resolver: _Resolver,
    *,
    path: str,
    method: str,
    op: dict[str, Any],
    item: dict[str, Any],
    base_url: str,
    global_security: list[Any],
) -> Operation:
    where = _pointer("paths", path, method)
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for i, raw in enumerate([*(item.get("parameters") or []), *(op.get("parameters") or [])]):
        p = resolver.deref(raw, f"{where}/parameters/{i}")
        if (
            not isinstance(p, dict)
            or not isinstance(p.get("name"), str)
            or p.get("in") not in PARAM_LOCATIONS
        ):
            raise SpecError(
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
            first = next(iter(p["content"].values()), {})
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
            if flat:
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


def _assign_operation_ids(operations: list[Operation]) -> None:
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
    resolver = _Resolver(doc)
    info = doc["info"]
    base_url = _server_url(doc.get("servers"), source_url)
    global_security = doc.get("security") if isinstance(doc.get("security"), list) else []
    operations: list[Operation] = []
    callbacks = 0
    for path, raw_item in (doc.get("paths") or {}).items():
        item = resolver.deref(raw_item, _pointer("paths", path))
        if not isinstance(item, dict):
            raise SpecError(f"{_pointer('paths', path)}: must be a mapping of method -> operation")
        item_base = _server_url(item["servers"], source_url) if item.get("servers") else base_url
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            op_base = _server_url(op["servers"], source_url) if op.get("servers") else item_base
            operations.append(
                _operation(
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
    _assign_operation_ids(operations)
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
