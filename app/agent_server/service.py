"""The Agent Server API's logic: assistants, threads, state, runs, in LangGraph's shapes.

A second surface over the one engine: a run here is started by the same functions
the WebSocket calls (`chat.send_message`, `approvals.service.decide`), guarded by the
same run guard, streamed from the same event log, and owned as everywhere (a
customer sees their own threads, staff every thread, operators PII-masked). Nothing
here runs the graph or stores an event; it translates requests in and state out.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from langchain_core.messages import BaseMessage
from pydantic_core import to_jsonable_python

from app import __version__
from app.agent_server import store
from app.agent_server.errors import RunStillGoing, ThreadExists, Unsupported
from app.agent_server.hitl import parse_resume, to_interrupt
from app.agent_server.tail import follow
from app.approvals.service import decide
from app.conversations import chat, threads
from app.core.errors import AppError, NoActiveRun, NotFound
from app.core.pii import mask_payload, should_mask
from app.core.security import Principal

__all__ = [
    "ASSISTANT_ID", "GRAPH_ID", "StartedRun", "assistant", "cancel_run", "check_metadata", "create_thread", "get_run",
    "get_state", "get_thread", "history", "info", "is_masked", "join_run", "list_runs", "resolve_assistant",
    "run_start_seq", "search_threads", "start_run", "thread_values", "update_thread",
]

GRAPH_ID = "support"  # the graph's name in langgraph.json
ASSISTANT_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, GRAPH_ID))
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

# our run statuses -> LangGraph's (an approval pause ends a run successfully; the thread is interrupted)
RUN_STATUS = {"running": "running", "completed": "success", "interrupted": "success", "cancelled": "interrupted",
              "error": "error"}


def _iso(v: Any) -> str | None:
    if v is None:
        return None
    return v.isoformat().replace("+00:00", "Z") if hasattr(v, "isoformat") else str(v)


def _config(thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"thread_id": thread_id}
    if checkpoint_id:
        c["checkpoint_id"] = checkpoint_id
    return {"configurable": c}


def _masked(principal: Principal, owner_id: str | None) -> bool:
    return should_mask(principal.role, principal.user_id, owner_id)


# info and assistants
def info() -> dict[str, Any]:
    return {"version": __version__, "langgraph_py_version": None, "flags": {"assistants": True, "crons": False,
                                                                          "langsmith": False}, "metadata": {}}


def assistant() -> dict[str, Any]:
    ts = _iso(_EPOCH)
    return {"assistant_id": ASSISTANT_ID, "graph_id": GRAPH_ID, "name": GRAPH_ID, "description": None,
            "config": {}, "context": {}, "metadata": {"created_by": "system"}, "version": 1,
            "created_at": ts, "updated_at": ts}


def resolve_assistant(assistant_id: str) -> dict[str, Any]:
    if assistant_id not in (ASSISTANT_ID, GRAPH_ID):
        raise NotFound(f"assistant {assistant_id} not found: this server has one graph, {GRAPH_ID!r} "
                       f"(assistant_id {ASSISTANT_ID}); use either as the assistant id")
    return assistant()


# values and state
def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k == "messages":
            out[k] = [m.model_dump() if isinstance(m, BaseMessage) else to_jsonable_python(m, fallback=str) for m in v]
        else:
            out[k] = to_jsonable_python(v, fallback=str)
    return out


async def thread_values(services: Any, thread_id: str, masked: bool) -> dict[str, Any]:
    state = await services.graph.aget_state(_config(thread_id))
    values = _jsonable(state.values) if state and state.values else {}
    return mask_payload(values) if masked else values


def _interrupts_of(snapshot: Any) -> list[dict[str, Any]]:
    found = []
    for task in snapshot.tasks or ():
        for intr in getattr(task, "interrupts", ()) or ():
            if isinstance(intr.value, dict) and "interrupt_id" in intr.value and "action" in intr.value:
                found.append(to_interrupt(intr.value))
    return found


def _checkpoint(thread_id: str, config: Any) -> dict[str, Any] | None:
    if not config:
        return None
    c = config.get("configurable", {})
    return {"thread_id": thread_id, "checkpoint_ns": c.get("checkpoint_ns", ""),
            "checkpoint_id": c.get("checkpoint_id"), "checkpoint_map": None}


def _state(thread_id: str, snapshot: Any, masked: bool, pending: dict[str, Any] | None, latest: bool) -> dict[str, Any]:
    values = _jsonable(snapshot.values or {})
    tasks = []
    all_interrupts: list[dict[str, Any]] = []
    for task in snapshot.tasks or ():
        interrupts = [to_interrupt(i.value) for i in (getattr(task, "interrupts", ()) or ())
                      if isinstance(i.value, dict) and "interrupt_id" in i.value and "action" in i.value]
        if latest:  # the approval as it stands now (it may have expired or been answered meanwhile)
            interrupts = [to_interrupt(pending)] if pending and interrupts else []
        all_interrupts += interrupts
        tasks.append({"id": task.id, "name": task.name, "path": list(getattr(task, "path", ()) or ()),
                      "error": str(task.error) if getattr(task, "error", None) else None,
                      "interrupts": interrupts, "checkpoint": None, "state": None,
                      "result": to_jsonable_python(getattr(task, "result", None), fallback=str)})
    state = {"values": values, "next": list(snapshot.next or ()),
             "checkpoint": _checkpoint(thread_id, snapshot.config),
             "metadata": to_jsonable_python(snapshot.metadata or {}, fallback=str),
             "created_at": snapshot.created_at, "parent_checkpoint": _checkpoint(thread_id, snapshot.parent_config),
             "tasks": tasks, "interrupts": all_interrupts}
    return mask_payload(state) if masked else state


async def get_state(services: Any, principal: Principal, thread_id: str) -> dict[str, Any]:
    status = await threads.get_status(services, principal, thread_id)  # ownership: 404 / 403
    snapshot = await services.graph.aget_state(_config(thread_id))
    return _state(thread_id, snapshot, await is_masked(services, principal, thread_id),
                  status["pending_interrupt"], latest=True)


async def history(services: Any, principal: Principal, thread_id: str, *, limit: int,
                  before: str | None) -> list[dict[str, Any]]:
    """Newest first; checkpoint ids are LangGraph's (uuid6: they sort by time)."""
    status = await threads.get_status(services, principal, thread_id)
    masked = await is_masked(services, principal, thread_id)
    out: list[dict[str, Any]] = []
    async for snap in services.graph.aget_state_history(
            _config(thread_id), limit=limit, before=_config(thread_id, before) if before else None):
        out.append(_state(thread_id, snap, masked, status["pending_interrupt"], latest=not out and not before))
    return out


