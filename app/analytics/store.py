"""SQL for analytics, replay, feedback and retention, with small typed functions.

The `conversations` table is kept current by the `events_analytics` trigger
(migration 1): every non-token event a run appends is folded into its thread's
record, so nothing here, and nothing in the run manager, has to remember to update
it. Dashboard figures read `conversations`, `runs` (time to first token),
`interrupts` (approval decisions) and `feedback`; replay reads the event log.

Replay filters are composed from fixed fragments with `psycopg.sql`, so each
combination gets a plan that uses its index instead of one generic
`(%s IS NULL OR ...)` plan.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, LiteralString

from psycopg import sql

from app.core.db import Conn, Pool

__all__ = [
    "ReplayFilters",
    "delete_dead_threads",
    "delete_old_events",
    "delete_thread_rows",
    "fetch_summary_rows",
    "list_conversations",
    "live_threads_with_old_checkpoints",
    "refresh_rollup",
    "thread_owner",
    "upsert_feedback",
]

# ---- summary ----------------------------------------------------------------
# Conversation figures come from `analytics_hourly`, one row per UTC hour, kept
# fresh by `refresh_rollup()`; the partial hours at either end of a range are
# aggregated from `conversations` directly by the same SQL function.

ROLLUP_LOCK_KEY = 0x5A_A6E7 + 7
ROLLUP_LOCK = "SELECT pg_advisory_xact_lock(%(key)s)"
# Every transaction the previous refresh could not see has an xid at or above the
# xmin of that refresh's first snapshot, the watermark; so the hours to recompute are
# those of rows written by such transactions, and nothing committed late is missed.
ROLLUP_STATE = """
SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin FROM analytics_rollup_state WHERE id = 1 FOR UPDATE
"""
PRUNE_STALE = """
DELETE FROM analytics_stale WHERE marked_xid < (SELECT watermark FROM analytics_rollup_state WHERE id = 1)
"""
DIRTY_HOURS = """
SELECT date_trunc('hour', started_at, 'UTC') AS bucket FROM conversations
WHERE touched_xid >= (SELECT watermark FROM analytics_rollup_state WHERE id = 1)
UNION
SELECT bucket FROM analytics_stale
"""
DELETE_HOURS = "DELETE FROM analytics_hourly WHERE bucket = ANY(%(hours)s)"
INSERT_HOURS = """
INSERT INTO analytics_hourly SELECT * FROM analytics_hour_rows(%(hours)s, '-infinity', 'infinity')
"""
SAVE_WATERMARK = "UPDATE analytics_rollup_state SET watermark = %(xmin)s::xid8 WHERE id = 1"

# The range's hour rows (%(full_from)s..%(full_to)s are the whole hours inside it,
# %(edge_hours)s the partial ones, cut to [from, to)) added up per chart bucket, with
# each bucket's usage per model; `mix` (intent and agent counts over the whole range)
# rides along on every row.
SUMMARY_BUCKETS = """
WITH h AS MATERIALIZED (
    SELECT * FROM analytics_hourly WHERE bucket >= %(full_from)s AND bucket < %(full_to)s
    UNION ALL
    SELECT * FROM analytics_hour_rows(%(edge_hours)s::timestamptz[], %(from)s, %(to)s)
), b AS (
    SELECT date_trunc(%(unit)s, bucket, 'UTC') AS bucket,
           sum(conversations)::bigint AS conversations, sum(user_messages)::bigint AS user_messages,
           sum(agent_messages)::bigint AS agent_messages, sum(automated)::bigint AS automated,
           sum(assisted)::bigint AS assisted, sum(escalated)::bigint AS escalated,
           sum(abandoned)::bigint AS abandoned, sum(open)::bigint AS open,
           sum(tool_calls)::bigint AS tool_calls, sum(tool_results)::bigint AS tool_results,
           sum(tool_errors)::bigint AS tool_errors, sum(input_tokens)::bigint AS input_tokens,
           sum(output_tokens)::bigint AS output_tokens
    FROM h GROUP BY 1
), u AS (
    SELECT bucket, jsonb_object_agg(model, jsonb_build_object('input_tokens', i, 'output_tokens', o)) AS usage
    FROM (SELECT date_trunc(%(unit)s, h.bucket, 'UTC') AS bucket, x.key AS model,
                 sum((x.value ->> 'input_tokens')::bigint) AS i, sum((x.value ->> 'output_tokens')::bigint) AS o
          FROM h, jsonb_each(h.usage) AS x GROUP BY 1, 2) y
    GROUP BY bucket
), mix AS (
    SELECT jsonb_build_object(
        'intents', (SELECT coalesce(jsonb_object_agg(name, n), '{}') FROM
                       (SELECT key AS name, sum(value::bigint) AS n FROM h, jsonb_each_text(h.intents) GROUP BY key) i),
        'agents', (SELECT coalesce(jsonb_object_agg(name, n), '{}') FROM
                       (SELECT key AS name, sum(value::bigint) AS n FROM h, jsonb_each_text(h.agents) GROUP BY key) a)
    ) AS mix
)
SELECT b.*, coalesce(u.usage, '{}') AS usage, (SELECT mix FROM mix) AS mix
FROM b LEFT JOIN u USING (bucket)
ORDER BY b.bucket
"""

# Approvals requested in the range, per action. "edited" is an approval whose
# arguments the approver changed; time to decide counts human decisions only.
SUMMARY_APPROVALS = """
SELECT action AS tool,
       count(*) FILTER (WHERE status = 'approved' AND edited_args IS NULL) AS approved,
       count(*) FILTER (WHERE status = 'approved' AND edited_args IS NOT NULL) AS edited,
       count(*) FILTER (WHERE status = 'rejected') AS rejected,
       count(*) FILTER (WHERE status = 'expired') AS expired,
       count(*) FILTER (WHERE status = 'superseded') AS superseded,
       count(*) FILTER (WHERE status = 'pending') AS pending,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at))
           FILTER (WHERE status IN ('approved', 'rejected') AND decided_at IS NOT NULL) AS median_decision_s
