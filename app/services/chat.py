"""What a client frame does: start a run from a message or form, decide, subscribe.

Called by the WebSocket handler (and the terminal client's server side is the
same handler). Each function validates against the thread's state and raises an
`AppError` with the protocol code when the frame is refused; nothing changes then.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from langchain_core.messages import HumanMessage
from psycopg import AsyncConnection

from app.core.errors import NotFound
from app.core.security import Principal
from app.services import rate_limit
from app.services.interrupts import Resume, supersede_prepare
from app.services.runs import check_access
from app.services.threads import pending_interrupt_event
from app.storage import threads as thread_store
from app.storage.event_log import count_events, iter_events
from app.ws.connection import Connection
from app.ws.frames import ReplayEnd, ReplayStart, SessionSync
from graphs.events import encode_event

__all__ = ["send_message", "submit_form", "subscribe"]


async def _start_user_run(services: Any, principal: Principal, thread_id: str, message: HumanMessage,
                          trigger: str, title: str) -> Any:
    box: dict[str, Any] = {}
    resume = Resume(decision={"approved": False, "args": None, "outcome": "superseded",
                              "reason": "the customer sent a new message instead"},
                    then={"messages": [message]})
    hidden = bool(message.additional_kwargs.get("hidden"))
    start_fields = {} if hidden else {"content": message.content,
                                      "client_msg_id": message.additional_kwargs.get("client_msg_id")}
    supersede = supersede_prepare(principal, box)
    rate: list[rate_limit.RateState] = []

    async def prepare(conn: AsyncConnection[Any], row: dict[str, Any]) -> list[dict[str, Any]]:
        rate.append(await rate_limit.take(conn, services.settings, principal.user_id))
        return await supersede(conn, row)

    run = await services.runs.start(
        principal=principal, thread_id=thread_id, trigger=trigger, graph_input=resume, create=True, title=title,
        new_messages=0 if hidden else 1, prepare=prepare, start_fields=start_fields)
    if "interrupt_id" not in box:  # nothing was pending: just the message
        resume.decision = {}
    else:
        resume.decision["interrupt_id"] = box["interrupt_id"]
    return run, rate[0]


async def send_message(services: Any, principal: Principal, thread_id: str, content: str,
                       client_msg_id: str | None = None) -> Any:
    kwargs = {"client_msg_id": client_msg_id} if client_msg_id else {}
    msg = HumanMessage(content=content, id=uuid.uuid4().hex, additional_kwargs=kwargs)
    return await _start_user_run(services, principal, thread_id, msg, "message", content)


async def submit_form(services: Any, principal: Principal, thread_id: str, form_id: str,
                      values: dict[str, Any]) -> Any:
    text = f"[form {form_id} submitted] {json.dumps(values, ensure_ascii=False, sort_keys=True)}"
    msg = HumanMessage(content=text, id=uuid.uuid4().hex,
                       additional_kwargs={"hidden": True, "form_id": form_id, "values": values})
    return await _start_user_run(services, principal, thread_id, msg, "form_submit", "")


async def subscribe(services: Any, principal: Principal, conn: Connection, thread_id: str,
                    after_seq: int | None) -> None:
    """Replay what the socket missed, then session_sync, then live events."""
    row = await thread_store.get_thread(services.pool, thread_id, services.settings.session_ttl_s)
    if row is None:
        raise NotFound(f"thread {thread_id} not found", thread_id=thread_id)
    check_access(principal, row)
    hub = services.hub
    sub = hub.subscribe(conn, thread_id, after_seq if after_seq is not None else 0)
    try:
        if after_seq is None:
            sub.last_sent = row["last_seq"]
        else:
            # counted first, then read a page at a time up to the last counted seq: what is
            # appended meanwhile is buffered by the subscription and goes out live after
            count, upto = await count_events(services.pool, thread_id, after_seq)
            if count:
                await conn.send_wait(ReplayStart(thread_id=thread_id, count=count))
                async for page in iter_events(services.pool, thread_id, after_seq, upto=upto,
                                              page_size=hub.page_size, slots=hub.slots):
                    for ev in page:
                        await conn.send_wait(encode_event(ev).decode())
                await conn.send_wait(ReplayEnd(thread_id=thread_id))
                sub.last_sent = upto
        row = await thread_store.get_thread(services.pool, thread_id, services.settings.session_ttl_s) or row
        await conn.send_wait(await session_sync(services, row, last_seq=sub.last_sent))
    except BaseException:
        hub.unsubscribe(conn, thread_id)
        raise
    hub.go_live(sub)


async def session_sync(services: Any, row: dict[str, Any], *, last_seq: int) -> SessionSync:
    status = row["status"]
    if status == "running" and not row["run_live"]:
        status = "idle"
    return SessionSync(thread_id=row["thread_id"], status=status, last_seq=max(last_seq, 0),
                       message_count=row["message_count"],
                       pending_interrupt=await pending_interrupt_event(services, row["thread_id"], row["status"]))
