"""/api/openapi/specs: import a spec, list and read specs, set a spec's credentials, review an endpoint (admins only).

POST takes the document itself as the body (`application/json`, `application/yaml`,
`text/yaml`, ...) or a JSON object `{"url": ..., "name"?: ..., "base_url"?: ...}`;
`?name=` and `?base_url=` work with a document body. The body is read as a stream
and refused past `OPENAPI_MAX_BYTES`, before anything parses it.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.api.deps import AdminDep, ServicesDep
from app.core.bodies import read_capped
from app.core.errors import BadRequest
from app.integrations.openapi import catalog, credentials, importer, review, views
from app.integrations.openapi.load import load_document

router = APIRouter(prefix="/openapi/specs", tags=["openapi"])


# ---- answers

class AuditEntry(BaseModel):
    actor: str
    action: str
    changes: dict[str, Any]
    note: str | None
    at: str


class Endpoint(BaseModel):
    operation_id: str
    method: str
    path: str
    summary: str | None
    description: str | None
    risk: Literal["low", "medium", "high", "critical"]
    approver: Literal["none", "customer", "operator"]
    agent: str | None
    enabled: bool
    needs_review: bool
    removed: bool
    reasons: list[str]
    reviewed_by: str | None
    reviewed_at: str | None
    added_in: int | None
    changed_in: int | None
    tags: list[str]
    args_schema: dict[str, Any]
    base_url: str
    notes: list[Any]
    history: list[AuditEntry]


class VersionSummary(BaseModel):
    added: list[str] | None
    changed: list[str] | None
    removed: list[str] | None
    notes: list[Any] | None


class SpecVersion(BaseModel):
    version: int
    api_version: str | None
    openapi_version: str | None
    source: str | None
    doc_hash: str
    imported_by: str | None
    created_at: str
    summary: VersionSummary


class SpecCredentials(BaseModel):
    """What a spec's tools send: the name of the variable holding the secret, never the secret."""

    env: str | None = Field(description="A TOOL_SECRET_* environment variable of the server.")
    header: str
    scheme: str
    customer_id_header: str | None


class Spec(BaseModel):
    spec_id: str
    name: str
    title: str | None
    api_version: str | None
    version: int
    source: str | None
    doc_hash: str
    base_url: str | None
    created_by: str | None
    created_at: str
    updated_at: str
    endpoint_count: int
    enabled_count: int
    needs_review_count: int
    credentials: SpecCredentials | None = Field(
        default=None, description="None: the spec's tools send no credentials (the default).")


class SpecList(BaseModel):
    data: list[Spec]
    count: int


class SpecDetail(Spec):
    endpoints: list[Endpoint]
    versions: list[SpecVersion]
    configured_agents: list[str] | None = Field(default=None, description="The agents an endpoint may be given to.")


class ImportSummary(BaseModel):
    version: int
    created: bool
    unchanged: bool
    added: list[str]
    changed: list[str]
    removed: list[str]
    notes: list[Any]
    unchanged_count: int


class SpecImported(SpecDetail):
    import_: ImportSummary = Field(alias="import")

REVIEW_BODY_SCHEMA = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "risk": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
                    "approver": {"type": "string", "enum": ["none", "customer", "operator"]},
                    "agent": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
                    "enabled": {"type": "boolean"},
                },
            }
        }
    },
}
IMPORT_BODY_SCHEMA = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"type": "object", "description": "An OpenAPI 3.0/3.1 or Swagger 2.0 document"},
                    {
                        "type": "object",
                        "required": ["url"],
                        "properties": {
                            "url": {"type": "string"},
                            "name": {"type": "string"},
                            "base_url": {"type": "string"},
                        },
                    },
                ]
            }
        },
        "application/yaml": {"schema": {"type": "string"}},
    },
}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BadRequest(
            f"the body is {int(declared):,} bytes, over the limit of {limit:,} (OPENAPI_MAX_BYTES)"
        )
    return await read_capped(request.stream(), limit, lambda: BadRequest(
        f"the body is over the limit of {limit:,} bytes (OPENAPI_MAX_BYTES); stopped reading"))


@router.post("", status_code=201, openapi_extra={"requestBody": IMPORT_BODY_SCHEMA}, response_model=SpecImported,
             responses={200: {"model": SpecImported, "description": "The same document again: nothing changed."}})
