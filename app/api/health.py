"""GET /api/health: is the server up and can it reach Postgres; GET /api/health/live: is it up.

Readiness probes and load balancers use /api/health (a replica that cannot reach
Postgres takes no traffic); liveness probes use /api/health/live, which never looks at
Postgres: a database outage must not make Kubernetes restart every replica at once.

Anyone may call it (load balancers do), so a database problem is answered with a
correlation id; the raw driver error, which can name hosts and users, goes only
to the log line with that id.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app import __version__
from app.api.deps import ServicesDep
from app.core.db import check_database
from app.core.logging import correlation_id, get_logger

log = get_logger(__name__)

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "error"]
    version: str
    database: str = Field(description='"ok", or "unavailable: ..." naming the problem (with status 503).')
    auth_required: bool | None = Field(default=None, description="Whether clients must present a token.")
    error: str | None = None


@router.get("/health/live", response_model=Health, response_model_exclude_none=True)
async def live() -> Health:
    """Liveness: the process answers (no database round trip; a readiness probe uses /api/health)."""
    return Health(status="ok", version=__version__, database="not checked")


@router.get("/health", response_model=Health, response_model_exclude_none=True,
            responses={503: {"model": Health, "description": "The database is down."}})
async def health(services: ServicesDep) -> Health | JSONResponse:
    # the 503 goes out as a JSONResponse (a status of its own); its body is a `Health` too
    problem = await check_database(services.pool)
    if problem is None:
        return Health(status="ok", version=__version__, database="ok",  # type: ignore[return-value]
                      auth_required=services.settings.auth_enabled)
    cid = correlation_id()
    log.error("health_database_unavailable", correlation_id=cid, error=problem)
    return JSONResponse(
        {"status": "error", "version": __version__, "database": "unavailable",
         "error": f"database unavailable (correlation id {cid}; the server log has the cause)"},
        status_code=503,
    )