async def is_masked(services: Any, principal: Principal, thread_id: str) -> bool:
    if principal.role != "operator":
        return False
    return _masked(principal, await _owner(services, principal, thread_id))


async def _owner(services: Any, principal: Principal, thread_id: str) -> str | None:
    rows = await store.search_threads(services.pool, owner=None, ids=[thread_id], metadata={}, status=None,
                                      sort_by="thread_id", sort_order="asc", limit=1, offset=0,
                                      graph_id=GRAPH_ID, assistant_id=ASSISTANT_ID)
    return rows[0]["owner_id"] if rows else None


# threads
def _thread_status(row_status: str, busy: bool) -> str:
    if busy:
        return "busy"
    return "interrupted" if row_status == "interrupted" else "idle"


async def _thread(services: Any, principal: Principal, row: dict[str, Any], pending: dict[str, Any] | None,
                  with_values: bool = True) -> dict[str, Any]:
    masked = _masked(principal, row["owner_id"])
    tid = row["thread_id"]
    interrupts: dict[str, list[dict[str, Any]]] = {}
    if pending:
        interrupts[pending["interrupt_id"]] = [to_interrupt(mask_payload(pending) if masked else pending)]
    return {"thread_id": tid, "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"]),
            "metadata": row["metadata"], "status": _thread_status(row["status"], row["run_live"]),
            "values": await thread_values(services, tid, masked) if with_values else {},
            "interrupts": interrupts}


