"""The admin's review of one imported endpoint: validated, audited (who, when, old -> new).

A review takes effect on the next run, because the catalog (`catalog.py`) reads the
reviewed, enabled operations at the start of every run.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from psycopg_pool import AsyncConnectionPool

from app.core.errors import BadRequest, NotFound
from app.integrations.openapi import store
from app.integrations.openapi.risk import AGENT_RE, APPROVERS, RISKS, SAFE_METHODS
from app.integrations.openapi.views import spec_detail

__all__ = ["REVIEW_FIELDS", "review_endpoint", "validate_review"]

REVIEW_FIELDS = ("risk", "approver", "agent", "enabled")


def validate_review(payload: Any) -> dict[str, Any]:
    """The fields of a review PATCH, checked; BadRequest names the first bad field."""
    if not isinstance(payload, dict):
        raise BadRequest(f"the body must be a JSON object with any of {', '.join(REVIEW_FIELDS)}")
    unknown = [k for k in payload if k not in REVIEW_FIELDS]
    if unknown:
        raise BadRequest(
            f"unknown field {unknown[0]!r}: a review may change {', '.join(REVIEW_FIELDS)}"
        )
    if not payload:
        raise BadRequest(f"nothing to change: give any of {', '.join(REVIEW_FIELDS)}")
    if "risk" in payload and payload["risk"] not in RISKS:
        raise BadRequest(f"risk must be one of {', '.join(RISKS)}, got {payload['risk']!r}")
    if "approver" in payload and payload["approver"] not in APPROVERS:
        raise BadRequest(
            f"approver must be one of {', '.join(APPROVERS)}, got {payload['approver']!r}"
        )
    if "agent" in payload and (
        not isinstance(payload["agent"], str) or not AGENT_RE.match(payload["agent"])
    ):
        raise BadRequest(
            f"agent must be an agent name (1-64 lower-case letters, digits, '-' or '_'), got {payload['agent']!r}"
        )
    if "enabled" in payload and not isinstance(payload["enabled"], bool):
        raise BadRequest(f"enabled must be true or false, got {payload['enabled']!r}")
    return dict(payload)


async def review_endpoint(
    pool: AsyncConnectionPool,
    *,
    spec_id: str,
    operation_id: str,
    payload: Any,
    actor: str,
    known_agents: Collection[str] | None = None,
) -> dict[str, Any]:
    """Apply an admin's review to one endpoint; answers the endpoint with its history.

    `known_agents`: the configured agent names; when given, `agent` must be one of them.
    """
    changes_in = validate_review(payload)
    if (
        known_agents is not None
        and "agent" in changes_in
        and changes_in["agent"] not in known_agents
    ):
        raise BadRequest(
            f"agent {changes_in['agent']!r} is not a configured agent; use one of {', '.join(sorted(known_agents))}"
        )
    async with pool.connection() as conn, conn.transaction():
        if await store.get_spec(conn, spec_id) is None:
            raise NotFound(
                f"spec {spec_id!r} not found; GET /api/openapi/specs lists the imported ones"
            )
        row = await store.get_operation(conn, spec_id, operation_id, for_update=True)
        if row is None:
            raise NotFound(
                f"endpoint {operation_id!r} not found in spec {spec_id!r}; GET /api/openapi/specs/{spec_id} lists them"
            )
        if row["removed"] and changes_in.get("enabled") is True:
            raise BadRequest(
                f"enabled: endpoint {operation_id!r} was removed from the spec in version {row['changed_in']}, "
                "so it cannot be enabled; import a version that has it"
            )
        new = {f: changes_in.get(f, row[f]) for f in REVIEW_FIELDS}
        changes = {f: {"old": row[f], "new": new[f]} for f in REVIEW_FIELDS if row[f] != new[f]}
        if row["needs_review"]:
            changes["needs_review"] = {"old": True, "new": False}
        await store.update_review(
            conn, spec_id=spec_id, operation_id=operation_id, actor=actor, **new
        )
        note = "" if changes else "reviewed without changes"
        if (
            new["approver"] == "none"
            and row["method"] not in SAFE_METHODS
            and "approver" in changes
        ):
            note = (
                f"approver none on a {row['method']}: the agent may call it without asking anyone"
            )
        await store.insert_audit(
            conn,
            spec_id=spec_id,
            operation_id=operation_id,
            actor=actor,
            action="review",
            changes=changes,
            note=note,
        )
        detail = await spec_detail(conn, spec_id)
    assert detail is not None
    return next(e for e in detail["endpoints"] if e["operation_id"] == operation_id)
