"""SQL of the Agent Server API: thread metadata, what a run was created with, thread search.

The threads, runs and events themselves are the conversations feature's tables; this
store only adds the two things LangGraph clients set that our own surface has no
place for (`lg_threads.metadata`, `lg_runs`), and reads the rest back in the shapes
the API needs. A thread that has had a run shows `graph_id` and `assistant_id` in its
metadata whichever surface started it (stamped here in SQL, not copied).
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from app.core.db import Pool

__all__ = [
    "find_run_start", "get_run", "latest_run", "list_runs", "record_run", "search_threads", "set_metadata",
    "successor", "thread_metadata",
]

# A thread's metadata: what clients set, plus graph_id / assistant_id once it has had a run.
_METADATA = """(coalesce(l.metadata, '{}'::jsonb) || CASE WHEN EXISTS (SELECT 1 FROM runs r WHERE r.thread_id = t.thread_id)
    THEN jsonb_build_object('graph_id', %(graph_id)s::text, 'assistant_id', %(assistant_id)s::text)
    ELSE '{}'::jsonb END)"""

UPSERT_METADATA = """
INSERT INTO lg_threads (thread_id, metadata) VALUES (%(thread_id)s, %(metadata)s)
ON CONFLICT (thread_id) DO UPDATE SET metadata = lg_threads.metadata || EXCLUDED.metadata
"""

THREAD_METADATA = f"""
SELECT {_METADATA} AS metadata FROM threads t LEFT JOIN lg_threads l USING (thread_id)
WHERE t.thread_id = %(thread_id)s
"""

_SORT = {"thread_id": "t.thread_id", "created_at": "t.created_at", "updated_at": "t.updated_at",
         "status": "t.status"}

SEARCH = """
SELECT t.thread_id, t.owner_id, t.status, t.created_at, t.updated_at,
       (t.active_run_id IS NOT NULL AND t.run_lease_until > now()) AS run_live, {metadata} AS metadata
FROM threads t LEFT JOIN lg_threads l USING (thread_id)
WHERE (%(owner)s::text IS NULL OR t.owner_id = %(owner)s)
  AND (%(ids)s::text[] IS NULL OR t.thread_id = ANY(%(ids)s))
  AND {metadata} @> %(filter)s
  AND (%(status)s::text IS NULL OR CASE
        WHEN t.active_run_id IS NOT NULL AND t.run_lease_until > now() THEN 'busy'
        WHEN t.status = 'interrupted' THEN 'interrupted' ELSE 'idle' END = %(status)s)
ORDER BY {sort} {order}, t.thread_id LIMIT %(limit)s OFFSET %(offset)s
"""

RECORD_RUN = """
INSERT INTO lg_runs (run_id, thread_id, assistant_id, metadata, multitask_strategy)
VALUES (%(run_id)s, %(thread_id)s, %(assistant_id)s, %(metadata)s, %(multitask_strategy)s)
ON CONFLICT (run_id) DO NOTHING
"""

_RUN_COLUMNS = """r.run_id, r.thread_id, r.status, r.error_code, r.started_at, r.ended_at, r.trigger,
       l.assistant_id, coalesce(l.metadata, '{}'::jsonb) AS metadata,
       coalesce(l.multitask_strategy, 'reject') AS multitask_strategy"""

GET_RUN = f"""
SELECT {_RUN_COLUMNS} FROM runs r LEFT JOIN lg_runs l USING (run_id)
WHERE r.run_id = %(run_id)s AND r.thread_id = %(thread_id)s
"""

LIST_RUNS = f"""
SELECT {_RUN_COLUMNS} FROM runs r LEFT JOIN lg_runs l USING (run_id)
WHERE r.thread_id = %(thread_id)s AND (%(status)s::text[] IS NULL OR r.status = ANY(%(status)s))
ORDER BY r.started_at DESC, r.run_id LIMIT %(limit)s OFFSET %(offset)s
"""

# The run that took a thread over from `run_id` (whose owner died): started after it, in
# the transaction that marked it `owner_lost`.
SUCCESSOR = """
SELECT run_id, status, error_code, trigger, started_at FROM runs
WHERE thread_id = %(thread_id)s AND run_id <> %(run_id)s AND started_at >= %(started_at)s
ORDER BY started_at, run_id LIMIT 1
"""

RUN_START_SEQ = """
SELECT seq FROM events WHERE thread_id = %(thread_id)s AND run_id = %(run_id)s AND type = 'run_start'
"""


async def set_metadata(pool: Pool, thread_id: str, metadata: dict[str, Any]) -> None:
    async with pool.connection() as conn:
        await conn.execute(UPSERT_METADATA, {"thread_id": thread_id, "metadata": Jsonb(metadata)})


async def thread_metadata(pool: Pool, thread_id: str, *, graph_id: str,
                          assistant_id: str) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(THREAD_METADATA, {"thread_id": thread_id, "graph_id": graph_id,
                                                   "assistant_id": assistant_id})
        row = await cur.fetchone()
    return dict(row["metadata"]) if row else {}


async def search_threads(pool: Pool, *, owner: str | None, ids: list[str] | None,
                         metadata: dict[str, Any], status: str | None, sort_by: str, sort_order: str,
                         limit: int, offset: int, graph_id: str, assistant_id: str) -> list[dict[str, Any]]:
    sql = SEARCH.format(metadata=_METADATA, sort=_SORT[sort_by], order="ASC" if sort_order == "asc" else "DESC")
    async with pool.connection() as conn:
        cur = await conn.execute(sql, {"owner": owner, "ids": ids, "filter": Jsonb(metadata), "status": status,
                                       "limit": limit, "offset": offset, "graph_id": graph_id,
                                       "assistant_id": assistant_id})
        return list(await cur.fetchall())


async def record_run(pool: Pool, *, run_id: str, thread_id: str, assistant_id: str,
                     metadata: dict[str, Any], multitask_strategy: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(RECORD_RUN, {"run_id": run_id, "thread_id": thread_id, "assistant_id": assistant_id,
                                        "metadata": Jsonb(metadata), "multitask_strategy": multitask_strategy})


async def get_run(pool: Pool, thread_id: str, run_id: str) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = await conn.execute(GET_RUN, {"thread_id": thread_id, "run_id": run_id})
        return await cur.fetchone()


async def latest_run(pool: Pool, thread_id: str) -> dict[str, Any] | None:
    rows = await list_runs(pool, thread_id, status=None, limit=1, offset=0)
    return rows[0] if rows else None


async def list_runs(pool: Pool, thread_id: str, *, status: list[str] | None, limit: int,
                    offset: int) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(LIST_RUNS, {"thread_id": thread_id, "status": status, "limit": limit,
                                             "offset": offset})
        return list(await cur.fetchall())


async def find_run_start(pool: Pool, thread_id: str, run_id: str) -> int | None:
    """The seq of the run's `run_start` event: where its stream begins."""
    async with pool.connection() as conn:
        cur = await conn.execute(RUN_START_SEQ, {"thread_id": thread_id, "run_id": run_id})
        row = await cur.fetchone()
    return row["seq"] if row else None


async def successor(pool: Pool, thread_id: str, run_id: str, started_at: Any) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = await conn.execute(SUCCESSOR, {"thread_id": thread_id, "run_id": run_id, "started_at": started_at})
        return await cur.fetchone()