async def get_thread(services: Any, principal: Principal, thread_id: str) -> dict[str, Any]:
    status = await threads.get_status(services, principal, thread_id)  # 404 / 403 as on /api
    rows = await store.search_threads(services.pool, owner=None, ids=[thread_id], metadata={}, status=None,
                                      sort_by="thread_id", sort_order="asc", limit=1, offset=0,
                                      graph_id=GRAPH_ID, assistant_id=ASSISTANT_ID)
    if not rows:
        raise NotFound(f"thread {thread_id} not found")
    return await _thread(services, principal, rows[0], status["pending_interrupt"])


def check_metadata(services: Any, metadata: dict[str, Any]) -> None:
    size = len(orjson.dumps(metadata))
    if size > services.settings.lg_metadata_max_bytes:
        raise Unsupported("metadata", f"is {size} bytes of JSON; at most {services.settings.lg_metadata_max_bytes} "
                                      "(LG_METADATA_MAX_BYTES) are stored")


async def create_thread(services: Any, principal: Principal, *, thread_id: str | None,
                        metadata: dict[str, Any], if_exists: str) -> dict[str, Any]:
    check_metadata(services, metadata)
    if thread_id is not None:
        try:
            await threads.get_status(services, principal, thread_id)
        except NotFound:
            pass
        else:
            if if_exists == "do_nothing":
                return await get_thread(services, principal, thread_id)
            raise ThreadExists(f"thread {thread_id} already exists; pass if_exists='do_nothing' to reuse it")
    created = await threads.create_thread(services, principal, thread_id=thread_id)
    if metadata:
        await store.set_metadata(services.pool, created["thread_id"], metadata)
    return await get_thread(services, principal, created["thread_id"])


async def update_thread(services: Any, principal: Principal, thread_id: str, *,
                        metadata: dict[str, Any]) -> dict[str, Any]:
    """Merge `metadata` into the thread's (as LangGraph does)."""
    await threads.get_status(services, principal, thread_id)  # 404 / 403
    check_metadata(services, metadata)
    await store.set_metadata(services.pool, thread_id, metadata)
    return await get_thread(services, principal, thread_id)


async def search_threads(services: Any, principal: Principal, *, ids: list[str] | None, metadata: dict[str, Any],
                         status: str | None, sort_by: str, sort_order: str, limit: int,
                         offset: int) -> list[dict[str, Any]]:
    rows = await store.search_threads(services.pool, owner=None if principal.is_staff else principal.user_id,
                                      ids=ids, metadata=metadata, status=status, sort_by=sort_by,
                                      sort_order=sort_order, limit=limit, offset=offset, graph_id=GRAPH_ID,
                                      assistant_id=ASSISTANT_ID)
    out = []
    for row in rows:
        pending = None
        if row["status"] == "interrupted":
            pending = await threads.pending_interrupt_event(services, row["thread_id"], row["status"])
        out.append(await _thread(services, principal, row, pending))
    return out


# runs
@dataclass(frozen=True)
class StartedRun:
    run_id: str
    thread_id: str
    first_seq: int
    """Where the run's stream starts: its first event (a decision written with it, or run_start)."""


