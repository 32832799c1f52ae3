"""SQL for handoffs: the row that says who, if anyone, holds a thread a person takes over.

A thread has at most one open handoff (`status` waiting or held; a unique partial
index enforces it). Every write here runs inside a transaction that already holds
the thread row (`FOR UPDATE`), and the holder is taken by a conditional UPDATE, so
two operators on two replicas can never both hold a thread. The escalation node's
`handoff` event opens the row by trigger (see the migration).
"""

from __future__ import annotations

from typing import Any

from app.core.db import Conn, Pool

__all__ = [
    "claim", "close", "customer_turn", "due_notices", "human_turn", "insert_held", "is_open", "list_open", "lock_open",
    "mark_notice", "mark_turns_applied", "takeover_turns", "unapplied",
]

_COLUMNS = """handoff_id, thread_id, status, reason, queue, waiting_since, opened_seq, holder_id, holder_name,
    claimed_at, first_human_reply_at, human_messages, customer_messages, last_customer_message,
    last_customer_at, notice_sent_at"""


async def is_open(pool: Pool, thread_id: str) -> bool:
    """Whether people have the thread (it waits for or is held by a person)."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM handoffs WHERE thread_id = %s AND status <> 'closed'", (thread_id,))
        return await cur.fetchone() is not None


async def lock_open(conn: Conn, thread_id: str) -> dict[str, Any] | None:
    """The thread's open handoff, locked (the caller holds the thread row)."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM handoffs WHERE thread_id = %s AND status <> 'closed' FOR UPDATE",
                             (thread_id,))
    return await cur.fetchone()


async def insert_held(conn: Conn, *, thread_id: str, opened_seq: int, holder_id: str,
                      holder_name: str, reason: str) -> dict[str, Any]:
    """A person takes over a thread nobody handed off: open the handoff already held."""
    cur = await conn.execute(
        f"""INSERT INTO handoffs (thread_id, status, reason, opened_seq, holder_id, holder_name, claimed_at)
        VALUES (%s, 'held', %s, %s, %s, %s, now()) RETURNING {_COLUMNS}""",
        (thread_id, reason, opened_seq, holder_id, holder_name))
    row = await cur.fetchone()
    assert row is not None
    return row


async def claim(conn: Conn, handoff_id: int, *, holder_id: str, holder_name: str) -> dict[str, Any] | None:
    """Take the handoff unless someone else holds it; None when they do."""
    cur = await conn.execute(
        f"""UPDATE handoffs SET status = 'held', holder_id = %(holder)s, holder_name = %(name)s,
               claimed_at = coalesce(claimed_at, now())
        WHERE handoff_id = %(id)s AND status <> 'closed' AND (holder_id IS NULL OR holder_id = %(holder)s)
        RETURNING {_COLUMNS}""",
        {"id": handoff_id, "holder": holder_id, "name": holder_name})
    return await cur.fetchone()


async def human_turn(conn: Conn, handoff_id: int) -> None:
    await conn.execute(
        "UPDATE handoffs SET human_messages = human_messages + 1, first_human_reply_at = coalesce(first_human_reply_at, "
        "now()) WHERE handoff_id = %s", (handoff_id,))


async def customer_turn(conn: Conn, handoff_id: int, content: str) -> None:
    await conn.execute(
        "UPDATE handoffs SET customer_messages = customer_messages + 1, last_customer_message = %s, "
        "last_customer_at = now() WHERE handoff_id = %s", (content[:500], handoff_id))


async def close(conn: Conn, handoff_id: int, *, released_by: str, outcome: str, closed_seq: int,
                turns_applied: bool) -> None:
    await conn.execute(
        "UPDATE handoffs SET status = 'closed', released_at = now(), released_by = %s, outcome = %s, closed_seq = %s, "
        "turns_applied = %s WHERE handoff_id = %s", (released_by, outcome, closed_seq, turns_applied, handoff_id))


async def unapplied(conn: Conn, thread_id: str) -> list[dict[str, Any]]:
    """Closed handoffs whose human turns are not yet in the graph's state (an approval was pending at release)."""
    cur = await conn.execute(
        "SELECT handoff_id, opened_seq, closed_seq FROM handoffs WHERE thread_id = %s AND NOT turns_applied "
        "ORDER BY handoff_id FOR UPDATE", (thread_id,))
    return await cur.fetchall()


async def mark_turns_applied(conn: Conn, handoff_ids: list[int]) -> None:
    await conn.execute("UPDATE handoffs SET turns_applied = true WHERE handoff_id = ANY(%s)", (handoff_ids,))


async def takeover_turns(conn: Conn, thread_id: str, after_seq: int,
                         up_to_seq: int | None) -> list[dict[str, Any]]:
    """The customer's and the people's messages of a takeover, in order, as stored events."""
    cur = await conn.execute(
        "SELECT payload FROM events WHERE thread_id = %s AND seq > %s AND (%s::bigint IS NULL OR seq <= %s) "
        "AND type IN ('customer_message', 'human_message') ORDER BY seq",
        (thread_id, after_seq, up_to_seq, up_to_seq))
    return [r["payload"] for r in await cur.fetchall()]


LIST_OPEN = """
SELECT h.handoff_id, h.thread_id, h.status, h.reason, h.queue, h.waiting_since, h.holder_id, h.holder_name,
       h.claimed_at, h.human_messages, h.customer_messages, h.last_customer_message, h.last_customer_at,
       t.owner_id, t.title, t.last_seq, extract(epoch FROM now() - h.waiting_since) AS waited_s
FROM handoffs h JOIN threads t USING (thread_id)
WHERE h.status = ANY(%(statuses)s)
ORDER BY h.waiting_since, h.handoff_id
LIMIT %(limit)s
"""


async def list_open(pool: Pool, statuses: list[str], limit: int) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(LIST_OPEN, {"statuses": statuses, "limit": limit})
        return await cur.fetchall()


async def due_notices(pool: Pool, wait_s: int, limit: int = 50) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT handoff_id, thread_id FROM handoffs WHERE status = 'waiting' AND notice_sent_at IS NULL "
            "AND waiting_since < now() - make_interval(secs => %s) ORDER BY waiting_since LIMIT %s", (wait_s, limit))
        return await cur.fetchall()


async def mark_notice(conn: Conn, handoff_id: int) -> dict[str, Any] | None:
    """Take the notice of a still unclaimed handoff (once, whichever replica gets here first)."""
    cur = await conn.execute(
        "UPDATE handoffs SET notice_sent_at = now() WHERE handoff_id = %s AND status = 'waiting' "
        "AND notice_sent_at IS NULL RETURNING extract(epoch FROM now() - waiting_since) AS waited_s", (handoff_id,))
    return await cur.fetchone()
