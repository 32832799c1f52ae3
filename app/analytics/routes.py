"""/api/analytics: the dashboard summary (operators and admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.analytics import summary as service
from app.api.deps import OperatorDep, ServicesDep

router = APIRouter(prefix="/analytics", tags=["analytics"])


class ApprovalStats(BaseModel):
    approved: int
    edited: int
    rejected: int
    expired: int
    superseded: int
    pending: int
    median_decision_s: float | None


class Percentiles(BaseModel):
    p50: float | None
    p95: float | None
    runs: int


class Resolutions(BaseModel):
    automated: int
    assisted: int
    escalated: int
    abandoned: int
    open: int


class FeedbackCounts(BaseModel):
    up: int
    down: int
    score_avg: float | None
    scored: int


class SeriesPoint(BaseModel):
    bucket: str
    conversations: int
    messages: int
    automated: int
    assisted: int
    escalations: int
    abandoned: int
    tool_errors: int
    tokens: int
    cost_usd: float


class FirstReply(BaseModel):
    p50: float | None
    p90: float | None
    count: int


class OperatorCounts(BaseModel):
    user_id: str
    name: str
    conversations: int
    messages: int
    resolved: int
    handed_back: int


class HandoffStats(BaseModel):
    handoffs: int
    waiting: int
    held: int
    first_reply_s: FirstReply
    resolved_by_human: int
    handed_back: int
    resolved_by_assistant: int
    operators: list[OperatorCounts]


class Summary(BaseModel):
    range: str
    from_: str
    to: str
    bucket: Literal["hour", "day"]
    conversations: int
    messages: int
    user_messages: int
    agent_messages: int
    resolutions: Resolutions
    automated_resolution_rate: float
    escalation_rate: float
    approvals: dict[str, ApprovalStats]
    intents: dict[str, int]
    agents: dict[str, int]
    tool_calls: int
    tool_errors: int
    tool_error_rate: float
    ttft_ms: Percentiles
    tokens: int
    tokens_per_conversation: float
    cost_usd: float
    cost_per_conversation_usd: float
    csat: float | None
    feedback: FeedbackCounts
    series: list[SeriesPoint]
    handoffs: HandoffStats

    model_config = {"populate_by_name": True, "alias_generator": lambda n: "from" if n == "from_" else n}


@router.get("/summary", response_model=Summary, response_model_by_alias=True)
async def summary(
    services: ServicesDep,
    _: OperatorDep,
    range: Literal["24h", "7d", "30d"] | None = Query(None, description="The last 24h, 7d or 30d (default 24h)."),
    from_: datetime | None = Query(None, alias="from", description="Start (ISO 8601; naive = UTC)."),
    to: datetime | None = Query(None, description="End, exclusive (ISO 8601; default now)."),
) -> dict[str, object]:
    return await service.summary(services.pool, prices=services.settings.model_prices,
                                 range_=range, start=from_, end=to)