def human_text(services: Any, graph_input: Any) -> str:
    """The one human message of a run's `input`. Tool messages are dropped: a tool call is
    answered by the server's tool alone, never by a client (agent-chat-ui fabricates
    "Successfully handled tool call." for one that awaits approval)."""
    if not isinstance(graph_input, dict) or set(graph_input) - {"messages"}:
        raise Unsupported("input", 'only {"messages": [{"type": "human", "content": ...}]} is accepted')
    messages = graph_input.get("messages")
    if isinstance(messages, dict):
        messages = [messages]
    if not isinstance(messages, list):
        raise Unsupported("input.messages", "must be a list of messages")
    texts: list[tuple[int, str]] = []
    for i, m in enumerate(messages):
        kind = (m.get("type") or m.get("role")) if isinstance(m, dict) else None
        if kind == "tool":
            continue
        if kind not in ("human", "user"):
            raise Unsupported(f"input.messages[{i}].type", f"{kind!r} messages cannot be sent; send one human message")
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(b.get("text", "") if isinstance(b, dict) and b.get("type") == "text" else
                              (b if isinstance(b, str) else "") for b in content)
        if not isinstance(content, str) or not content.strip():
            raise Unsupported(f"input.messages[{i}].content", "must be non-empty text")
        if len(content) > services.settings.max_content_chars:
            raise Unsupported(f"input.messages[{i}].content",
                              f"is longer than {services.settings.max_content_chars} characters")
        texts.append((i, content))
    if len(texts) != 1:
        raise Unsupported("input.messages", f"send exactly one human message per run (got {len(texts)})")
    return texts[0][1]


async def start_run(services: Any, principal: Principal, thread_id: str, *, graph_input: Any,
                    command: dict[str, Any] | None, assistant_id: str, metadata: dict[str, Any],
                    multitask_strategy: str, if_not_exists: str | None) -> StartedRun:
    resolve_assistant(assistant_id)
    check_metadata(services, metadata)
    try:
        status = await threads.get_status(services, principal, thread_id)
    except NotFound:
        if if_not_exists != "create":
            raise NotFound(f"thread {thread_id} not found; create it first or pass if_not_exists='create'") from None
        await threads.create_thread(services, principal, thread_id=thread_id)
        status = await threads.get_status(services, principal, thread_id)
    if command and graph_input not in (None, {}, {"messages": []}):
        raise Unsupported("input", "send either input or command, not both")
    if multitask_strategy == "interrupt" and status["agent_running"]:
        await _interrupt_active(services, principal, thread_id, status["last_seq"])
    if command:
        pending = status["pending_interrupt"]
        decision = parse_resume(command, pending["action"] if pending else None)
        run = await decide(services, principal, thread_id=thread_id, interrupt_id=None, approved=decision.approved,
                           args=decision.args, reason=decision.reason)
    else:
        if graph_input is None:
            raise Unsupported("input", "a run needs input (one human message) or command.resume")
        run, _ = await chat.send_message(services, principal, thread_id, human_text(services, graph_input))
    await store.record_run(services.pool, run_id=run.run_id, thread_id=thread_id, assistant_id=ASSISTANT_ID,
                           metadata=metadata, multitask_strategy=multitask_strategy)
    return StartedRun(run_id=run.run_id, thread_id=thread_id, first_seq=run.first_seq)


async def _interrupt_active(services: Any, principal: Principal, thread_id: str, last_seq: int) -> None:
    """multitask_strategy=interrupt: cancel the active run and wait for its end event."""
    try:
        await services.runs.cancel(principal, thread_id)
    except AppError:
        return  # it ended meanwhile
    await _wait_end(services, principal, thread_id, after_seq=last_seq, end_from_seq=0)


async def _wait_end(services: Any, principal: Principal, thread_id: str, *, after_seq: int,
                    end_from_seq: int) -> dict[str, Any] | None:
    end = None
    try:
        async with asyncio.timeout(services.settings.lg_wait_timeout_s):
            async for ev in follow(services, principal, thread_id, after_seq=after_seq, end_from_seq=end_from_seq,
                                   masked=False, heartbeat_s=services.settings.lg_heartbeat_s):
                if ev is not None:
                    end = ev
    except TimeoutError:
        raise RunStillGoing(f"the run on thread {thread_id} did not end within {services.settings.lg_wait_timeout_s:g}s "
                            "(LG_WAIT_TIMEOUT_S); it goes on: join it again, or join its stream",
                            thread_id=thread_id) from None
    return end


