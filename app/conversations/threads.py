"""Threads: create, list, read the transcript and status, retry, undo, import, delete.

The transcript is the graph's checkpointed messages, shown as the customer saw
them (hidden form submissions and tool traffic left out). Retry and undo edit
that state while holding the thread row, so concurrent calls serialise and the
transcript is always a prefix of what it was.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage

from app.analytics.records import estimate_cost
from app.approvals import store as interrupt_store
from app.conversations import thread_store
from app.conversations.event_log import append_locked
from app.conversations.graph_runtime import TERMINAL_NODE, graph_on_connection
from app.conversations.runs import check_access
from app.core.errors import BadRequest, Forbidden, NotFound, RunActive
from app.core.pii import address_values, mask_payload, mask_text, mask_text_with, should_mask
from app.core.security import Principal
from graphs.events import THREAD_ID_RE, ImportedTurn, ThreadImported, iso_z
from graphs.nodes.common import text_of

if TYPE_CHECKING:
    from app.container import Services

__all__ = [
    "create_thread", "delete_thread", "get_status", "get_transcript", "get_usage", "import_thread",
    "list_threads", "retry", "undo", "visible_messages",
]



def new_thread_id() -> str:
    return "t_" + uuid.uuid4().hex[:20]


def _iso(v: Any) -> str | None:
    return iso_z(v) if v is not None else None


async def _owned(services: Services, principal: Principal, thread_id: str) -> dict[str, Any]:
    row = await thread_store.get_thread(services.pool, thread_id, services.settings.session_ttl_s)
    if row is None:
        raise NotFound(f"thread {thread_id} not found")
    check_access(principal, row)
    return row


def _masked(principal: Principal, owner_id: str | None) -> bool:
    return should_mask(principal.role, principal.user_id, owner_id)


def _mask_if(principal: Principal, owner_id: str | None, event: dict[str, Any] | None) -> dict[str, Any] | None:
    return mask_payload(event) if event is not None and _masked(principal, owner_id) else event


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def visible_messages(messages: list[BaseMessage]) -> list[tuple[BaseMessage, dict[str, Any]]]:
    """(message, {"role", "content", "agent"}) for what the customer saw."""
    out = []
    for m in messages:
        text = text_of(m)
        if isinstance(m, HumanMessage):
            if m.additional_kwargs.get("hidden"):
                continue
            out.append((m, {"role": "user", "content": text, "agent": None}))
        elif isinstance(m, AIMessage) and text and not m.tool_calls:
            out.append((m, {"role": "assistant", "content": text, "agent": m.name}))
    return out


async def _state_messages(services: Services, thread_id: str, graph: Any = None) -> list[BaseMessage]:
    state = await (graph or services.graph).aget_state(_config(thread_id))
    return list(state.values.get("messages", [])) if state and state.values else []


async def create_thread(services: Services, principal: Principal, title: str = "",
                        thread_id: str | None = None) -> dict[str, Any]:
    """A new thread; `thread_id` chosen by the client (the Agent Server API allows it) or made here."""
    if thread_id is not None and not THREAD_ID_RE.match(thread_id):
        raise BadRequest("thread_id must be 1-64 letters, digits, '_' or '-'")
    thread_id = thread_id or new_thread_id()
    async with services.pool.connection() as conn:
        await conn.execute(thread_store.INSERT_THREAD, {"thread_id": thread_id, "owner_id": principal.user_id,
                                                        "title": title[:120], "model": services.model_name})
    return {"thread_id": thread_id}


LIST_THREADS = """
SELECT thread_id, owner_id, title, status, message_count, created_at, updated_at, count(*) OVER () AS total
FROM threads WHERE (%(owner)s::text IS NULL OR owner_id = %(owner)s)
ORDER BY updated_at DESC, thread_id LIMIT %(limit)s OFFSET %(offset)s
"""


async def list_threads(services: Services, principal: Principal, *, limit: int, offset: int) -> dict[str, Any]:
    owner = None if principal.is_staff else principal.user_id
    async with services.pool.connection() as conn:
        cur = await conn.execute(LIST_THREADS, {"owner": owner, "limit": limit, "offset": offset})
        rows = await cur.fetchall()
    return {
        "data": [{"thread_id": r["thread_id"], "status": r["status"], "user_id": r["owner_id"],
                  "title": mask_text(r["title"]) if _masked(principal, r["owner_id"]) else r["title"],
                  "message_count": r["message_count"], "created_at": _iso(r["created_at"]),
                  "updated_at": _iso(r["updated_at"])} for r in rows],
        "count": rows[0]["total"] if rows else 0,
    }


async def get_transcript(services: Services, principal: Principal, thread_id: str) -> dict[str, Any]:
    row = await _owned(services, principal, thread_id)
    messages = await _state_messages(services, thread_id)
    msgs = [v for _, v in visible_messages(messages)]
    if _masked(principal, row["owner_id"]):
        # addresses the thread's tool calls carried are scrubbed from the prose that repeats them
        known = address_values([tc.get("args") for m in messages if isinstance(m, AIMessage) for tc in m.tool_calls])
        msgs = [{**m, "content": mask_text_with(m["content"], known)} for m in msgs]
        row = {**row, "title": mask_text_with(row["title"], known)}
    return {"thread_id": thread_id, "title": row["title"], "status": row["status"], "messages": msgs,
            "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"])}


async def pending_interrupt_event(services: Services, thread_id: str, status: str) -> dict[str, Any] | None:
    if status != "interrupted":
        return None
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event FROM interrupts WHERE thread_id = %s AND status = 'pending' ORDER BY created_at DESC LIMIT 1",
            (thread_id,))
        r = await cur.fetchone()
    return r["event"] if r else None


async def get_status(services: Services, principal: Principal, thread_id: str) -> dict[str, Any]:
    row = await _owned(services, principal, thread_id)
    return {"thread_id": thread_id, "status": row["status"], "agent_running": bool(row["run_live"]),
            "message_count": row["message_count"],
            "pending_interrupt": _mask_if(principal, row["owner_id"],
                                          await pending_interrupt_event(services, thread_id, row["status"])),
            "model": row["model"] or services.model_name, "created_at": _iso(row["created_at"]),
            "updated_at": _iso(row["updated_at"]), "last_seq": row["last_seq"]}


async def get_usage(services: Services, principal: Principal, thread_id: str) -> dict[str, Any]:
    await _owned(services, principal, thread_id)
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT model, coalesce(sum(input_tokens), 0) AS i, coalesce(sum(output_tokens), 0) AS o "
            "FROM runs WHERE thread_id = %s GROUP BY model", (thread_id,))
        rows = await cur.fetchall()
    i = sum(r["i"] for r in rows)
    o = sum(r["o"] for r in rows)
    cost = sum(estimate_cost(services.settings.model_prices, r["model"], r["i"], r["o"]) for r in rows)
    return {"input_tokens": i, "output_tokens": o, "total_tokens": i + o, "estimated_cost_usd": round(cost, 6)}


async def _lock_idle_thread(conn: Any, services: Services, principal: Principal, thread_id: str) -> dict[str, Any]:
    """Hold the thread row for an edit: it must exist, be the caller's, and have no run."""
    row = await thread_store.lock_thread(conn, thread_id, services.settings.session_ttl_s)
    if row is None:
        raise NotFound(f"thread {thread_id} not found")
    check_access(principal, row)
    if row["run_live"]:
        raise RunActive(f"a run is already running on thread {thread_id}; cancel it first")
    return row


