"""SQL for per-user limits: the message rate window and the cap on concurrent runs.

Both are checked inside the transaction that starts a run, after
`lock_user()` has taken a transaction-scoped advisory lock on the user: two
starts of one user (on any threads, in any process) then run their checks one
after the other, and each statement after the lock sees what the other one
committed, so a limit of N admits exactly N.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

__all__ = ["count_live_runs", "lock_user", "take_rate"]

# The advisory-lock key space is shared by the whole database: the prefix keeps
# these keys apart from other users of hashtextextended (and from the migration lock).
LOCK_USER = "SELECT pg_advisory_xact_lock(hashtextextended('support-agent:user:' || %(user)s, 0))"

TAKE_RATE = """
WITH recent AS (
    SELECT count(*) AS n,
           extract(epoch FROM (min(ts) + make_interval(secs => %(window)s) - clock_timestamp())) AS wait_s
    FROM rate_limit_hits
    WHERE user_id = %(user)s AND ts > clock_timestamp() - make_interval(secs => %(window)s)
), hit AS (
    INSERT INTO rate_limit_hits (user_id) SELECT %(user)s FROM recent WHERE n < %(limit)s RETURNING 1
)
SELECT n, wait_s, (SELECT count(*) FROM hit) AS taken FROM recent
"""

COUNT_LIVE_RUNS = """
SELECT count(*) AS n FROM threads
WHERE owner_id = %(user)s AND thread_id <> %(thread_id)s
  AND active_run_id IS NOT NULL AND run_lease_until > now()
"""


async def lock_user(conn: AsyncConnection[Any], user_id: str) -> None:
    """Serialise this transaction's per-user checks with every other one of `user_id` (held until commit)."""
    await conn.execute(LOCK_USER, {"user": user_id})


async def take_rate(conn: AsyncConnection[Any], user_id: str, window_s: float, limit: int) -> dict[str, Any]:
    """Record one message if fewer than `limit` fall in the window: {n, wait_s, taken}."""
    cur = await conn.execute(TAKE_RATE, {"user": user_id, "window": window_s, "limit": limit})
    row = await cur.fetchone()
    assert row is not None
    return row


async def count_live_runs(conn: AsyncConnection[Any], user_id: str, *, except_thread: str) -> int:
    """Runs of `user_id`'s threads holding a live lease, other than on `except_thread`."""
    cur = await conn.execute(COUNT_LIVE_RUNS, {"user": user_id, "thread_id": except_thread})
    row = await cur.fetchone()
    return int(row["n"]) if row else 0