async def run_start_seq(services: Any, principal: Principal, thread_id: str, run_id: str) -> int:
    await threads.get_status(services, principal, thread_id)
    seq = await store.find_run_start(services.pool, thread_id, run_id)
    if seq is None:
        raise NotFound(f"run {run_id} not found on thread {thread_id}")
    return seq


async def join_run(services: Any, principal: Principal, thread_id: str, run_id: str) -> dict[str, Any]:
    """Wait for the run's end; the thread's values then (with `__interrupt__` or `__error__`)."""
    first = await run_start_seq(services, principal, thread_id, run_id)
    end = await _wait_end(services, principal, thread_id, after_seq=first - 1, end_from_seq=first)
    masked = await is_masked(services, principal, thread_id)
    values = await thread_values(services, thread_id, masked)
    if end and end["type"] == "interrupt":
        values["__interrupt__"] = [to_interrupt(mask_payload(end) if masked else end)]
    elif end and end["type"] == "run_error":
        values["__error__"] = {"error": end.get("code"), "message": end.get("message")}
    return values


async def _status(services: Any, row: dict[str, Any]) -> str:
    """LangGraph's status of a run. A run whose server died is continued by a recovery run
    (trigger `resume`): to a client it is still running until that one ends, as its join
    stream follows it there."""
    current: dict[str, Any] | None = row
    for _ in range(10):
        if current is None or not (current["status"] == "error" and current["error_code"] == "owner_lost"):
            break
        nxt = await store.successor(services.pool, row["thread_id"], current["run_id"], current["started_at"])
        current = nxt if nxt is not None and nxt["trigger"] == "resume" else None
    if current is None:
        return "error"
    if current["status"] == "error" and current["error_code"] == "timeout":
        return "timeout"
    return RUN_STATUS.get(current["status"], "error")


def _run(row: dict[str, Any], status: str) -> dict[str, Any]:
    return {"run_id": row["run_id"], "thread_id": row["thread_id"], "assistant_id": row["assistant_id"] or ASSISTANT_ID,
            "created_at": _iso(row["started_at"]), "updated_at": _iso(row["ended_at"] or row["started_at"]),
            "status": status, "metadata": row["metadata"], "multitask_strategy": row["multitask_strategy"],
            "kwargs": {}}


async def get_run(services: Any, principal: Principal, thread_id: str, run_id: str) -> dict[str, Any]:
    await threads.get_status(services, principal, thread_id)
    row = await store.get_run(services.pool, thread_id, run_id)
    if row is None:
        raise NotFound(f"run {run_id} not found on thread {thread_id}")
    return _run(row, await _status(services, row))


async def list_runs(services: Any, principal: Principal, thread_id: str, *, limit: int, offset: int,
                    status: str | None) -> list[dict[str, Any]]:
    await threads.get_status(services, principal, thread_id)
    ours = [k for k, v in RUN_STATUS.items() if v == status] if status else None
    rows = await store.list_runs(services.pool, thread_id, status=ours, limit=limit, offset=offset)
    return [_run(r, await _status(services, r)) for r in rows]


async def cancel_run(services: Any, principal: Principal, thread_id: str, run_id: str, *, action: str,
                     wait: bool) -> dict[str, Any]:
    """Cancel the thread's active run if it is `run_id`; `rollback` also removes its turn (undo)."""
    run = await get_run(services, principal, thread_id, run_id)
    if run["status"] != "running":
        raise NoActiveRun(f"run {run_id} is not running (status {run['status']}); nothing to cancel")
    first = await store.find_run_start(services.pool, thread_id, run_id) or 0
    await services.runs.cancel(principal, thread_id)
    if wait or action == "rollback":
        await _wait_end(services, principal, thread_id, after_seq=first - 1, end_from_seq=first)
        if action == "rollback":
            row = await store.get_run(services.pool, thread_id, run_id)
            if row and row["trigger"] in ("message", "retry"):
                await threads.undo(services, principal, thread_id)
        return await get_run(services, principal, thread_id, run_id)
    return run
