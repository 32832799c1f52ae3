"""The REST API: one router per resource under /api, gathered here."""

from __future__ import annotations

from fastapi import APIRouter

from app.analytics import replay_routes as replay
from app.analytics import routes as analytics
from app.api import health
from app.approvals import routes as interrupts
from app.conversations import routes as threads
from app.handoffs import routes as handoffs
from app.integrations.openapi import routes as openapi_specs
from app.knowledge import routes as knowledge

__all__ = ["api_router"]

api_router = APIRouter(prefix="/api")
api_router.include_router(health.router)
api_router.include_router(threads.router)
api_router.include_router(interrupts.router)
api_router.include_router(openapi_specs.router)
api_router.include_router(replay.router)
api_router.include_router(analytics.router)
api_router.include_router(handoffs.router)
api_router.include_router(knowledge.router)
