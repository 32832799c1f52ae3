"""LangGraph's Agent Server API over HTTP (mounted under LG_API_PREFIX, `/lg` by default).

Paths, bodies and responses as `langgraph-sdk` (Python) and `@langchain/langgraph-sdk`
(JS, `useStream`) send and parse them; each route parses, calls `service`, and
returns JSON or an SSE stream. Auth is our JWT as `Authorization: Bearer` or
`x-api-key` (what the SDKs send). Options we do not support are refused with 422
naming the field (the request models forbid unknown fields). docs/langgraph-api.md
has the compatibility table.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.agent_server import service
from app.agent_server.errors import Unsupported
from app.agent_server.tail import follow
from app.agent_server.translate import STREAM_MODES, Translator
from app.api.deps import ServicesDep
from app.conversations.threads import delete_thread
from app.core.errors import NotFound
from app.core.security import Principal, authenticate, bearer_token
from graphs.events import RUN_END_TYPES

__all__ = ["build_router"]


def get_lg_principal(request: Request) -> Principal:
    secret = request.app.state.services.settings.auth_secret
    token = bearer_token(request.headers.get("authorization")) or request.headers.get("x-api-key") or None
    return authenticate(secret, token)


LgPrincipal = Annotated[Principal, Depends(get_lg_principal)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssistantSearch(_Body):
    graph_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: str | None = None
    sort_order: str | None = None
    select: list[str] | None = None


class ThreadCreate(_Body):
    thread_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"


class ThreadUpdate(_Body):
    metadata: dict[str, Any] = Field(default_factory=dict)


class ThreadSearch(_Body):
    ids: list[str] | None = Field(default=None, max_length=1000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: int = Field(default=10, ge=1, le=200)  # each thread carries its state values
    offset: int = Field(default=0, ge=0)
    sort_by: Literal["thread_id", "status", "created_at", "updated_at"] = "updated_at"
    sort_order: Literal["asc", "desc"] = "desc"


class HistoryRequest(_Body):
    limit: int = Field(default=10, ge=1, le=1000)
    before: str | dict[str, Any] | None = None


class RunCreate(_Body):
    assistant_id: str
    input: Any = None
    command: dict[str, Any] | None = None
    stream_mode: str | list[str] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    multitask_strategy: Literal["reject", "interrupt"] = "reject"
    on_disconnect: Literal["cancel", "continue"] = "continue"
    if_not_exists: Literal["create", "reject"] | None = None
    on_completion: Literal["delete", "keep"] | None = None
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None
    durability: Literal["sync", "async", "exit"] | None = None

    def modes(self) -> list[str]:
        modes = [self.stream_mode] if isinstance(self.stream_mode, str) else list(self.stream_mode)
        for m in modes:
            if m not in STREAM_MODES:
                raise Unsupported("stream_mode", f"{m!r} is not supported; use any of {', '.join(STREAM_MODES)}")
        return modes or ["values"]

    def check(self) -> None:
        """Options the model accepts in shape but this server does not support in value."""
        for key, value in (self.config or {}).items():
            extra = sorted(set(value or {}) - {"thread_id"}) if key == "configurable" else [key]
            if extra:
                field = f"config.configurable.{extra[0]}" if key == "configurable" else f"config.{key}"
                raise Unsupported(field, "per-run configuration is not supported; the server's settings "
                                         "configure the graph")
        if self.context:
            raise Unsupported("context", "per-run context is not supported; the caller's identity comes from the token")
        if self.checkpoint or self.checkpoint_id:
            raise Unsupported("checkpoint" if self.checkpoint else "checkpoint_id",
                              "running from an earlier checkpoint (branching) is not supported; "
                              "leave it out to continue from the thread's latest state")
        self.modes()


def _sse(event: str, data: Any, event_id: int | None) -> bytes:
    head = f"event: {event}\n".encode()
    body = b"data: " + orjson.dumps(data) + b"\n"
    return head + body + (f"id: {event_id}\n".encode() if event_id is not None else b"") + b"\n"


def _locations(thread_id: str, run_id: str) -> dict[str, str]:
    # relative to the API root, as the SDKs join them onto their base URL
    return {"Location": f"/threads/{thread_id}/runs/{run_id}/stream",
            "Content-Location": f"/threads/{thread_id}/runs/{run_id}"}


def _stream(services: Any, principal: Principal, *, thread_id: str, run_id: str, after_seq: int, end_from_seq: int,
            modes: list[str], masked: bool, cancel_on_disconnect: bool = False,
            delete_after: bool = False) -> AsyncIterator[bytes]:
    translator = Translator(modes=modes, graph_id=service.GRAPH_ID,
                            values_of=lambda: service.thread_values(services, thread_id, masked))

    async def frames() -> AsyncIterator[bytes]:
        ended = False
        try:
            yield _sse("metadata", {"run_id": run_id, "thread_id": thread_id}, after_seq)
            async for ev in follow(services, principal, thread_id, after_seq=after_seq, end_from_seq=end_from_seq,
                                   masked=masked, heartbeat_s=services.settings.lg_heartbeat_s):
                if ev is None:
                    yield b": heartbeat\n\n"
                    continue
                for name, data in await translator.parts(ev):
                    yield _sse(name, data, ev["seq"])
                ended = ev["type"] in RUN_END_TYPES and ev["seq"] >= end_from_seq
        finally:
            # the client went away (this generator is being cancelled): finish the cleanup anyway
            with anyio.CancelScope(shield=True):
                if not ended and cancel_on_disconnect:
                    with contextlib.suppress(Exception):
                        await services.runs.cancel(principal, thread_id)
                if ended and delete_after:
                    with contextlib.suppress(Exception):
                        await delete_thread(services, principal, thread_id)

    return frames()


def _last_event_id(header: str | None, first_seq: int) -> int:
    """Replay after this seq: the header's (within the run), `-1` or none for the whole run."""
    if header is None or header.strip() in ("", "-1"):
        return first_seq - 1
    try:
        seq = int(header.strip())
    except ValueError:
        raise Unsupported("Last-Event-ID", f"must be an event id this server sent (an integer), got {header!r}") from None
    return max(seq, first_seq - 1)


