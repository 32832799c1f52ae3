"""SQL for replay: the conversation list (filtered, paged) and a thread's owner.

Replay filters are composed from fixed fragments with `psycopg.sql`, so each
combination gets a plan that uses its index instead of one generic
`(%s IS NULL OR ...)` plan. The events themselves are read through the event log
(`app.conversations.event_log`), its one reader.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, LiteralString, TypedDict

from psycopg import sql

from app.core.db import Pool

__all__ = ["ReplayFilters", "list_conversations", "thread_owner"]

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

# What the replay list may be filtered by; None (or absent) means "any". "from" is a
# keyword, hence the functional form.
ReplayFilters = TypedDict("ReplayFilters", {
    "from": datetime | None,
    "to": datetime | None,
    "intent": str | None,
    "agent": str | None,
    "resolution": str | None,
    "user_id": str | None,
    "has_interrupt": bool | None,
    "cursor_started_at": datetime,
    "cursor_thread_id": str,
}, total=False)


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