FROM interrupts
WHERE created_at >= %(from)s AND created_at < %(to)s
GROUP BY action
ORDER BY action
"""

# Time to first token to the millisecond, counted per value: a hash aggregate over a
# few thousand distinct values instead of sorting every run; the caller interpolates
# the percentiles exactly as percentile_cont would.
SUMMARY_TTFT = """
SELECT round(extract(epoch FROM first_token_at - started_at) * 1000)::bigint AS ms, count(*) AS n
FROM runs
WHERE started_at >= %(from)s AND started_at < %(to)s AND first_token_at IS NOT NULL
GROUP BY 1
ORDER BY 1
"""

SUMMARY_FEEDBACK = """
SELECT count(*) FILTER (WHERE rating = 'up') AS up,
       count(*) FILTER (WHERE rating = 'down') AS down,
       avg(score)::float AS score_avg,
       count(score) AS scored
FROM feedback
WHERE created_at >= %(from)s AND created_at < %(to)s
"""


# Human takeovers that began in the range (issue 14): how long customers waited for a
# person's first words, and how each takeover ended.
SUMMARY_HANDOFFS = """
SELECT count(*) AS handoffs,
       count(*) FILTER (WHERE outcome = 'resolved') AS resolved_by_human,
       count(*) FILTER (WHERE outcome = 'back_to_assistant') AS handed_back,
       count(*) FILTER (WHERE status = 'waiting') AS waiting,
       count(*) FILTER (WHERE status = 'held') AS held,
       count(first_human_reply_at) AS replied,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_human_reply_at - waiting_since))
           FILTER (WHERE first_human_reply_at IS NOT NULL) AS first_reply_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM first_human_reply_at - waiting_since))
           FILTER (WHERE first_human_reply_at IS NOT NULL) AS first_reply_p90