async def _edit_transcript(services: Services, principal: Principal, thread_id: str, cut: Any) -> dict[str, Any]:
    """Remove a tail of the transcript under the thread lock; `cut` picks where.

    Everything (the lock, reading and writing the checkpoint) goes through one connection:
    see `graph_on_connection` for why a second one must not be borrowed while the row is held.
    """
    async with services.pool.connection() as conn:
        async with conn.transaction():
            await _lock_idle_thread(conn, services, principal, thread_id)
            graph = graph_on_connection(services, conn)
            messages = await _state_messages(services, thread_id, graph)
            visible = visible_messages(messages)
            index, result = cut(messages, visible)
            removed = messages[index:]
            if removed:
                await graph.aupdate_state(
                    _config(thread_id), {"messages": [RemoveMessage(id=m.id) for m in removed if m.id]},
                    as_node=TERMINAL_NODE)
            # an approval waiting on removed messages can no longer be honoured
            await conn.execute("UPDATE interrupts SET status = 'superseded', decided_at = now(), "
                               "decided_by = %s, reason = 'transcript edited' WHERE thread_id = %s "
                               "AND status = 'pending'", (principal.user_id, thread_id))
            remaining = len(visible) - sum(1 for m, _ in visible if m in removed)
            await conn.execute(
                "UPDATE threads SET message_count = %s, status = CASE WHEN status = 'interrupted' THEN 'idle' "
                "ELSE status END, retry_pending = %s, updated_at = now(), last_activity_at = now() "
                "WHERE thread_id = %s", (remaining, result.pop("_retry", False), thread_id))
    return result


