"""Reading imported specs: the public shape of a spec, its endpoints, audit and versions.

`spec_detail()` is the one view of a spec that the import, the review and the
credentials answer with; `list_specs()` and `get_spec()` serve the admin's reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg_pool import AsyncConnectionPool

from app.core.errors import NotFound
from app.integrations.openapi import store
from app.integrations.openapi.catalog import configured_agents

__all__ = ["get_spec", "list_specs", "spec_detail"]


def _spec_public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "spec_id": row["spec_id"],
        "name": row["name"],
        "title": row["title"],
        "api_version": row["api_version"],
        "version": row["current_version"],
        "source": row["source"],
        "doc_hash": row["doc_hash"],
        "base_url": row["base_url"],
        "credentials": row.get("credentials"),
        "created_by": row["created_by"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "endpoint_count": row["endpoint_count"],
        "enabled_count": row["enabled_count"],
        "needs_review_count": row["needs_review_count"],
    }


def _audit_public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "actor": row["actor"],
        "action": row["action"],
        "changes": row["changes"],
        "note": row["note"],
        "at": row["at"].isoformat(),
    }


def _endpoint_public(row: Mapping[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    definition = row["definition"]
    return {
        "operation_id": row["operation_id"],
        "method": row["method"],
        "path": row["path"],
        "summary": row["summary"],
        "description": row["description"],
        "risk": row["risk"],
        "approver": row["approver"],
        "agent": row["agent"],
        "enabled": row["enabled"],
        "needs_review": row["needs_review"],
        "removed": row["removed"],
        "reasons": row["reasons"],
        "reviewed_by": row["reviewed_by"],
        "reviewed_at": row["reviewed_at"].isoformat() if row["reviewed_at"] else None,
        "added_in": row["added_in"],
        "changed_in": row["changed_in"],
        "tags": definition.get("tags", []),
        "args_schema": definition.get("args_schema", {}),
        "base_url": definition.get("base_url", ""),
        "notes": definition.get("notes", []),
        "history": history,
    }


async def spec_detail(conn: Any, spec_id: str) -> dict[str, Any] | None:
    row = await store.get_spec(conn, spec_id)
    if row is None:
        return None
    history: dict[str, list[dict[str, Any]]] = {}
    for audit in await store.list_audit(conn, spec_id):
        history.setdefault(audit["operation_id"], []).append(_audit_public(audit))
    endpoints = [
        _endpoint_public(op, history.get(op["operation_id"], []))
        for op in await store.list_operations(conn, spec_id)
    ]
    versions = [
        {
            "version": v["version"],
            "api_version": v["api_version"],
            "openapi_version": v["openapi_version"],
            "source": v["source"],
            "doc_hash": v["doc_hash"],
            "imported_by": v["imported_by"],
            "created_at": v["created_at"].isoformat(),
            "summary": {k: v["summary"].get(k) for k in ("added", "changed", "removed", "notes")},
        }
        for v in await store.list_versions(conn, spec_id)
    ]
    return {**_spec_public(row), "endpoints": endpoints, "versions": versions}


async def list_specs(pool: AsyncConnectionPool) -> dict[str, Any]:
    async with pool.connection() as conn:
        rows = await store.list_specs(conn)
    return {"data": [_spec_public(r) for r in rows], "count": len(rows)}


async def get_spec(pool: AsyncConnectionPool, spec_id: str) -> dict[str, Any]:
    async with pool.connection() as conn:
        detail = await spec_detail(conn, spec_id)
    if detail is None:
        raise NotFound(
            f"spec {spec_id!r} not found; GET /api/openapi/specs lists the imported ones"
        )
    # the review page offers these as the agents an endpoint may be assigned to
    detail["configured_agents"] = configured_agents() or []
    return detail
