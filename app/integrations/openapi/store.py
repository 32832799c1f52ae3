"""SQL for imported OpenAPI specs: specs, versions, operations, the review audit.

Functions take a connection, so the service can run a whole import or review in
one transaction; rows come back as dicts (the pool's `dict_row`). An import of a
spec name is serialised by a transaction-scoped advisory lock on that name, and a
review holds the operation row (`FOR UPDATE`), so concurrent imports and reviews
never interleave half-way.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

__all__ = [
    "enabled_operations",
    "get_operation",
    "get_spec",
    "get_spec_by_name",
    "insert_audit",
    "insert_operation",
    "insert_spec",
    "insert_version",
    "list_audit",
    "list_operations",
    "list_specs",
    "list_versions",
    "lock_spec_name",
    "mark_removed",
    "update_credentials",
    "update_operation_definition",
    "update_review",
    "update_spec",
]

Conn = AsyncConnection[dict[str, Any]]

LOCK_SPEC_NAME = "SELECT pg_advisory_xact_lock(hashtextextended('openapi-spec:' || %(name)s, 0))"

SPEC_COLUMNS = """s.spec_id, s.name, s.title, s.api_version, s.current_version, s.source, s.doc_hash,
    s.base_url, s.credentials, s.created_by, s.created_at, s.updated_at"""
SPEC_COUNTS = """
    (SELECT count(*) FROM openapi_operations o WHERE o.spec_id = s.spec_id AND NOT o.removed) AS endpoint_count,
    (SELECT count(*) FROM openapi_operations o WHERE o.spec_id = s.spec_id AND NOT o.removed AND o.enabled) AS enabled_count,
    (SELECT count(*) FROM openapi_operations o WHERE o.spec_id = s.spec_id AND NOT o.removed AND o.needs_review)
        AS needs_review_count"""

SELECT_SPEC = (
    f"SELECT {SPEC_COLUMNS}, {SPEC_COUNTS} FROM openapi_specs s WHERE s.spec_id = %(spec_id)s"
)
SELECT_SPEC_BY_NAME = (
    f"SELECT {SPEC_COLUMNS}, {SPEC_COUNTS} FROM openapi_specs s WHERE s.name = %(name)s"
)
LIST_SPECS = f"SELECT {SPEC_COLUMNS}, {SPEC_COUNTS} FROM openapi_specs s ORDER BY s.updated_at DESC, s.spec_id"

INSERT_SPEC = """
INSERT INTO openapi_specs (spec_id, name, title, api_version, current_version, source, doc_hash, base_url, created_by)
VALUES (%(spec_id)s, %(name)s, %(title)s, %(api_version)s, 1, %(source)s, %(doc_hash)s, %(base_url)s, %(actor)s)
"""

UPDATE_SPEC = """
UPDATE openapi_specs SET title = %(title)s, api_version = %(api_version)s, current_version = %(version)s,
    source = %(source)s, doc_hash = %(doc_hash)s, base_url = %(base_url)s, updated_at = now()
WHERE spec_id = %(spec_id)s
"""

INSERT_VERSION = """
INSERT INTO openapi_spec_versions (spec_id, version, api_version, openapi_version, source, doc_hash, document,
    summary, imported_by)
VALUES (%(spec_id)s, %(version)s, %(api_version)s, %(openapi_version)s, %(source)s, %(doc_hash)s, %(document)s,
    %(summary)s, %(actor)s)
"""

LIST_VERSIONS = """
SELECT version, api_version, openapi_version, source, doc_hash, summary, imported_by, created_at
FROM openapi_spec_versions WHERE spec_id = %(spec_id)s ORDER BY version DESC
"""

OPERATION_COLUMNS = """spec_id, operation_id, method, path, summary, description, definition, change_hash, risk,
    approver, agent, reasons, enabled, needs_review, removed, reviewed_by, reviewed_at, added_in, changed_in,
    created_at, updated_at"""

LIST_OPERATIONS = f"""
SELECT {OPERATION_COLUMNS} FROM openapi_operations WHERE spec_id = %(spec_id)s
ORDER BY removed, path, method, operation_id
"""

SELECT_OPERATION = f"""
SELECT {OPERATION_COLUMNS} FROM openapi_operations
WHERE spec_id = %(spec_id)s AND operation_id = %(operation_id)s
"""
LOCK_OPERATION = SELECT_OPERATION + " FOR UPDATE"

INSERT_OPERATION = """
INSERT INTO openapi_operations (spec_id, operation_id, method, path, summary, description, definition, change_hash,
    risk, approver, agent, reasons, enabled, needs_review, removed, added_in, changed_in)
