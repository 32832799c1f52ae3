"""SQL for the dashboard summary: the hourly rollup of the conversation records and its refresh.

The `conversations` table is kept current by the `events_analytics` trigger
(migration 1): every non-token event a run appends is folded into its thread's
record, so nothing here, and nothing in the run manager, has to remember to update
it. Dashboard figures read `conversations` (through `analytics_hourly`), `runs`
(time to first token), `interrupts` (approval decisions), `feedback` and `handoffs`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from app.core.db import Pool

__all__ = ["fetch_summary_rows", "refresh_rollup"]

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
