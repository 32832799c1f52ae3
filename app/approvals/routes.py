"""/api/interrupts: the operators' approval inbox and their decisions."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import OperatorDep, PrincipalDep, ServicesDep
from app.approvals import service
from app.conversations.threads import list_inbox
from graphs.events import InterruptEvent

router = APIRouter(prefix="/interrupts", tags=["interrupts"])


class Decision(BaseModel):
    approved: bool
    args: dict[str, Any] | None = None
    reason: str | None = Field(default=None, max_length=10_000)


class InboxItem(InterruptEvent):
    """An `interrupt` event as it was sent, with where it stands now."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["pending", "approved", "rejected", "expired", "superseded"]
    user_id: str = Field(description="The thread's customer.")
    created_at: str | None
    decided_at: str | None
    decided_by: str | None
    edited_args: dict[str, Any] | None
    reason: str | None


class Inbox(BaseModel):
    data: list[InboxItem]
    count: int


class Decided(BaseModel):
    ok: Literal[True]
    interrupt_id: str
    approved: bool


@router.get("", response_model=Inbox)
async def inbox(services: ServicesDep, operator: OperatorDep,
                status: Literal["pending", "approved", "rejected", "expired", "superseded", "all"] = "pending",
                limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0)) -> dict[str, Any]:
    return await list_inbox(services, status=None if status == "all" else status, limit=limit, offset=offset,
                            principal=operator)


@router.post("/{interrupt_id}/decision", response_model=Decided)
async def decide(services: ServicesDep, principal: PrincipalDep, interrupt_id: str, body: Decision) -> dict[str, Any]:
    await service.decide(services, principal, thread_id=None, interrupt_id=interrupt_id, approved=body.approved,
                         args=body.args, reason=body.reason)
    return {"ok": True, "interrupt_id": interrupt_id, "approved": body.approved}
