"""SQL for retention and deletion: dead threads, old events, superseded checkpoints, one thread's rows."""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from app.core.db import Conn, Pool

__all__ = [
    "delete_dead_threads",
    "delete_old_events",
    "delete_thread_rows",
    "live_threads_with_old_checkpoints",
]

# Threads idle since before the cutoff with nothing running or waiting: removed whole.
DEAD_THREADS = """
SELECT t.thread_id FROM threads t
WHERE t.last_activity_at < %(cutoff)s AND t.updated_at < %(cutoff)s
  AND t.active_run_id IS NULL AND t.status NOT IN ('running', 'interrupted')
  AND NOT EXISTS (SELECT 1 FROM conversations c
                  WHERE c.thread_id = t.thread_id AND c.last_activity_at >= %(cutoff)s)
ORDER BY t.last_activity_at
LIMIT %(limit)s
"""

# Re-checks the conditions: a thread may have woken up since it was selected.
DELETE_DEAD_THREADS = """
DELETE FROM threads
WHERE thread_id = ANY(%(ids)s) AND last_activity_at < %(cutoff)s AND active_run_id IS NULL
RETURNING thread_id
"""

DELETE_THREAD = "DELETE FROM threads WHERE thread_id = %(thread_id)s RETURNING thread_id"

CHECKPOINT_TABLES = ("checkpoint_writes", "checkpoint_blobs", "checkpoints")
DELETE_CHECKPOINTS = "DELETE FROM {table} WHERE thread_id = ANY(%(ids)s)"
CHECKPOINTS_PRESENT = "SELECT to_regclass('checkpoints') IS NOT NULL AS present"

# Old events of threads that are still alive: the conversation record keeps their
# totals. A thread that is running or waiting on an approval keeps all of its events.
DELETE_OLD_EVENTS = """
DELETE FROM events
WHERE ctid = ANY(ARRAY(
    SELECT e.ctid FROM events e
    WHERE e.ts < %(cutoff)s
      AND NOT EXISTS (SELECT 1 FROM threads t
                      WHERE t.thread_id = e.thread_id AND t.status IN ('running', 'interrupted'))
    LIMIT %(limit)s))
"""

# Live threads that began before the cutoff and still hold a superseded checkpoint
# from before it. Only conversations spanning the cutoff can have one.
LIVE_THREADS_WITH_OLD_CHECKPOINTS = """
SELECT c.thread_id FROM conversations c
WHERE c.started_at < %(cutoff)s AND c.last_activity_at >= %(cutoff)s
  AND c.state NOT IN ('running', 'waiting') AND c.thread_id > %(after)s
  AND EXISTS (
      SELECT 1 FROM checkpoints k
      WHERE k.thread_id = c.thread_id AND k.checkpoint_ns = ''
        AND (k.checkpoint ->> 'ts')::timestamptz < %(cutoff)s
        AND k.checkpoint_id < (SELECT max(m.checkpoint_id) FROM checkpoints m
                               WHERE m.thread_id = c.thread_id AND m.checkpoint_ns = ''))
ORDER BY c.thread_id
LIMIT %(limit)s
"""


async def _checkpoints_present(conn: Conn) -> bool:
    cur = await conn.execute(CHECKPOINTS_PRESENT)
    row = await cur.fetchone()
    return bool(row and row["present"])


async def _delete_checkpoints(conn: Conn, ids: list[str]) -> None:
    if ids and await _checkpoints_present(conn):
        for table in CHECKPOINT_TABLES:
            await conn.execute(sql.SQL(DELETE_CHECKPOINTS).format(table=sql.Identifier(table)), {"ids": ids})


async def delete_dead_threads(pool: Pool, *, cutoff: datetime, limit: int) -> tuple[int, int]:
    """Delete one batch of dead threads with all their rows and checkpoints.

    Returns (selected, deleted); the caller stops when nothing was deleted.
    """
    async with pool.connection() as conn:
        cur = await conn.execute(DEAD_THREADS, {"cutoff": cutoff, "limit": limit})
        ids = [r["thread_id"] for r in await cur.fetchall()]
        if not ids:
            return 0, 0
        async with conn.transaction():
            cur = await conn.execute(DELETE_DEAD_THREADS, {"ids": ids, "cutoff": cutoff})
            deleted = [r["thread_id"] for r in await cur.fetchall()]
            await _delete_checkpoints(conn, deleted)
    return len(ids), len(deleted)


async def delete_old_events(pool: Pool, *, cutoff: datetime, limit: int) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(DELETE_OLD_EVENTS, {"cutoff": cutoff, "limit": limit})
        return cur.rowcount


async def live_threads_with_old_checkpoints(
    pool: Pool, *, cutoff: datetime, after: str, limit: int
) -> list[str]:
    async with pool.connection() as conn:
        if not await _checkpoints_present(conn):
            return []
        cur = await conn.execute(LIVE_THREADS_WITH_OLD_CHECKPOINTS,
                                 {"cutoff": cutoff, "after": after, "limit": limit})
        return [r["thread_id"] for r in await cur.fetchall()]


async def delete_thread_rows(pool: Pool, thread_id: str) -> bool:
    """Delete a thread's rows (cascading to runs, events, interrupts, conversation,
    feedback) and its checkpoints, in one transaction. False when nothing was there."""
    async with pool.connection() as conn:
        async with conn.transaction():
            cur = await conn.execute(DELETE_THREAD, {"thread_id": thread_id})
            existed = await cur.fetchone() is not None
            present = await _checkpoints_present(conn)
            if present:
                for table in CHECKPOINT_TABLES:
                    cur = await conn.execute(
                        sql.SQL(DELETE_CHECKPOINTS).format(table=sql.Identifier(table)), {"ids": [thread_id]})
                    existed = existed or cur.rowcount > 0
    return existed
