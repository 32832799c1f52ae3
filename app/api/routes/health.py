"""GET /api/health: is the server up and can it reach Postgres."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app import __version__
from app.api.deps import ServicesDep
from app.core.db import check_database

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "error"]
    version: str
    database: str = Field(description='"ok", or "unavailable: ..." naming the problem (with status 503).')
    auth_required: bool | None = Field(default=None, description="Whether clients must present a token.")
    error: str | None = None


@router.get("/health", response_model=Health, response_model_exclude_none=True,
            responses={503: {"model": Health, "description": "The database is down."}})
async def health(services: ServicesDep) -> Health | JSONResponse:
    # the 503 goes out as a JSONResponse (a status of its own); its body is a `Health` too
    problem = await check_database(services.pool)
    if problem is None:
        return Health(status="ok", version=__version__, database="ok",  # type: ignore[return-value]
                      auth_required=services.settings.auth_enabled)
    return JSONResponse(
        {"status": "error", "version": __version__, "database": f"unavailable: {problem}",
         "error": f"database unavailable: {problem}"},
        status_code=503,
    )