VALUES (%(spec_id)s, %(operation_id)s, %(method)s, %(path)s, %(summary)s, %(description)s, %(definition)s,
    %(change_hash)s, %(risk)s, %(approver)s, %(agent)s, %(reasons)s, false, true, false, %(version)s, %(version)s)
"""

# A changed operation: new definition and classification, switched off until reviewed again.
UPDATE_OPERATION_DEFINITION = """
UPDATE openapi_operations SET method = %(method)s, path = %(path)s, summary = %(summary)s,
    description = %(description)s, definition = %(definition)s, change_hash = %(change_hash)s, risk = %(risk)s,
    approver = %(approver)s, agent = %(agent)s, reasons = %(reasons)s, enabled = false, needs_review = true,
    removed = false, changed_in = %(version)s, updated_at = now()
WHERE spec_id = %(spec_id)s AND operation_id = %(operation_id)s
"""

MARK_REMOVED = """
UPDATE openapi_operations SET removed = true, enabled = false, changed_in = %(version)s, updated_at = now()
WHERE spec_id = %(spec_id)s AND operation_id = ANY(%(operation_ids)s) AND NOT removed
"""

UPDATE_REVIEW = """
UPDATE openapi_operations SET risk = %(risk)s, approver = %(approver)s, agent = %(agent)s, enabled = %(enabled)s,
    needs_review = false, reviewed_by = %(actor)s, reviewed_at = now(), updated_at = now()
WHERE spec_id = %(spec_id)s AND operation_id = %(operation_id)s
RETURNING reviewed_at
"""

INSERT_AUDIT = """
INSERT INTO openapi_operation_audit (spec_id, operation_id, actor, action, changes, note)
VALUES (%(spec_id)s, %(operation_id)s, %(actor)s, %(action)s, %(changes)s, %(note)s)
"""

LIST_AUDIT = """
SELECT audit_id, operation_id, actor, action, changes, note, at FROM openapi_operation_audit
WHERE spec_id = %(spec_id)s ORDER BY audit_id
"""

UPDATE_CREDENTIALS = """
UPDATE openapi_specs SET credentials = %(credentials)s, updated_at = now() WHERE spec_id = %(spec_id)s
"""

ENABLED_OPERATIONS = """
SELECT o.spec_id, s.name AS spec_name, s.credentials, s.current_version, o.operation_id, o.method, o.path, o.summary,
    o.description, o.definition, o.risk, o.approver, o.agent, o.change_hash
