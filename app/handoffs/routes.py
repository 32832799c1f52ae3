"""REST for a human takeover: the queue, claim, a person's message, release (staff only)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from app.api.deps import OperatorDep, ServicesDep
from app.handoffs import service
from graphs.events import Event

router = APIRouter(tags=["handoffs"])


class Holder(BaseModel):
    user_id: str
    name: str


class HandoffItem(BaseModel):
    thread_id: str
    status: Literal["waiting", "held"]
    reason: str
    queue: str
    waiting_since: str
    waited_s: int
    holder: Holder | None
    claimed_at: str | None
    user_id: str
    title: str
    last_customer_message: str | None
    last_customer_at: str | None
    customer_messages: int
    human_messages: int
    last_seq: int


class HandoffList(BaseModel):
    data: list[HandoffItem]
    count: int


class TakeoverResult(BaseModel):
    ok: bool = True
    thread_id: str
    status: Literal["held", "released"]
    holder: Holder | None = None
    outcome: Literal["back_to_assistant", "resolved"] | None = None
    events: list[Event] = Field(description="The events this call appended, as sent to the thread's sockets.")


class OperatorMessageBody(BaseModel):
    content: str = Field(min_length=1, max_length=10_000)
    client_msg_id: str | None = Field(default=None, max_length=200)


class ReleaseBody(BaseModel):
    outcome: Literal["back_to_assistant", "resolved"]


@router.get("/handoffs")
async def list_handoffs(services: ServicesDep, _: OperatorDep,
                        status: Literal["waiting", "held", "open"] = "waiting",
                        limit: int = Query(200, ge=1, le=1000)) -> HandoffList:
    statuses = ["waiting", "held"] if status == "open" else [status]
    items = await service.list_handoffs(services, statuses=statuses, limit=limit)
    return HandoffList(data=[HandoffItem(**i) for i in items], count=len(items))


@router.post("/threads/{thread_id}/claim")
async def claim(services: ServicesDep, principal: OperatorDep, thread_id: str) -> TakeoverResult:
    return TakeoverResult(**await service.claim(services, principal, thread_id))


@router.post("/threads/{thread_id}/messages")
async def operator_message(services: ServicesDep, principal: OperatorDep, thread_id: str,
                           body: OperatorMessageBody) -> TakeoverResult:
    result = await service.operator_message(services, principal, thread_id, body.content, body.client_msg_id)
    result.pop("client_msg_id", None)
    return TakeoverResult(**result)


@router.post("/threads/{thread_id}/release")
async def release(services: ServicesDep, principal: OperatorDep, thread_id: str, body: ReleaseBody) -> TakeoverResult:
    return TakeoverResult(**await service.release(services, principal, thread_id, body.outcome))
