"""OpenAPI documents in, `Operation` records out: loading, validation, `$ref`s.

Owns everything between the bytes of a spec and the list of operations an agent
could call:

- `load_document(raw, content_type)` parses JSON or YAML safely: a size cap, YAML's
  safe loader only, and two budgets that count every alias as the whole subtree it
  stands for: nodes, and parsed bytes (every scalar's text each time an alias
  repeats it, so one long string aliased a thousand times counts a thousand times).
  An alias bomb ("billion laughs", of lists or of long strings) is refused before
  anything is built from it. Recursive aliases and absurd nesting are refused too.
- `parse_spec(doc)` checks the document (OpenAPI 3.0 and 3.1; Swagger 2.0 is
  converted) and lists its operations through `graphs.tools.openapi_parse`, the
  implementation the graph's tools use too: local `$ref`s resolved (cycles cut,
  every inlined schema under a node budget), operation ids made up where missing,
  one JSON-schema `args_schema` per operation from its parameters and request body.

Only local references (`#/...`) are followed: resolving a remote `$ref` would be a
second, unchecked fetch, so such documents are refused with a hint to bundle them.
Webhooks and callbacks are requests the API makes to us, not tools, so they are
counted but not turned into operations.

Every problem raises `SpecError` (a `BadRequest`) whose message says where in the
document it is, what is wrong and what to do.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from app.core.errors import BadRequest
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
    "SpecError",
    "canonical_hash",
    "convert_swagger2",
    "load_document",
    "parse_spec",
    "slugify",
]

MAX_DEPTH = 200  # nesting of the document itself; real specs stay under 40
MAX_ERRORS_SHOWN = 8


class SpecError(BadRequest):
    """The document cannot be imported; the message says where and why."""


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
    max_parsed_bytes: int = 16 * 1024 * 1024,
) -> Any:
    """Parse JSON or YAML text into plain data, refusing what could hurt the server.

    JSON has no aliases, so its parsed size is bounded by `max_bytes`; YAML's is
    checked against `max_parsed_bytes` on the composed node graph, before construction.
    """
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
    return _load_yaml(text, max_nodes, max_parsed_bytes)


def _load_yaml(text: str, max_nodes: int, max_parsed_bytes: int) -> Any:
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
        _check_node_graph(node, max_nodes, max_parsed_bytes)
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


def _check_node_graph(root: yaml.Node, max_nodes: int, max_parsed_bytes: int) -> None:
    """Refuse alias bombs, recursive aliases and deep nesting before construction.

    An alias is the same node object reached twice, so the size of a node (in nodes
    and in parsed bytes: its scalars' text plus a byte per node) is memoised by
    identity: the walk visits each distinct node once, however many times aliases
    repeat it, while the sizes add up to the fully expanded document. Time and memory
    are linear in the text, whatever it expands to.
    """
    sizes: dict[int, tuple[int, int]] = {}  # node -> (nodes, parsed bytes) once expanded
    open_nodes: set[int] = set()  # ancestors of the node being visited
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            children = _node_children(node)
            total = 1 + sum(sizes[id(c)][0] for c in children)
            own = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
            weight = 1 + own + sum(sizes[id(c)][1] for c in children)
            if total > max_nodes:
                raise SpecError(
                    f"the YAML document expands to more than {max_nodes:,} nodes once its aliases (*name) are "
                    f"followed (from line {node.start_mark.line + 1}); this is how an alias bomb looks, so it is "
                    "refused. Send the document without repeated aliases, or raise OPENAPI_MAX_NODES"
                )
            if weight > max_parsed_bytes:
                raise SpecError(
                    f"the YAML document expands to more than {max_parsed_bytes:,} bytes once its aliases (*name) "
                    f"are followed (from line {node.start_mark.line + 1}): a string or subtree repeated by aliases "
                    "counts each time it is repeated, and this much is an alias bomb, so it is refused. Send the "
                    "document without repeated aliases, or raise OPENAPI_MAX_PARSED_BYTES"
                )
            sizes[key] = (total, weight)
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