def build_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["agent-server"])

    @router.get("/info")
    async def get_info() -> dict[str, Any]:
        return service.info()

    @router.get("/ok")
    async def ok() -> dict[str, Any]:
        return {"ok": True}

    # assistants
    @router.post("/assistants/search")
    async def search_assistants(principal: LgPrincipal, body: AssistantSearch | None = None) -> list[dict[str, Any]]:
        body = body or AssistantSearch()
        a = service.assistant()
        matches = (body.graph_id in (None, a["graph_id"]) and body.name in (None, a["name"])
                   and all(a["metadata"].get(k) == v for k, v in (body.metadata or {}).items()))
        return [a][body.offset:body.offset + body.limit] if matches else []

    @router.post("/assistants/count")
    async def count_assistants(principal: LgPrincipal, body: AssistantSearch | None = None) -> int:
        return len(await search_assistants(principal, body))

    @router.get("/assistants/{assistant_id}")
    async def get_assistant(principal: LgPrincipal, assistant_id: str) -> dict[str, Any]:
        return service.resolve_assistant(assistant_id)

    # threads
    @router.post("/threads")
    async def create_thread(services: ServicesDep, principal: LgPrincipal,
                            body: ThreadCreate | None = None) -> dict[str, Any]:
        body = body or ThreadCreate()
        return await service.create_thread(services, principal, thread_id=body.thread_id, metadata=body.metadata,
                                           if_exists=body.if_exists)

    @router.post("/threads/search")
    async def search_threads(services: ServicesDep, principal: LgPrincipal,
                             body: ThreadSearch | None = None) -> list[dict[str, Any]]:
        b = body or ThreadSearch()
        return await service.search_threads(services, principal, ids=b.ids, metadata=b.metadata, status=b.status,
                                            sort_by=b.sort_by, sort_order=b.sort_order, limit=b.limit,
                                            offset=b.offset)

    @router.get("/threads/{thread_id}")
    async def get_thread(services: ServicesDep, principal: LgPrincipal, thread_id: str) -> dict[str, Any]:
        return await service.get_thread(services, principal, thread_id)

    @router.patch("/threads/{thread_id}")
    async def update_thread(services: ServicesDep, principal: LgPrincipal, thread_id: str,
                            body: ThreadUpdate) -> dict[str, Any]:
        return await service.update_thread(services, principal, thread_id, metadata=body.metadata)

    @router.delete("/threads/{thread_id}", status_code=204)
    async def delete_lg_thread(services: ServicesDep, principal: LgPrincipal, thread_id: str) -> Response:
        await delete_thread(services, principal, thread_id)  # 409 while a run is active, as on /api
        return Response(status_code=204)

    @router.get("/threads/{thread_id}/state")
    async def get_state(services: ServicesDep, principal: LgPrincipal, thread_id: str) -> dict[str, Any]:
        return await service.get_state(services, principal, thread_id)

    @router.post("/threads/{thread_id}/state")
    async def update_state(principal: LgPrincipal, thread_id: str) -> dict[str, Any]:
        raise Unsupported("values", "editing a thread's state directly is not supported: it would bypass the "
                                    "approval policy; send a message, or resume with command")

    @router.post("/threads/{thread_id}/history")
    async def get_history(services: ServicesDep, principal: LgPrincipal, thread_id: str,
                          body: HistoryRequest | None = None) -> list[dict[str, Any]]:
        b = body or HistoryRequest()
        before = b.before.get("checkpoint_id") if isinstance(b.before, dict) else b.before
        return await service.history(services, principal, thread_id, limit=b.limit, before=before)

    # runs
    async def _start(services: Any, principal: Principal, thread_id: str, body: RunCreate,
                     *, if_not_exists: str | None = None) -> service.StartedRun:
        body.check()
        return await service.start_run(services, principal, thread_id, graph_input=body.input, command=body.command,
                                       assistant_id=body.assistant_id, metadata=body.metadata,
                                       multitask_strategy=body.multitask_strategy,
                                       if_not_exists=if_not_exists or body.if_not_exists)

    async def _stream_response(services: Any, principal: Principal, started: service.StartedRun, body: RunCreate,
                               *, delete_after: bool = False) -> StreamingResponse:
        masked = await service.is_masked(services, principal, started.thread_id)
        frames = _stream(services, principal, thread_id=started.thread_id, run_id=started.run_id,
                         after_seq=started.first_seq - 1, end_from_seq=started.first_seq, modes=body.modes(),
                         masked=masked, cancel_on_disconnect=body.on_disconnect == "cancel",
                         delete_after=delete_after)
        return StreamingResponse(frames, media_type="text/event-stream",
                                 headers={**_locations(started.thread_id, started.run_id), "Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    @router.post("/threads/{thread_id}/runs/stream")
    async def stream_run(services: ServicesDep, principal: LgPrincipal, thread_id: str,
                         body: RunCreate) -> StreamingResponse:
        started = await _start(services, principal, thread_id, body)
        return await _stream_response(services, principal, started, body)

    @router.post("/threads/{thread_id}/runs")
    async def create_run(services: ServicesDep, principal: LgPrincipal, thread_id: str,
                         body: RunCreate) -> JSONResponse:
        started = await _start(services, principal, thread_id, body)
        run = await service.get_run(services, principal, thread_id, started.run_id)
        return JSONResponse(run, headers=_locations(thread_id, started.run_id))

    @router.post("/threads/{thread_id}/runs/wait")
    async def wait_run(services: ServicesDep, principal: LgPrincipal, thread_id: str, body: RunCreate) -> JSONResponse:
        started = await _start(services, principal, thread_id, body)
        values = await service.join_run(services, principal, thread_id, started.run_id)
        return JSONResponse(values, headers={"Content-Location": _locations(thread_id, started.run_id)["Content-Location"]})

    @router.get("/threads/{thread_id}/runs")
    async def list_runs(services: ServicesDep, principal: LgPrincipal, thread_id: str,
                        limit: int = Query(10, ge=1, le=1000), offset: int = Query(0, ge=0),
                        status: str | None = None) -> list[dict[str, Any]]:
        return await service.list_runs(services, principal, thread_id, limit=limit, offset=offset, status=status)

    @router.get("/threads/{thread_id}/runs/{run_id}")
    async def get_run(services: ServicesDep, principal: LgPrincipal, thread_id: str, run_id: str) -> dict[str, Any]:
        return await service.get_run(services, principal, thread_id, run_id)

    @router.get("/threads/{thread_id}/runs/{run_id}/join")
    async def join_run(services: ServicesDep, principal: LgPrincipal, thread_id: str, run_id: str) -> dict[str, Any]:
        return await service.join_run(services, principal, thread_id, run_id)

    @router.get("/threads/{thread_id}/runs/{run_id}/stream")
    async def join_stream(services: ServicesDep, principal: LgPrincipal, thread_id: str, run_id: str,
                          stream_mode: Annotated[list[str] | None, Query()] = None,
                          cancel_on_disconnect: bool = False,
                          last_event_id: str | None = Header(None, alias="Last-Event-ID")) -> StreamingResponse:
        first = await service.run_start_seq(services, principal, thread_id, run_id)
        modes = RunCreate(assistant_id=service.ASSISTANT_ID,
                          stream_mode=stream_mode or ["values", "updates", "messages-tuple", "custom"]).modes()
        masked = await service.is_masked(services, principal, thread_id)
        frames = _stream(services, principal, thread_id=thread_id, run_id=run_id,
                         after_seq=_last_event_id(last_event_id, first), end_from_seq=first, modes=modes,
                         masked=masked, cancel_on_disconnect=cancel_on_disconnect)
        return StreamingResponse(frames, media_type="text/event-stream",
                                 headers={**_locations(thread_id, run_id), "Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    @router.post("/threads/{thread_id}/runs/{run_id}/cancel")
    async def cancel_run(services: ServicesDep, principal: LgPrincipal, thread_id: str, run_id: str,
                         wait: bool = False, action: Literal["interrupt", "rollback"] = "interrupt") -> Response:
        run = await service.cancel_run(services, principal, thread_id, run_id, action=action, wait=wait)
        return JSONResponse(run, status_code=200 if wait else 202)

    # stateless runs: a thread of their own, deleted afterwards unless on_completion="keep"
    async def _stateless(services: Any, principal: Principal, body: RunCreate) -> service.StartedRun:
        body.check()
        created = await service.create_thread(services, principal, thread_id=None, metadata={}, if_exists="raise")
        try:
            return await _start(services, principal, created["thread_id"], body)
        except Exception:
            with contextlib.suppress(Exception):
                await delete_thread(services, principal, created["thread_id"])
            raise

    @router.post("/runs/stream")
    async def stateless_stream(services: ServicesDep, principal: LgPrincipal, body: RunCreate) -> StreamingResponse:
        started = await _stateless(services, principal, body)
        return await _stream_response(services, principal, started, body,
                                      delete_after=(body.on_completion or "delete") == "delete")

    @router.post("/runs/wait")
    async def stateless_wait(services: ServicesDep, principal: LgPrincipal, body: RunCreate) -> JSONResponse:
        started = await _stateless(services, principal, body)
        values = await service.join_run(services, principal, started.thread_id, started.run_id)
        if (body.on_completion or "delete") == "delete":
            with contextlib.suppress(NotFound):
                await delete_thread(services, principal, started.thread_id)
        return JSONResponse(values, headers={
            "Content-Location": _locations(started.thread_id, started.run_id)["Content-Location"]})

    return router
