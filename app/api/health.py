"""GET /api/health: is the server up and can it reach Postgres; GET /api/health/live: is it up.

Readiness probes and load balancers use /api/health (a replica that cannot reach
Postgres takes no traffic); liveness probes use /api/health/live, which never looks at
Postgres: a database outage must not make Kubernetes restart every replica at once.

Anyone may call it (load balancers do), so a database problem is answered with a
correlation id; the raw driver error, which can name hosts and users, goes only
to the log line with that id.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app import __version__
from app.api.deps import ServicesDep
from app.core.db import check_database
from app.core.logging import correlation_id, get_logger

log = get_logger(__name__)

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    problem = await check_database(services.pool)
    if problem is None:
        return JSONResponse({"status": "ok", "version": __version__, "database": "ok",
                             "auth_required": services.settings.auth_enabled})
    cid = correlation_id()
    log.error("health_database_unavailable", correlation_id=cid, error=problem)
    return JSONResponse(
        {"status": "error", "version": __version__, "database": "unavailable",
         "error": f"database unavailable (correlation id {cid}; the server log has the cause)"},
        status_code=503,
    )
