"""/api/threads: create, list, transcript, status, usage, retry, undo, import, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from app.api.deps import PrincipalDep, ServicesDep
from app.conversations import threads as service

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


@router.post("")
async def create_thread(services: ServicesDep, principal: PrincipalDep, body: ThreadCreate | None = None) -> dict[str, Any]:
    return await service.create_thread(services, principal, body.title if body else "")


@router.get("")
async def list_threads(services: ServicesDep, principal: PrincipalDep, limit: int = Query(50, ge=1, le=500),
                       offset: int = Query(0, ge=0)) -> dict[str, Any]:
    return await service.list_threads(services, principal, limit=limit, offset=offset)


@router.post("/import")
async def import_thread(services: ServicesDep, principal: PrincipalDep, body: ThreadImport) -> dict[str, Any]:
    return await service.import_thread(services, principal, body.title, [m.model_dump() for m in body.messages])


@router.get("/{thread_id}")
async def get_thread(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> dict[str, Any]:
    return await service.get_transcript(services, principal, thread_id)


@router.get("/{thread_id}/status")
async def get_status(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> dict[str, Any]:
    return await service.get_status(services, principal, thread_id)


@router.get("/{thread_id}/usage")
async def get_usage(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> dict[str, Any]:
    return await service.get_usage(services, principal, thread_id)


@router.post("/{thread_id}/retry")
async def retry(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> dict[str, Any]:
    return await service.retry(services, principal, thread_id)


@router.post("/{thread_id}/undo")
async def undo(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> dict[str, Any]:
    return await service.undo(services, principal, thread_id)


@router.delete("/{thread_id}", status_code=204)
async def delete_thread(services: ServicesDep, principal: PrincipalDep, thread_id: ThreadPath) -> Response:
    await service.delete_thread(services, principal, thread_id)
    return Response(status_code=204)
