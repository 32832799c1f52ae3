"""SQL for interrupts: the pending approval of a risky action and its decision.

An interrupt id belongs to one thread for good. Inserting a pending interrupt
whose id exists reopens that row only when it is the same thread's (a run re-raising
the interrupt it raised before, e.g. after recovery), and then every column is
replaced, so no stale approver or arguments survive; the same id on another
thread changes nothing and raises `InterruptIdTaken`.
"""

from __future__ import annotations

from typing import Any

import orjson
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from app.core.db import Conn, Pool
from graphs.events import InterruptEvent, encode_event

INSERT_INTERRUPT = """
INSERT INTO interrupts (interrupt_id, thread_id, run_id, agent, action, args, risk, approver, message,
                        event, expires_at)
VALUES (%(interrupt_id)s, %(thread_id)s, %(run_id)s, %(agent)s, %(action)s, %(args)s, %(risk)s,
        %(approver)s, %(message)s, %(event)s, %(expires_at)s)
ON CONFLICT (interrupt_id) DO UPDATE SET status = 'pending', run_id = EXCLUDED.run_id, agent = EXCLUDED.agent,
    action = EXCLUDED.action, args = EXCLUDED.args, risk = EXCLUDED.risk, approver = EXCLUDED.approver,
    message = EXCLUDED.message, event = EXCLUDED.event, expires_at = EXCLUDED.expires_at, warned_at = NULL,
    decided_at = NULL, decided_by = NULL, edited_args = NULL, reason = NULL
WHERE interrupts.thread_id = EXCLUDED.thread_id
RETURNING interrupt_id
"""

LOCK_PENDING = """
SELECT *, expires_at <= now() AS due FROM interrupts WHERE thread_id = %(thread_id)s AND status = 'pending'
ORDER BY created_at DESC LIMIT 1 FOR UPDATE
"""

GET_INTERRUPT = "SELECT * FROM interrupts WHERE interrupt_id = %(interrupt_id)s"

GET_PENDING = """
SELECT * FROM interrupts WHERE thread_id = %(thread_id)s AND status = 'pending' ORDER BY created_at DESC LIMIT 1
"""

DECIDE = """
UPDATE interrupts SET status = %(status)s, decided_at = now(), decided_by = %(decided_by)s,
    edited_args = %(edited_args)s, reason = %(reason)s
WHERE interrupt_id = %(interrupt_id)s AND status = 'pending'
"""

LIST_BY_STATUS = """
SELECT i.*, t.owner_id FROM interrupts i JOIN threads t USING (thread_id)
WHERE (%(status)s::text IS NULL OR i.status = %(status)s)
  AND (%(approver)s::text IS NULL OR i.approver = %(approver)s)
ORDER BY i.created_at DESC LIMIT %(limit)s OFFSET %(offset)s
"""

DUE_TO_EXPIRE = """
SELECT interrupt_id, thread_id FROM interrupts WHERE status = 'pending' AND expires_at <= now()
ORDER BY expires_at LIMIT %(limit)s
"""

DUE_FOR_WARNING = """
UPDATE interrupts SET warned_at = now()
WHERE interrupt_id IN (
    SELECT interrupt_id FROM interrupts
    WHERE status = 'pending' AND warned_at IS NULL AND expires_at > now()
      AND expires_at <= now() + make_interval(secs => %(warning_s)s)
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING interrupt_id, thread_id, expires_at
"""


class InterruptIdTaken(Exception):
    """The interrupt id is another thread's: nothing was written."""


async def insert_pending(conn: Conn, event: InterruptEvent) -> None:
    """Record a stamped `interrupt` event as the thread's pending approval (`event` keeps it as sent)."""
    cur = await conn.execute(
        INSERT_INTERRUPT,
        {
            "interrupt_id": event.interrupt_id,
            "thread_id": event.thread_id,
            "run_id": event.run_id or "",
            "agent": event.agent,
            "action": event.action,
            "args": Jsonb(event.args),
            "risk": event.risk,
            "approver": event.approver,
            "message": event.message,
            "event": Jsonb(orjson.Fragment(encode_event(event)), dumps=orjson.dumps),
            "expires_at": event.expires_at,
        },
    )
    if await cur.fetchone() is None:
        raise InterruptIdTaken(f"interrupt id {event.interrupt_id} belongs to another thread than "
                               f"{event.thread_id}; it was not reopened")


async def lock_pending(conn: Conn, thread_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(LOCK_PENDING, {"thread_id": thread_id})
    return await cur.fetchone()


async def get_pending(pool: Pool, thread_id: str) -> dict[str, Any] | None:
    """The thread's pending interrupt, without a lock (`lock_pending` inside a decision's transaction)."""
    async with pool.connection() as conn:
        cur = await conn.execute(GET_PENDING, {"thread_id": thread_id})
        return await cur.fetchone()


async def get_interrupt(pool_or_conn: Pool | Conn, interrupt_id: str) -> dict[str, Any] | None:
    if isinstance(pool_or_conn, AsyncConnectionPool):
        async with pool_or_conn.connection() as conn:
            cur = await conn.execute(GET_INTERRUPT, {"interrupt_id": interrupt_id})
            return await cur.fetchone()
    cur = await pool_or_conn.execute(GET_INTERRUPT, {"interrupt_id": interrupt_id})
    return await cur.fetchone()


async def decide(
    conn: Conn, *, interrupt_id: str, status: str, decided_by: str,
    edited_args: dict[str, Any] | None, reason: str | None,
) -> None:
    await conn.execute(
        DECIDE,
        {
            "interrupt_id": interrupt_id,
            "status": status,
            "decided_by": decided_by,
            "edited_args": Jsonb(edited_args) if edited_args is not None else None,
            "reason": reason,
        },
    )


async def list_interrupts(
    pool: Pool, *, status: str | None, approver: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            LIST_BY_STATUS, {"status": status, "approver": approver, "limit": limit, "offset": offset}
        )
        return await cur.fetchall()


async def due_to_expire(pool: Pool, limit: int = 100) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(DUE_TO_EXPIRE, {"limit": limit})
        return await cur.fetchall()


async def due_for_warning(pool: Pool, warning_s: int, limit: int = 100) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(DUE_FOR_WARNING, {"warning_s": warning_s, "limit": limit})
        return await cur.fetchall()
