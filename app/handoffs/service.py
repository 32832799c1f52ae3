"""A human takes over: claim, talk, release; where a customer's message goes meanwhile.

The server keeps the holder (a row in `handoffs`, see `store.py`); the graph only
hands off (its escalation node) and later reads the people's turns as named
messages (`graphs.nodes.handoff.takeover_messages`). Every function here works in
one transaction holding the thread row, appends its events with their seq there
(`append_locked`, the same log runs write) and publishes them after commit, so
replays, other replicas and the analytics see exactly what the sockets saw.

While a thread waits for or is held by a person, a customer message starts no run
and costs no model call: it becomes a `customer_message` event. Staff may still
decide a pending approval (that resumes the graph as usual).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection

from app.conversations import rate_limit, thread_store
from app.conversations.event_log import append_locked
from app.conversations.graph_runtime import TERMINAL_NODE, close_pending_calls
from app.conversations.runs import check_access
from app.core.errors import AppError, BadRequest, Forbidden, NotFound, RunActive
from app.core.logging import get_logger
from app.core.security import Principal
from app.handoffs import store
from graphs.events import (
    AgentJoined,
    AgentLeft,
    CustomerMessage,
    Event,
    HandoffNotice,
    HumanMessageEvent,
)
from graphs.nodes.handoff import takeover_messages

if TYPE_CHECKING:
    from app.container import Services

__all__ = [
    "OUTCOMES",
    "Claimed",
    "NotHeld",
    "claim",
    "customer_message",
    "list_handoffs",
    "notice_loop",
    "operator_message",
    "release",
    "send_customer_message",
    "send_due_notices",
]

log = get_logger(__name__)

OUTCOMES = ("back_to_assistant", "resolved")
WAIT_NOTICE = ("Our team is busy right now, so nobody has picked up your conversation yet. Your message is kept, "
               "and a person will answer here as soon as one is free.")


class Claimed(AppError):
    """Someone else holds the thread (REST 409)."""

    code = "claimed"
    http_status = 409


class NotHeld(AppError):
    """A release of a thread that no person has taken over (REST 409)."""

    code = "not_held"
    http_status = 409


@dataclass
class _Locked:
    conn: AsyncConnection[Any]
    row: dict[str, Any]
    events: list[Event]


@contextlib.asynccontextmanager
async def _locked(services: Services, principal: Principal, thread_id: str) -> AsyncIterator[_Locked]:
    """Hold the thread row; append what the body queued in `events`; publish after commit."""
    stamped: list[Event] = []
    async with services.pool.connection() as conn, conn.transaction():
        row = await thread_store.lock_thread(conn, thread_id, services.settings.session_ttl_s)
        if row is None:
            raise NotFound(f"thread {thread_id} not found", thread_id=thread_id)
        check_access(principal, row)
        locked = _Locked(conn, row, [])
        yield locked
        if locked.events:
            stamped = await _append(services, conn, row, locked.events)
    services.hub.publish(stamped)
    locked.events[:] = stamped


async def _append(services: Services, conn: AsyncConnection[Any], row: dict[str, Any],
                  events: list[Event]) -> list[Event]:
    if row["run_live"]:  # the run numbers the thread's events until it ends
        raise RunActive(f"the assistant is still answering on thread {row['thread_id']}; try again when it is done",
                        thread_id=row["thread_id"])
    return await append_locked(conn, thread_id=row["thread_id"], last_seq=row["last_seq"], run_id=None,
                               events=events, origin=services.origin)


def _require_staff(principal: Principal, thread_id: str, what: str) -> None:
    if not principal.is_staff:
        raise Forbidden(f"only operators and admins can {what}", thread_id=thread_id)


def _iso(v: Any) -> str | None:
    return v.isoformat().replace("+00:00", "Z") if v is not None else None


async def _take(locked: _Locked, principal: Principal) -> dict[str, Any]:
    """The caller holds the thread after this (an `agent_joined` queued when newly so), or `Claimed`."""
    conn, row = locked.conn, locked.row
    thread_id = row["thread_id"]
    name = principal.display_name
    handoff = await store.lock_open(conn, thread_id)
    if handoff is None:
        handoff = await store.insert_held(conn, thread_id=thread_id, opened_seq=row["last_seq"],
                                          holder_id=principal.user_id, holder_name=name,
                                          reason=f"taken over by {name}")
    elif handoff["holder_id"] == principal.user_id:
        return handoff
    else:
        taken = await store.claim(conn, handoff["handoff_id"], holder_id=principal.user_id, holder_name=name)
        if taken is None:
            raise Claimed(f"thread {thread_id} is held by {handoff['holder_name']} ({handoff['holder_id']}); "
                          "they, or an admin, must release it first", thread_id=thread_id,
                          holder={"user_id": handoff["holder_id"], "name": handoff["holder_name"]})
        handoff = taken
    locked.events.append(AgentJoined(user_id=principal.user_id, name=name))
    await conn.execute("UPDATE threads SET status = 'handoff', updated_at = now() WHERE thread_id = %s "
                       "AND status = 'idle'", (thread_id,))
    return handoff


def _holder(handoff: dict[str, Any]) -> dict[str, Any] | None:
    return {"user_id": handoff["holder_id"], "name": handoff["holder_name"]} if handoff.get("holder_id") else None


async def claim(services: Services, principal: Principal, thread_id: str) -> dict[str, Any]:
    _require_staff(principal, thread_id, "take over a conversation")
    async with _locked(services, principal, thread_id) as locked:
        handoff = await _take(locked, principal)
    return {"thread_id": thread_id, "status": "held", "holder": _holder(handoff), "events": locked.events}


async def operator_message(services: Services, principal: Principal, thread_id: str, content: str,
                           client_msg_id: str | None = None) -> dict[str, Any]:
    _require_staff(principal, thread_id, "write to a customer as a person")
    async with _locked(services, principal, thread_id) as locked:
        handoff = await _take(locked, principal)
        locked.events.append(HumanMessageEvent(
            message_id="hm_" + uuid.uuid4().hex[:20], user_id=principal.user_id, name=principal.display_name,
            content=content))
        await store.human_turn(locked.conn, handoff["handoff_id"])
    return {"thread_id": thread_id, "status": "held", "holder": _holder(handoff), "events": locked.events,
            "client_msg_id": client_msg_id}


async def release(services: Services, principal: Principal, thread_id: str, outcome: str) -> dict[str, Any]:
    _require_staff(principal, thread_id, "release a conversation")
    if outcome not in OUTCOMES:
        raise BadRequest(f"outcome must be one of {', '.join(OUTCOMES)}", thread_id=thread_id)
    async with _locked(services, principal, thread_id) as locked:
        conn, row = locked.conn, locked.row
        handoff = await store.lock_open(conn, thread_id)
        if handoff is None:
            raise NotHeld(f"thread {thread_id} is not with a person: there is nothing to release", thread_id=thread_id)
        if handoff["holder_id"] != principal.user_id and principal.role != "admin":
            who = (f"{handoff['holder_name']} ({handoff['holder_id']}) holds it" if handoff["holder_id"]
                   else "nobody has claimed it yet")
            raise Forbidden(f"only the holder or an admin can release thread {thread_id}: {who}", thread_id=thread_id)
        locked.events.append(AgentLeft(user_id=handoff["holder_id"] or principal.user_id,
                                        outcome=outcome))  # type: ignore[arg-type]
        closed_seq = row["last_seq"] + 1
        # with an approval pending, the state waits on it: the turns join the state with the next message
        apply_now = row["status"] != "interrupted"
        if apply_now:
            await _apply_turns(services, conn, thread_id, handoff["opened_seq"], closed_seq)
        await store.close(conn, handoff["handoff_id"], released_by=principal.user_id, outcome=outcome,
                          closed_seq=closed_seq, turns_applied=apply_now)
        await conn.execute("UPDATE threads SET status = 'idle', updated_at = now() WHERE thread_id = %s "
                           "AND status = 'handoff'", (thread_id,))
    return {"thread_id": thread_id, "status": "released", "outcome": outcome, "events": locked.events}


async def _apply_turns(services: Services, conn: AsyncConnection[Any], thread_id: str, after_seq: int,
                       up_to_seq: int | None) -> None:
    """Put the takeover's turns into the graph's state and give the thread back to the assistant."""
    turns = await store.takeover_turns(conn, thread_id, after_seq, up_to_seq)
    await services.graph.aupdate_state({"configurable": {"thread_id": thread_id}},
                                       {"messages": takeover_messages(turns), "handoff": None}, as_node=TERMINAL_NODE)


async def customer_message(services: Services, principal: Principal, thread_id: str, content: str,
                           client_msg_id: str | None = None) -> tuple[list[Event], Any] | None:
    """The customer's message as a `customer_message` event when people have the thread
    (with the sender's rate state: these count against the limit like any message); else None."""
    try:
        async with _locked(services, principal, thread_id) as locked:
            handoff = await store.lock_open(locked.conn, thread_id)
            if handoff is None:
                raise _NotTakenOver
            rate = await rate_limit.take(locked.conn, services.settings, principal.user_id)
            locked.events.append(CustomerMessage(
                message_id="cm_" + uuid.uuid4().hex[:20], content=content, client_msg_id=client_msg_id))
            await store.customer_turn(locked.conn, handoff["handoff_id"], content)
    except (_NotTakenOver, NotFound):
        return None
    return locked.events, rate


class _NotTakenOver(Exception):
    """Leave the transaction: the thread is the assistant's."""


async def _apply_pending_turns(services: Services, thread_id: str) -> None:
    """Turns a release could not add (an approval was pending then) join the state before the next run."""
    async with services.pool.connection() as conn, conn.transaction():
        row = await thread_store.lock_thread(conn, thread_id, services.settings.session_ttl_s)
        if row is None or row["run_live"]:
            return
        pending = await store.unapplied(conn, thread_id)
        if pending and row["status"] == "interrupted":
            # the message about to run supersedes the approval: answer its calls first, so the
            # people's turns come after the tool results (providers want results right after calls)
            await close_pending_calls(services.graph, {"configurable": {"thread_id": thread_id}},
                                      "the customer wrote after talking to a person")
        for h in pending:
            await _apply_turns(services, conn, thread_id, h["opened_seq"], h["closed_seq"])
        if pending:
            await store.mark_turns_applied(conn, [h["handoff_id"] for h in pending])


async def send_customer_message(services: Services, principal: Principal, thread_id: str, content: str,
                                client_msg_id: str | None = None) -> tuple[Any, Any, list[Event]]:
    """A customer's `message`: (run, rate state, []) when the assistant answers, (None, rate state, [event]) when
    people do."""
    from app.conversations import chat
    from app.conversations.runs import PeopleInvolved

    try:  # most messages: the assistant's alone, one transaction
        run, state = await chat.send_message(services, principal, thread_id, content, client_msg_id,
                                             assistant_only=True)
        return run, state, []
    except PeopleInvolved:
        pass
    routed = await customer_message(services, principal, thread_id, content, client_msg_id)
    if routed is not None:
        events, rate = routed
        return None, rate, events
    await _apply_pending_turns(services, thread_id)
    run, state = await chat.send_message(services, principal, thread_id, content, client_msg_id)
    return run, state, []


async def list_handoffs(services: Services, *, statuses: list[str], limit: int) -> list[dict[str, Any]]:
    rows = await store.list_open(services.pool, statuses, limit)
    return [{
        "thread_id": r["thread_id"], "status": r["status"], "reason": r["reason"], "queue": r["queue"],
        "waiting_since": _iso(r["waiting_since"]), "waited_s": int(r["waited_s"] or 0), "holder": _holder(r),
        "claimed_at": _iso(r["claimed_at"]), "user_id": r["owner_id"], "title": r["title"],
        "last_customer_message": r["last_customer_message"], "last_customer_at": _iso(r["last_customer_at"]),
        "customer_messages": r["customer_messages"], "human_messages": r["human_messages"], "last_seq": r["last_seq"],
    } for r in rows]


async def send_due_notices(services: Services) -> int:
    """Tell each customer nobody has claimed in time that the team is busy (once per handoff)."""
    wait_s = services.settings.handoff_wait_notice_s
    if wait_s <= 0:
        return 0
    sent = 0
    for due in await store.due_notices(services.pool, wait_s):
        stamped: list[Event] = []
        async with services.pool.connection() as conn:
            async with conn.transaction():
                row = await thread_store.lock_thread(conn, due["thread_id"], services.settings.session_ttl_s)
                if row is None or row["run_live"]:
                    continue
                taken = await store.mark_notice(conn, due["handoff_id"])
                if taken is None:
                    continue
                stamped = await _append(services, conn, row, [HandoffNotice(
                    message=WAIT_NOTICE, waited_s=int(taken["waited_s"]))])
        services.hub.publish(stamped)
        sent += 1
    return sent


async def notice_loop(services: Services) -> None:
    while True:
        try:
            await send_due_notices(services)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the notice loop outlives any one failed pass
            log.warning("handoff_notice_failed", error=str(exc))
        await asyncio.sleep(services.settings.sweeper_interval_s)


async def last_seq(services: Services, thread_id: str) -> int:
    """The thread's last stored seq (0 for a thread that does not exist)."""
    row = await thread_store.get_thread(services.pool, thread_id)
    return row["last_seq"] if row else 0