FROM handoffs
WHERE waiting_since >= %(from)s AND waiting_since < %(to)s
"""

SUMMARY_OPERATORS = """
SELECT holder_id AS user_id, max(holder_name) AS name, count(*) AS conversations,
       sum(human_messages)::bigint AS messages,
       count(*) FILTER (WHERE outcome = 'resolved') AS resolved,
       count(*) FILTER (WHERE outcome = 'back_to_assistant') AS handed_back
FROM handoffs
WHERE waiting_since >= %(from)s AND waiting_since < %(to)s AND holder_id IS NOT NULL
GROUP BY holder_id
ORDER BY conversations DESC, holder_id
LIMIT 50
"""


async def refresh_rollup(pool: Pool) -> int:
    """Recompute the hours that changed since the last refresh; returns how many.

    Refreshes are serialised (an advisory lock), so two dashboards asking at once
    do the work once; the event write path never waits on this.
    """
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(ROLLUP_LOCK, {"key": ROLLUP_LOCK_KEY})
        cur = await conn.execute(ROLLUP_STATE)
        state = await cur.fetchone()
        assert state is not None, "analytics_rollup_state is empty: migration 3 did not run"
        await conn.execute(PRUNE_STALE)
        cur = await conn.execute(DIRTY_HOURS)
        hours = [r["bucket"] for r in await cur.fetchall()]
        if hours:
            await conn.execute(DELETE_HOURS, {"hours": hours})
            await conn.execute(INSERT_HOURS, {"hours": hours})
        await conn.execute(SAVE_WATERMARK, {"xmin": state["xmin"]})
    return len(hours)


async def fetch_summary_rows(
    pool: Pool, *, start: datetime, end: datetime, full_from: datetime, full_to: datetime,
    edge_hours: list[datetime], unit: str,
) -> dict[str, Any]:
    """The range's figures per chart bucket, and the rows behind approvals, TTFT and CSAT."""
    params = {"from": start, "to": end, "full_from": full_from, "full_to": full_to, "edge_hours": edge_hours,
              "unit": unit}

    async def fetch(query: str, *, refresh: bool = False) -> list[dict[str, Any]]:
        if refresh:
            await refresh_rollup(pool)
        async with pool.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall()

    # independent queries on separate connections: the wall time is the slowest one
    buckets, approvals, ttft, feedback, handoffs, operators = await asyncio.gather(
        fetch(SUMMARY_BUCKETS, refresh=True), fetch(SUMMARY_APPROVALS), fetch(SUMMARY_TTFT),
        fetch(SUMMARY_FEEDBACK), fetch(SUMMARY_HANDOFFS), fetch(SUMMARY_OPERATORS))
    return {"buckets": buckets, "approvals": approvals, "ttft": ttft, "feedback": feedback, "handoffs": handoffs,
            "operators": operators}


# ---- replay -----------------------------------------------------------------

CONVERSATION_COLUMNS = """
c.thread_id, c.user_id, t.title, c.started_at, c.last_activity_at, c.ended_at, c.state, c.resolution,
c.runs, c.user_messages, c.agent_messages, c.intents, c.agents, c.tools, c.tool_calls, c.tool_results,
c.tool_errors, c.run_errors, c.interrupts, c.approved, c.edited, c.rejected, c.expired, c.superseded,
c.interrupt_log, c.handoff_at, c.handoff_queue, c.handoff_reason, c.input_tokens, c.output_tokens,
c.usage, c.last_seq,
(SELECT count(*) FILTER (WHERE f.rating = 'up') FROM feedback f WHERE f.thread_id = c.thread_id) AS feedback_up,
(SELECT count(*) FILTER (WHERE f.rating = 'down') FROM feedback f WHERE f.thread_id = c.thread_id) AS feedback_down
"""

