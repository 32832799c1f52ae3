"""/api/interrupts: the operators' approval inbox and their decisions."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from app.api.deps import OperatorDep, PrincipalDep, ServicesDep
from app.approvals import service
from app.conversations.threads import list_inbox

router = APIRouter(prefix="/interrupts", tags=["interrupts"])


class Decision(BaseModel):
    approved: bool
    args: dict[str, Any] | None = None
    reason: str | None = Field(default=None, max_length=10_000)


@router.get("")
async def inbox(services: ServicesDep, operator: OperatorDep,
                status: Literal["pending", "approved", "rejected", "expired", "superseded", "all"] = "pending",
                limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0)) -> dict[str, Any]:
    return await list_inbox(services, status=None if status == "all" else status, limit=limit, offset=offset,
                            principal=operator)


@router.post("/{interrupt_id}/decision")
async def decide(services: ServicesDep, principal: PrincipalDep, interrupt_id: str, body: Decision) -> dict[str, Any]:
    await service.decide(services, principal, thread_id=None, interrupt_id=interrupt_id, approved=body.approved,
                         args=body.args, reason=body.reason)
    return {"ok": True, "interrupt_id": interrupt_id, "approved": body.approved}