async def retry(services: Services, principal: Principal, thread_id: str) -> dict[str, Any]:
    def cut(messages: list[BaseMessage], visible: list[tuple[BaseMessage, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
        users = [m for m, v in visible if v["role"] == "user"]
        if not users:
            raise BadRequest("no previous message to retry on this thread")
        last = users[-1]
        index = messages.index(last)
        removed = [v for m, v in visible if messages.index(m) >= index]
        return index, {"ok": True, "last_user_text": visible[[m for m, _ in visible].index(last)][1]["content"],
                       "removed_count": len(removed), "_retry": True}

    return await _edit_transcript(services, principal, thread_id, cut)


async def undo(services: Services, principal: Principal, thread_id: str) -> dict[str, Any]:
    def cut(messages: list[BaseMessage], visible: list[tuple[BaseMessage, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
        users = [m for m, v in visible if v["role"] == "user"]
        if not users:
            raise BadRequest("nothing to undo on this thread")
        index = messages.index(users[-1])
        removed = [v for m, v in visible if messages.index(m) >= index]
        preview = removed[0]["content"][:200] if removed else ""
        return index, {"ok": True, "removed_count": len(removed), "removed_preview": preview}

    return await _edit_transcript(services, principal, thread_id, cut)


async def import_thread(services: Services, principal: Principal, title: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A new thread holding an earlier conversation; a `thread_imported` event records what and by whom.

    Only staff may import `assistant` turns: a customer's import would otherwise put
    words in the assistant's mouth (a "promise" of a refund) that the model then reads
    as its own. A customer may import their own (user) turns.
    """
    converted: list[BaseMessage] = []
    turns: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        role, content = m.get("role"), m.get("content")
        if not isinstance(content, str):
            raise BadRequest(f"messages[{i}].content must be a string")
        if len(content) > services.settings.max_content_chars:
            raise BadRequest(f"messages[{i}].content is too long (over {services.settings.max_content_chars} characters)")
        if role == "user":
            converted.append(HumanMessage(content=content, id=uuid.uuid4().hex))
        elif role == "assistant":
            if not principal.is_staff:
                raise Forbidden(f"messages[{i}] is an assistant turn: customers may import only their own (user) "
                                "turns; ask an operator to import a transcript with the assistant's answers")
            converted.append(AIMessage(content=content, name=m.get("agent") or None, id=uuid.uuid4().hex))
        else:
            raise BadRequest(f"messages[{i}].role must be 'user' or 'assistant'")
        turns.append(ImportedTurn(role=role, content=content, agent=m.get("agent") if role == "assistant" else None))
    thread_id = new_thread_id()
    event = ThreadImported(imported_by=principal.user_id, messages=turns)
    async with services.pool.connection() as conn:
        async with conn.transaction():
            await conn.execute(thread_store.INSERT_THREAD, {"thread_id": thread_id, "owner_id": principal.user_id,
                                                            "title": title[:120], "model": services.model_name})
            await conn.execute("UPDATE threads SET message_count = %s WHERE thread_id = %s", (len(converted), thread_id))
            row = await thread_store.lock_thread(conn, thread_id, services.settings.session_ttl_s)
            assert row is not None
            stamped = await append_locked(conn, thread_id=thread_id, last_seq=row["last_seq"], run_id=None,
                                          events=[event], origin=services.origin)
    services.hub.publish(stamped)
    if converted:
        from app.conversations.graph_runtime import import_messages

        await import_messages(services.graph, _config(thread_id), converted)
    transcript = await get_transcript(services, principal, thread_id)
    return {"ok": True, "thread": transcript}


async def delete_thread(services: Services, principal: Principal, thread_id: str) -> None:
    async with services.pool.connection() as conn, conn.transaction():
        await _lock_idle_thread(conn, services, principal, thread_id)
        await conn.execute("DELETE FROM threads WHERE thread_id = %s", (thread_id,))
    await services.checkpointer.adelete_thread(thread_id)
    try:
        from app.analytics.retention import delete_thread_data
    except ImportError:
        pass
    else:
        await delete_thread_data(services.pool, thread_id)
    services.hub.drop_thread(thread_id)


async def list_inbox(services: Services, *, status: str | None, limit: int, offset: int,
                     principal: Principal | None = None) -> dict[str, Any]:
    """The approval inbox; an operator sees each item masked (PII) unless the thread is their own."""
    rows = await interrupt_store.list_interrupts(services.pool, status=status, approver=None, limit=limit, offset=offset)
    data = []
    for r in rows:
        item = dict(r["event"])
        item.update({"thread_id": r["thread_id"], "status": r["status"], "user_id": r["owner_id"],
                     "created_at": _iso(r["created_at"]), "decided_at": _iso(r["decided_at"]),
                     "decided_by": r["decided_by"], "edited_args": r["edited_args"], "reason": r["reason"]})
        data.append(mask_payload(item) if principal is not None and _masked(principal, r["owner_id"]) else item)
    return {"data": data, "count": len(data)}
