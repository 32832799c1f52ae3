"""/api/replay: conversation listings (operators, admins), one thread's timeline, and that timeline as an eval case."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from app.analytics import replay as service
from app.api.deps import OperatorDep, PrincipalDep, ServicesDep
from graphs.events import THREAD_ID_PATTERN, Event

router = APIRouter(prefix="/replay", tags=["replay"])

Resolution = Literal["automated", "assisted", "escalated", "abandoned", "open"]


class InterruptOutcome(BaseModel):
    interrupt_id: str
    action: str | None
    agent: str | None
    outcome: str | None
    created_at: str | None
    decided_at: str | None
    decided_by: str | None


class ConversationHandoff(BaseModel):
    at: str | None
    queue: str | None
    reason: str


class Feedback(BaseModel):
    up: int
    down: int


class Conversation(BaseModel):
    thread_id: str
    user_id: str
    title: str
    started_at: str
    last_activity_at: str
    ended_at: str | None
    status: str
    resolution: Resolution
    intents: list[str]
    agents: list[str]
    tools: list[str]
    messages: int
    user_messages: int
    agent_messages: int
    runs: int
    tool_calls: int
    tool_errors: int
    run_errors: int
    interrupts: int
    interrupt_outcomes: list[InterruptOutcome]
    handoff: ConversationHandoff | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    feedback: Feedback
    last_seq: int


class Conversations(BaseModel):
    data: list[Conversation]
    count: int
    limit: int
    offset: int
    next_cursor: str | None


class Timeline(BaseModel):
    thread_id: str
    events: list[Event]


@router.get("", response_model=Conversations)
async def list_conversations(
    services: ServicesDep,
    principal: OperatorDep,
    from_: datetime | None = Query(None, alias="from", description="Started at or after (ISO 8601)."),
    to: datetime | None = Query(None, description="Started before (ISO 8601)."),
    intent: str | None = Query(None, max_length=100),
    agent: str | None = Query(None, max_length=100),
    resolution: Resolution | None = None,
    outcome: Resolution | None = Query(None, description="Another name for resolution."),
    has_interrupt: bool | None = None,
    user_id: str | None = Query(None, max_length=256),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0),
    cursor: str | None = Query(None, max_length=512, description="next_cursor of the previous page."),
) -> dict[str, Any]:
    return await service.list_conversations(
        services.pool, principal, prices=services.settings.model_prices, start=from_, end=to,
        intent=intent, agent=agent, resolution=resolution or outcome, has_interrupt=has_interrupt,
        user_id=user_id, limit=limit, offset=offset, cursor=cursor,
    )


@router.get("/{thread_id}", response_model=Timeline)
async def thread_timeline(
    services: ServicesDep,
    principal: PrincipalDep,
    thread_id: str = Path(pattern=THREAD_ID_PATTERN),
    tokens: bool = Query(True, description="false: leave out token deltas (answers stay whole)."),
) -> StreamingResponse:
    # Streamed a page of the log at a time (REPLAY_PAGE_SIZE), so a thread of 100k events
    # never sits in memory whole. That is why the body is not built from `Timeline`:
    # validating it would mean holding it all. The events are graphs.events models
    # encoded as stored (byte for byte what went out live); `response_model` still puts
    # `Timeline` and the Event union into the OpenAPI document, and the contract test
    # validates real bodies against it.
    chunks = await service.timeline(services.pool, principal, thread_id, tokens=tokens,
                                    page_size=services.settings.replay_page_size, slots=services.replay_slots)
    return StreamingResponse(chunks, media_type="application/json")


class EvalCaseExport(BaseModel):
    case: dict[str, Any]
    yaml: str


@router.get("/{thread_id}/eval-case", response_model=EvalCaseExport)
async def thread_eval_case(
    services: ServicesDep,
    principal: PrincipalDep,
    thread_id: str = Path(pattern=r"^[A-Za-z0-9_-]{1,64}$"),
    case_id: str | None = Query(None, pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$", description="The case id to give it."),
) -> EvalCaseExport:
    """The replayed conversation as an eval case (what happened, to edit into what should; docs/evals.md)."""
    from app.evals.export import eval_case_for_thread

    return EvalCaseExport(**await eval_case_for_thread(services.pool, principal, thread_id, case_id))
