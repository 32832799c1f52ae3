"""Swagger 2.0 documents converted to OpenAPI 3.0, so one parser reads both."""

from __future__ import annotations

from typing import Any

from graphs.tools.openapi_parse import HTTP_METHODS

__all__ = ["convert_swagger2"]


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
