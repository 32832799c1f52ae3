"""What a customer's frame does: start a run from a message or a form; and, for a socket that
follows a thread, its access check and where it stands (`session_sync`'s fields).

Called by the WebSocket handler (and the terminal client's server side is the
same handler). Each function validates against the thread's state and raises an
`AppError` with the protocol code when the frame is refused; nothing changes then.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from langchain_core.messages import HumanMessage
from psycopg import AsyncConnection

from app.approvals.service import Resume, supersede_prepare
from app.conversations import rate_limit, thread_store
from app.conversations.runs import check_access
from app.conversations.threads import pending_interrupt_event
from app.core.errors import NotFound
from app.core.pii import mask_payload
from app.core.security import Principal

if TYPE_CHECKING:
    from app.container import Services

__all__ = ["open_thread", "send_message", "submit_form", "sync_state"]


async def _start_user_run(services: Services, principal: Principal, thread_id: str, message: HumanMessage,
                          trigger: str, title: str, assistant_only: bool = False) -> Any:
    box: dict[str, Any] = {}
    resume = Resume(decision={"approved": False, "args": None, "outcome": "superseded",
                              "reason": "the customer sent a new message instead"},
                    then={"messages": [message]})
    hidden = bool(message.additional_kwargs.get("hidden"))
    # the event log records what started the run: the message, or the form and its values
    extra = message.additional_kwargs
    start_fields = ({"form_id": extra.get("form_id"), "values": extra.get("values")} if hidden
                    else {"content": message.content, "client_msg_id": extra.get("client_msg_id")})
    supersede = supersede_prepare(principal, box)
    rate: list[rate_limit.RateState] = []

    async def prepare(conn: AsyncConnection[Any], row: dict[str, Any]) -> list[dict[str, Any]]:
        rate.append(await rate_limit.take(conn, services.settings, principal.user_id))
        return await supersede(conn, row)

    run = await services.runs.start(
        principal=principal, thread_id=thread_id, trigger=trigger, graph_input=resume, create=True, title=title,
        new_messages=0 if hidden else 1, prepare=prepare, start_fields=start_fields, input_messages=[message],
        assistant_only=assistant_only)
    if "interrupt_id" not in box:  # nothing was pending: just the message
        resume.decision = {}
    else:
        resume.decision["interrupt_id"] = box["interrupt_id"]
    return run, rate[0]


async def send_message(services: Services, principal: Principal, thread_id: str, content: str,
                       client_msg_id: str | None = None, *, assistant_only: bool = False) -> Any:
    """Start the assistant's run on a customer's message; `assistant_only`: see `RunManager.start`."""
    kwargs = {"client_msg_id": client_msg_id} if client_msg_id else {}
    msg = HumanMessage(content=content, id=uuid.uuid4().hex, additional_kwargs=kwargs)
    return await _start_user_run(services, principal, thread_id, msg, "message", content, assistant_only)


async def submit_form(services: Services, principal: Principal, thread_id: str, form_id: str,
                      values: dict[str, Any]) -> Any:
    text = f"[form {form_id} submitted] {json.dumps(values, ensure_ascii=False, sort_keys=True)}"
    msg = HumanMessage(content=text, id=uuid.uuid4().hex,
                       additional_kwargs={"hidden": True, "form_id": form_id, "values": values})
    return await _start_user_run(services, principal, thread_id, msg, "form_submit", "")


async def _thread_row(services: Services, thread_id: str) -> dict[str, Any]:
    row = await thread_store.get_thread(services.pool, thread_id, services.settings.session_ttl_s)
    if row is None:
        raise NotFound(f"thread {thread_id} not found", thread_id=thread_id)
    return row


async def open_thread(services: Services, principal: Principal, thread_id: str) -> dict[str, Any]:
    """The thread's row for a caller who may follow it (`forbidden` otherwise, `not_found` if none)."""
    row = await _thread_row(services, thread_id)
    check_access(principal, row)
    return row


async def sync_state(services: Services, thread_id: str, *, masked: bool) -> dict[str, Any]:
    """Where the thread stands now, for `session_sync`: status, message count, the pending approval.

    The status is `handoff` while people have the thread, even with an approval pending
    (it stays decidable by staff); `pending_interrupt` is PII-masked for an operator
    reading someone else's thread.
    """
    from app.handoffs.store import is_open

    row = await _thread_row(services, thread_id)
    status = row["status"]
    if status == "running" and not row["run_live"]:
        status = "idle"
    if status == "interrupted" and await is_open(services.pool, thread_id):
        status = "handoff"
    pending = await pending_interrupt_event(services, thread_id, row["status"])
    if masked and pending is not None:
        pending = mask_payload(pending)
    return {"status": status, "message_count": row["message_count"], "pending_interrupt": pending,
            "last_seq": row["last_seq"]}
