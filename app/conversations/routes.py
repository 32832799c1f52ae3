"""/api/threads: create, list, transcript, status, usage, retry, undo, import, delete."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from app.api.deps import PrincipalDep, ServicesDep
from app.conversations import threads as service
from graphs.events import InterruptEvent

router = APIRouter(prefix="/threads", tags=["threads"])

ThreadPath = str


class ThreadCreate(BaseModel):
    title: str = Field(default="", max_length=200)


class ImportedMessage(BaseModel):
    role: str
    content: str
    agent: str | None = None


class ThreadImport(BaseModel):
    title: str = Field(default="", max_length=200)
    messages: list[ImportedMessage] = Field(max_length=1000)


# ---- answers

class ThreadCreated(BaseModel):
    thread_id: str


class ThreadSummary(BaseModel):
    thread_id: str
    title: str
    status: str
    user_id: str
    message_count: int
    created_at: str | None
    updated_at: str | None


class ThreadList(BaseModel):
    data: list[ThreadSummary]
    count: int


class TranscriptMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    agent: str | None


class Transcript(BaseModel):
    thread_id: str
    title: str
    status: str
    messages: list[TranscriptMessage]
    created_at: str | None
    updated_at: str | None


class ThreadImported(BaseModel):
    ok: Literal[True]
    thread: Transcript


class ThreadStatus(BaseModel):
    thread_id: str
    status: str = Field(description="idle, running, interrupted or handoff.")
    agent_running: bool
    message_count: int
    pending_interrupt: InterruptEvent | None
    model: str
    created_at: str | None
    updated_at: str | None
    last_seq: int


class ThreadUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    estimated_cost_usd: float


class Retried(BaseModel):
    ok: Literal[True]
    last_user_text: str = Field(description="Send it again as a message; that run's trigger is retry.")
    removed_count: int


class Undone(BaseModel):
    ok: Literal[True]
    removed_count: int
    removed_preview: str


@router.post("", response_model=ThreadCreated)
async def create_thread(services: ServicesDep, principal: PrincipalDep, body: ThreadCreate | None = None) -> dict[str, Any]:
    return await service.create_thread(services, principal, body.title if body else "")


@router.get("", response_model=ThreadList)
async def list_threads(services: ServicesDep, principal: PrincipalDep, limit: int = Query(50, ge=1, le=500),
                       offset: int = Query(0, ge=0)) -> dict[str, Any]:
    return await service.list_threads(services, principal, limit=limit, offset=offset)


@router.post("/import", response_model=ThreadImported)
async def import_thread(services: ServicesDep, principal: PrincipalDep, body: ThreadImport) -> dict[str, Any]:
    return await service.import_thread(services, principal, body.title, [m.model_dump() for m in body.messages])


@router.get("/{thread_id}", response_model=Transcript)
async def get_thread(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> dict[str, Any]:
    return await service.get_transcript(services, principal, thread_id)


@router.get("/{thread_id}/status", response_model=ThreadStatus)
async def get_status(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> dict[str, Any]:
    return await service.get_status(services, principal, thread_id)


@router.get("/{thread_id}/usage", response_model=ThreadUsage)
async def get_usage(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> dict[str, Any]:
    return await service.get_usage(services, principal, thread_id)


@router.post("/{thread_id}/retry", response_model=Retried)
async def retry(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> dict[str, Any]:
    return await service.retry(services, principal, thread_id)


@router.post("/{thread_id}/undo", response_model=Undone)
async def undo(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> dict[str, Any]:
    return await service.undo(services, principal, thread_id)


@router.delete("/{thread_id}", status_code=204, response_class=Response)
async def delete_thread(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> Response:
    await service.delete_thread(services, principal, thread_id)
    return Response(status_code=204)