async def import_spec(
    request: Request,
    services: ServicesDep,
    admin: AdminDep,
    name: str | None = Query(
        None, description="Spec name re-imports match on; default: the title's slug."
    ),
    base_url: str | None = Query(
        None, description="Server URL the tools call; default: the spec's first server."
    ),
) -> JSONResponse:
    settings = services.settings
    body = await _read_body(request, settings.openapi_max_bytes)
    content_type = request.headers.get("content-type")
    url = None
    if body.lstrip()[:1] == b"{" and len(body) < 8192:
        # A small JSON object with `url` and no OpenAPI keys is a request to fetch.
        try:
            small = json.loads(body)
        except ValueError:
            small = None
        if (
            isinstance(small, dict)
            and "url" in small
            and not {"openapi", "swagger", "paths"} & set(small)
        ):
            unknown = set(small) - {"url", "name", "base_url"}
            if unknown:
                raise BadRequest(
                    f"unknown field {min(unknown)!r}: a URL import takes url, name and base_url"
                )
            for key in ("url", "name", "base_url"):
                if key in small and not isinstance(small[key], str):
                    raise BadRequest(f"{key} must be a string")
            url, name, base_url = (
                small["url"],
                small.get("name", name),
                small.get("base_url", base_url),
            )
    if url is None and not body.strip():
        raise BadRequest(
            'the body is empty: send an OpenAPI document (JSON or YAML) or {"url": "https://..."}'
        )
    detail = await importer.import_spec(
        services.pool,
        settings,
        actor=admin.user_id,
        content=None if url is not None else body,
        content_type=content_type,
        url=url,
        name=name,
        base_url=base_url,
        known_agents=catalog.configured_agents(),
    )
    services.tools_changed()
    # a JSONResponse for the status of its own (200: unchanged); the body is checked against SpecImported
    body_out = SpecImported.model_validate(detail).model_dump(mode="json", by_alias=True)
    return JSONResponse(body_out, status_code=200 if detail["import"]["unchanged"] else 201)


@router.get("", response_model=SpecList)
async def list_specs(services: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    return await views.list_specs(services.pool)


@router.get("/{spec_id}", response_model=SpecDetail)
async def get_spec(services: ServicesDep, admin: AdminDep, spec_id: str) -> dict[str, Any]:
    return await views.get_spec(services.pool, spec_id)


async def _json_body(request: Request) -> Any:
    raw = await _read_body(request, 64 * 1024)
    try:
        return (
            load_document(raw, "application/json", max_bytes=64 * 1024, max_nodes=1000)
            if raw.strip()
            else None
        )
    except BadRequest as exc:
        raise BadRequest(f"the body must be a JSON object: {exc.message}") from None


@router.patch("/{spec_id}", response_model=SpecDetail)
async def update_spec(request: Request, services: ServicesDep, admin: AdminDep, spec_id: str) -> dict[str, Any]:
    """`{"credentials": {"env": "TOOL_SECRET_X", "header"?, "scheme"?, "customer_id_header"?} | null}`."""
    payload = await _json_body(request)
    if not isinstance(payload, dict) or set(payload) != {"credentials"}:
        raise BadRequest('the body must be {"credentials": {...}} or {"credentials": null}')
    detail = await credentials.set_credentials(
        services.pool, spec_id=spec_id, payload=payload["credentials"], actor=admin.user_id
    )
    services.tools_changed()
    return detail


@router.patch(
    "/{spec_id}/endpoints/{operation_id}", openapi_extra={"requestBody": REVIEW_BODY_SCHEMA},
    response_model=Endpoint,
)
async def review_endpoint(
    request: Request, services: ServicesDep, admin: AdminDep, spec_id: str, operation_id: str
) -> dict[str, Any]:
    payload = await _json_body(request)
    endpoint = await review.review_endpoint(
        services.pool,
        spec_id=spec_id,
        operation_id=operation_id,
        payload=payload,
        actor=admin.user_id,
        known_agents=catalog.configured_agents(),
    )
    services.tools_changed()  # this process's next run sees it at once; others hear the trigger's NOTIFY or Redis
    return endpoint