LIST_CONVERSATIONS = """
SELECT {columns} FROM conversations c JOIN threads t USING (thread_id)
{where}
ORDER BY c.started_at DESC, c.thread_id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""
COUNT_CONVERSATIONS = "SELECT count(*) AS n FROM conversations c {where}"

# One fragment per filter; only the filters given are composed into the query.
FILTER_SQL: dict[str, LiteralString] = {
    "from": "c.started_at >= %(from)s",
    "to": "c.started_at < %(to)s",
    "intent": "c.intents @> ARRAY[%(intent)s::text]",
    "agent": "c.agents @> ARRAY[%(agent)s::text]",
    "resolution": "c.resolution = %(resolution)s",
    "user_id": "c.user_id = %(user_id)s",
}
HAS_INTERRUPT_SQL: LiteralString = "c.interrupts > 0"
NO_INTERRUPT_SQL: LiteralString = "c.interrupts = 0"
CURSOR_SQL: LiteralString = "(c.started_at, c.thread_id) < (%(cursor_started_at)s, %(cursor_thread_id)s)"

ReplayFilters = dict[str, Any]


def _where(filters: ReplayFilters, *, with_cursor: bool) -> sql.Composable:
    parts: list[sql.Composable] = [sql.SQL(FILTER_SQL[k]) for k in FILTER_SQL if filters.get(k) is not None]
    if filters.get("has_interrupt") is True:
        parts.append(sql.SQL(HAS_INTERRUPT_SQL))
    elif filters.get("has_interrupt") is False:
        parts.append(sql.SQL(NO_INTERRUPT_SQL))
    if with_cursor and filters.get("cursor_thread_id") is not None:
        parts.append(sql.SQL(CURSOR_SQL))
    if not parts:
        return sql.SQL("")
    return sql.SQL("WHERE ") + sql.SQL(" AND ").join(parts)


async def list_conversations(
    pool: Pool, filters: ReplayFilters, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of conversation records, newest first, and how many match in all."""
    params = {**filters, "limit": limit, "offset": offset}
    page_query = sql.SQL(LIST_CONVERSATIONS).format(
        columns=sql.SQL(CONVERSATION_COLUMNS), where=_where(filters, with_cursor=True))
    count_query = sql.SQL(COUNT_CONVERSATIONS).format(where=_where(filters, with_cursor=False))
    async with pool.connection() as conn:
        cur = await conn.execute(page_query, params)
        rows = await cur.fetchall()
        cur = await conn.execute(count_query, params)
        count_row = await cur.fetchone()
    return rows, int(count_row["n"]) if count_row else 0


THREAD_OWNER = "SELECT owner_id FROM threads WHERE thread_id = %(thread_id)s"

async def thread_owner(pool: Pool, thread_id: str) -> str | None:
    async with pool.connection() as conn:
        cur = await conn.execute(THREAD_OWNER, {"thread_id": thread_id})
        row = await cur.fetchone()
    return row["owner_id"] if row else None


# ---- feedback ---------------------------------------------------------------

# One rating per customer and message: rating again replaces the earlier one.
UPSERT_FEEDBACK = """
INSERT INTO feedback (thread_id, message_id, user_id, rating, score, comment)
VALUES (%(thread_id)s, %(message_id)s, %(user_id)s, %(rating)s, %(score)s, %(comment)s)
ON CONFLICT (thread_id, message_id, user_id) DO UPDATE
SET rating = EXCLUDED.rating, score = EXCLUDED.score, comment = EXCLUDED.comment, updated_at = now()
RETURNING thread_id, message_id, user_id, rating, score, comment, created_at, updated_at
"""


async def upsert_feedback(pool: Pool, **values: Any) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(UPSERT_FEEDBACK, values)
        row = await cur.fetchone()
    assert row is not None
    return row


# ---- retention and deletion -------------------------------------------------

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

