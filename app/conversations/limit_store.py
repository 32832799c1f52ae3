"""SQL for per-user limits: the message rate window and the cap on concurrent runs.

Both are checked inside the transaction that starts a run, under a
transaction-scoped advisory lock on the user taken just before: two
starts of one user (on any threads, in any process) then run their checks one
after the other, and each statement after the lock sees what the other one
committed, so a limit of N admits exactly N.
"""

from __future__ import annotations

from typing import Any

from app.core.db import Conn

__all__ = ["count_live_runs", "take_rate"]

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


async def _locked(conn: Conn, user_id: str, query: str, params: dict[str, Any]) -> dict[str, Any]:
    """Take the user's lock (held until commit), then run `query`: one round trip.

    Pipelined, the two statements still run one after the other on the server, so the
    query's snapshot is taken once the lock is held and sees what its last holder committed
    (one statement doing both would snapshot before waiting for the lock). Taking the lock
    again in the same transaction returns at once.
    """
    async with conn.pipeline():
        await conn.execute(LOCK_USER, {"user": user_id})
        cur = await conn.execute(query, params)
    row = await cur.fetchone()
    assert row is not None
    return row


async def take_rate(conn: Conn, user_id: str, window_s: float, limit: int) -> dict[str, Any]:
    """Under the user's lock, record one message if fewer than `limit` fall in the window: {n, wait_s, taken}."""
    return await _locked(conn, user_id, TAKE_RATE, {"user": user_id, "window": window_s, "limit": limit})


async def count_live_runs(conn: Conn, user_id: str, *, except_thread: str) -> int:
    """Under the user's lock, the runs of `user_id`'s threads holding a live lease, other than `except_thread`."""
    row = await _locked(conn, user_id, COUNT_LIVE_RUNS, {"user": user_id, "thread_id": except_thread})
    return int(row["n"])
