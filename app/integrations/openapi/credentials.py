"""A spec's own credentials (none by default), set by an admin and audited.

The setting names a `TOOL_SECRET_*` environment variable and the header to send it
in, never the secret itself; the shop's token and customer id never reach an
imported API.
"""

from __future__ import annotations

import re
from typing import Any

from psycopg_pool import AsyncConnectionPool

from app.core.errors import BadRequest, NotFound
from app.integrations.openapi import store
from app.integrations.openapi.views import spec_detail

__all__ = ["set_credentials", "validate_credentials"]

CREDENTIAL_FIELDS = ("env", "header", "scheme", "customer_id_header")
CREDENTIAL_ENV_RE = re.compile(r"^TOOL_SECRET_[A-Z0-9_]{1,64}$")
HEADER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
# headers the tool layer sets itself or that would change how the request is framed
RESERVED_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding", "connection",
                              "idempotency-key", "accept", "cookie"})


def validate_credentials(payload: Any) -> dict[str, Any] | None:
    """A spec's credentials setting, checked; None clears it. BadRequest names the first bad field."""
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise BadRequest(f"credentials must be null or an object with any of {', '.join(CREDENTIAL_FIELDS)}")
    unknown = [k for k in payload if k not in CREDENTIAL_FIELDS]
    if unknown:
        raise BadRequest(f"credentials: unknown field {unknown[0]!r}; use {', '.join(CREDENTIAL_FIELDS)}")
    env = payload.get("env")
    if env is not None and (not isinstance(env, str) or not CREDENTIAL_ENV_RE.match(env)):
        raise BadRequest(
            f"credentials.env must name an environment variable TOOL_SECRET_<NAME> (upper case), got {env!r}: "
            "the secret stays in the server's environment, and only variables so named may be sent to an API"
        )
    for key in ("header", "customer_id_header"):
        value = payload.get(key)
        if value is not None and (
            not isinstance(value, str) or not HEADER_RE.match(value) or value.lower() in RESERVED_HEADERS
        ):
            raise BadRequest(
                f"credentials.{key} must be a header name (letters, digits, '-'), not one the server sets itself "
                f"({', '.join(sorted(RESERVED_HEADERS))}); got {value!r}"
            )
    scheme = payload.get("scheme", "Bearer")
    if not isinstance(scheme, str) or not re.match(r"^[A-Za-z0-9-]{0,32}$", scheme):
        raise BadRequest(f"credentials.scheme must be a word such as Bearer, or \"\" for none; got {scheme!r}")
    if env is None and payload.get("customer_id_header") is None:
        raise BadRequest("credentials must give env (a secret to send) or customer_id_header, or be null for none")
    return {
        "env": env,
        "header": payload.get("header") or "Authorization",
        "scheme": scheme,
        "customer_id_header": payload.get("customer_id_header"),
    }


async def set_credentials(pool: AsyncConnectionPool, *, spec_id: str, payload: Any, actor: str) -> dict[str, Any]:
    """Set (or clear, with null) the credentials the spec's tools send; audited; answers the spec."""
    credentials = validate_credentials(payload)
    async with pool.connection() as conn, conn.transaction():
        row = await store.get_spec(conn, spec_id)
        if row is None:
            raise NotFound(f"spec {spec_id!r} not found; GET /api/openapi/specs lists the imported ones")
        await store.update_credentials(conn, spec_id=spec_id, credentials=credentials)
        await store.insert_audit(
            conn,
            spec_id=spec_id,
            operation_id="",
            actor=actor,
            action="credentials",
            changes={"credentials": {"old": row["credentials"], "new": credentials}},
            note="credentials set" if credentials else "credentials cleared: the API is called without any",
        )
        detail = await spec_detail(conn, spec_id)
    assert detail is not None
    return detail