FROM openapi_operations o JOIN openapi_specs s USING (spec_id)
WHERE o.enabled AND NOT o.removed
ORDER BY s.name, o.operation_id
"""


async def lock_spec_name(conn: Conn, name: str) -> None:
    await conn.execute(LOCK_SPEC_NAME, {"name": name})


async def get_spec(conn: Conn, spec_id: str) -> dict[str, Any] | None:
    return await (await conn.execute(SELECT_SPEC, {"spec_id": spec_id})).fetchone()


async def get_spec_by_name(conn: Conn, name: str) -> dict[str, Any] | None:
    return await (await conn.execute(SELECT_SPEC_BY_NAME, {"name": name})).fetchone()


async def list_specs(conn: Conn) -> list[dict[str, Any]]:
    return await (await conn.execute(LIST_SPECS)).fetchall()


async def insert_spec(
    conn: Conn,
    *,
    spec_id: str,
    name: str,
    title: str,
    api_version: str,
    source: str,
    doc_hash: str,
    base_url: str,
    actor: str,
) -> None:
    await conn.execute(
        INSERT_SPEC,
        {
            "spec_id": spec_id,
            "name": name,
            "title": title,
            "api_version": api_version,
            "source": source,
            "doc_hash": doc_hash,
            "base_url": base_url,
            "actor": actor,
        },
    )


async def update_spec(
    conn: Conn,
    *,
    spec_id: str,
    version: int,
    title: str,
    api_version: str,
    source: str,
    doc_hash: str,
    base_url: str,
) -> None:
    await conn.execute(
        UPDATE_SPEC,
        {
            "spec_id": spec_id,
            "version": version,
            "title": title,
            "api_version": api_version,
            "source": source,
            "doc_hash": doc_hash,
            "base_url": base_url,
        },
    )


async def insert_version(
    conn: Conn,
    *,
    spec_id: str,
    version: int,
    api_version: str,
    openapi_version: str,
    source: str,
    doc_hash: str,
    document: Any,
    summary: dict[str, Any],
    actor: str,
) -> None:
    await conn.execute(
        INSERT_VERSION,
        {
            "spec_id": spec_id,
            "version": version,
            "api_version": api_version,
            "openapi_version": openapi_version,
            "source": source,
            "doc_hash": doc_hash,
            "document": Jsonb(document),
            "summary": Jsonb(summary),
            "actor": actor,
        },
    )


async def list_versions(conn: Conn, spec_id: str) -> list[dict[str, Any]]:
    return await (await conn.execute(LIST_VERSIONS, {"spec_id": spec_id})).fetchall()


async def list_operations(conn: Conn, spec_id: str) -> list[dict[str, Any]]:
    return await (await conn.execute(LIST_OPERATIONS, {"spec_id": spec_id})).fetchall()


async def get_operation(
    conn: Conn, spec_id: str, operation_id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    query = LOCK_OPERATION if for_update else SELECT_OPERATION
    return await (
        await conn.execute(query, {"spec_id": spec_id, "operation_id": operation_id})
    ).fetchone()


def _operation_params(spec_id: str, version: int, op: dict[str, Any]) -> dict[str, Any]:
    return {
        "spec_id": spec_id,
        "version": version,
        "operation_id": op["operation_id"],
        "method": op["method"],
        "path": op["path"],
        "summary": op["summary"],
        "description": op["description"],
        "definition": Jsonb(op["definition"]),
        "change_hash": op["change_hash"],
        "risk": op["risk"],
        "approver": op["approver"],
        "agent": op["agent"],
        "reasons": Jsonb(op["reasons"]),
    }


async def insert_operation(conn: Conn, *, spec_id: str, version: int, op: dict[str, Any]) -> None:
    await conn.execute(INSERT_OPERATION, _operation_params(spec_id, version, op))


async def update_operation_definition(
    conn: Conn, *, spec_id: str, version: int, op: dict[str, Any]
) -> None:
    await conn.execute(UPDATE_OPERATION_DEFINITION, _operation_params(spec_id, version, op))


async def mark_removed(conn: Conn, *, spec_id: str, version: int, operation_ids: list[str]) -> None:
    if operation_ids:
        await conn.execute(
            MARK_REMOVED, {"spec_id": spec_id, "version": version, "operation_ids": operation_ids}
        )


async def update_review(
    conn: Conn,
    *,
    spec_id: str,
    operation_id: str,
    risk: str,
    approver: str,
    agent: str,
    enabled: bool,
    actor: str,
) -> None:
    await conn.execute(
        UPDATE_REVIEW,
        {
            "spec_id": spec_id,
            "operation_id": operation_id,
            "risk": risk,
            "approver": approver,
            "agent": agent,
            "enabled": enabled,
            "actor": actor,
        },
    )


async def insert_audit(
    conn: Conn,
    *,
    spec_id: str,
    operation_id: str,
    actor: str,
    action: str,
    changes: dict[str, Any],
    note: str = "",
) -> None:
    await conn.execute(
        INSERT_AUDIT,
        {
            "spec_id": spec_id,
            "operation_id": operation_id,
            "actor": actor,
            "action": action,
            "changes": Jsonb(changes),
            "note": note,
        },
    )


async def list_audit(conn: Conn, spec_id: str) -> list[dict[str, Any]]:
    return await (await conn.execute(LIST_AUDIT, {"spec_id": spec_id})).fetchall()


async def enabled_operations(conn: Conn) -> list[dict[str, Any]]:
    return await (await conn.execute(ENABLED_OPERATIONS)).fetchall()


async def update_credentials(conn: Conn, *, spec_id: str, credentials: dict[str, Any] | None) -> None:
    await conn.execute(
        UPDATE_CREDENTIALS,
        {"spec_id": spec_id, "credentials": Jsonb(credentials) if credentials is not None else None},
    )
