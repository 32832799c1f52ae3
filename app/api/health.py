"""GET /api/health: is the server up and can it reach Postgres."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app import __version__
from app.api.deps import ServicesDep
from app.core.db import check_database

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    problem = await check_database(services.pool)
    if problem is None:
        return JSONResponse({"status": "ok", "version": __version__, "database": "ok",
                             "auth_required": services.settings.auth_enabled})
    return JSONResponse(
        {"status": "error", "version": __version__, "database": f"unavailable: {problem}",
         "error": f"database unavailable: {problem}"},
        status_code=503,
    )
