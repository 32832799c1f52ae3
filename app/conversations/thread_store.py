"""SQL for threads and runs: the row that guards one active run per thread.

A thread's `active_run_id` + `run_lease_until` is the run guard shared by every
server process on the database: a run is taken inside a transaction holding the
thread row (`FOR UPDATE`), renewed by its owner while it runs, and released in the
transaction that writes the run's end event. A lease that lapses (the owner
died) lets another process take the thread over.
"""

from __future__ import annotations

from typing import Any

from app.core.db import Conn, Pool

__all__ = [
    "get_thread",
    "lock_thread",
]

THREAD_COLUMNS = """thread_id, owner_id, title, status, active_run_id, run_lease_until, last_seq,
    message_count, model, retry_pending, created_at, updated_at, last_activity_at,
    (active_run_id IS NOT NULL AND run_lease_until > now()) AS run_live,
    (last_activity_at < now() - make_interval(secs => %(session_ttl_s)s)) AS idle_expired,
    EXISTS (SELECT 1 FROM handoffs h WHERE h.thread_id = threads.thread_id
            AND (h.status <> 'closed' OR NOT h.turns_applied)) AS people_involved"""

SELECT_THREAD = f"SELECT {THREAD_COLUMNS} FROM threads WHERE thread_id = %(thread_id)s"
LOCK_THREAD = SELECT_THREAD + " FOR UPDATE"

INSERT_THREAD = """
INSERT INTO threads (thread_id, owner_id, title, model) VALUES (%(thread_id)s, %(owner_id)s, %(title)s, %(model)s)
ON CONFLICT (thread_id) DO NOTHING
"""

TAKE_RUN = """
UPDATE threads SET active_run_id = %(run_id)s, run_lease_until = now() + make_interval(secs => %(lease_s)s),
    status = 'running', last_activity_at = now(), updated_at = now(), retry_pending = false,
    message_count = message_count + %(new_messages)s,
    title = CASE WHEN title = '' THEN %(title)s ELSE title END
WHERE thread_id = %(thread_id)s
"""

INSERT_RUN = """
INSERT INTO runs (run_id, thread_id, trigger, status, owner, model, input)
VALUES (%(run_id)s, %(thread_id)s, %(trigger)s, 'running', %(owner)s, %(model)s, %(input)s)
"""

RUN_INPUT = "SELECT input FROM runs WHERE run_id = %(run_id)s"

RELEASE_RUN = """
UPDATE threads SET active_run_id = NULL, run_lease_until = NULL, status = %(status)s,
    message_count = message_count + %(new_messages)s, last_activity_at = now(), updated_at = now()
WHERE thread_id = %(thread_id)s AND active_run_id = %(run_id)s
RETURNING last_seq
"""

FINISH_RUN = """
UPDATE runs SET status = %(status)s, ended_at = now(), input_tokens = %(input_tokens)s,
    output_tokens = %(output_tokens)s, error_code = %(error_code)s,
    first_token_at = %(first_token_at)s
WHERE run_id = %(run_id)s
"""

# Rows are locked in thread order, as the event writer locks them: two statements that
# lock several threads each can then never wait on each other in a circle.
# Before a tool call: the run still holds its thread (renewing the lease), or no row.
HOLD_LEASE = """
UPDATE threads SET run_lease_until = now() + make_interval(secs => %(lease_s)s)
WHERE thread_id = %(thread_id)s AND active_run_id = %(run_id)s
RETURNING thread_id
"""

RENEW_LEASES = """
UPDATE threads SET run_lease_until = now() + make_interval(secs => %(lease_s)s)
WHERE thread_id IN (SELECT thread_id FROM threads WHERE active_run_id = ANY(%(run_ids)s)
                    ORDER BY thread_id FOR UPDATE)
RETURNING active_run_id
"""

ORPHANED_RUNS = """
SELECT thread_id, active_run_id FROM threads
WHERE active_run_id IS NOT NULL AND run_lease_until < now()
ORDER BY run_lease_until LIMIT %(limit)s
"""


async def run_input(conn: Conn, run_id: str) -> list[dict[str, Any]] | None:
    """The messages a run was started with (LangChain's message dicts), if it was started with any."""
    cur = await conn.execute(RUN_INPUT, {"run_id": run_id})
    row = await cur.fetchone()
    return row["input"] if row else None


async def lock_thread(conn: Conn, thread_id: str, session_ttl_s: int) -> dict[str, Any] | None:
    cur = await conn.execute(LOCK_THREAD, {"thread_id": thread_id, "session_ttl_s": session_ttl_s})
    return await cur.fetchone()


async def get_thread(pool: Pool, thread_id: str, session_ttl_s: int = 1800) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = await conn.execute(SELECT_THREAD, {"thread_id": thread_id, "session_ttl_s": session_ttl_s})
        return await cur.fetchone()
