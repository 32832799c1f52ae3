"""Retention and thread deletion against real LangGraph checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypedDict

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph

from app.analytics.retention import delete_thread_data, prune_once
from tests.analytics.seed import ThreadScript

OLD_TS = "2020-01-01T00:00:00+00:00"


class Counter(TypedDict):
    n: int


async def _checkpoint(pool, thread_id: str, times: int) -> None:
    """`times` real graph runs on the thread: several checkpoints, blobs and writes."""
    builder = StateGraph(Counter)
    builder.add_node("inc", lambda s: {"n": s.get("n", 0) + 1})
    builder.add_edge(START, "inc")
    builder.add_edge("inc", END)
    graph = builder.compile(checkpointer=AsyncPostgresSaver(pool))
    for _ in range(times):
        await graph.ainvoke({"n": 0}, {"configurable": {"thread_id": thread_id}})


async def _count(pool, table: str, thread_id: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(f"SELECT count(*) AS n FROM {table} WHERE thread_id = %s", (thread_id,))
        row = await cur.fetchone()
    return int(row["n"])


async def _age_thread(pool, thread_id: str, at: datetime) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE threads SET last_activity_at = %s, updated_at = %s WHERE thread_id = %s",
                           (at, at, thread_id))


async def _conversation(pool, thread_id: str, started: datetime, *, answer_at: datetime | None = None) -> ThreadScript:
    s = await ThreadScript(pool, thread_id, "cust", started).create()
    await s.run(ttft_ms=100)
    await s.intent("order_status", "orders")
    await s.answer("orders", "Shipped.", 10, 2)
    if answer_at is not None:
        s.clock = answer_at
        await s.run(ttft_ms=100)
        await s.answer("orders", "Still shipped.", 10, 2)
    await _age_thread(pool, thread_id, s.clock)
    return s


async def test_prune_removes_dead_threads_in_batches_and_keeps_live_ones(pool) -> None:
    now = datetime.now(UTC)
    dead = [f"dead_{i}" for i in range(5)]
    for tid in dead:
        s = await _conversation(pool, tid, now - timedelta(days=40))
        async with pool.connection() as conn:
            await conn.execute("INSERT INTO feedback (thread_id, message_id, user_id, rating) VALUES (%s,%s,%s,'up')",
                               (tid, s.msg, "cust"))
        await _checkpoint(pool, tid, 2)
    # began 40 days ago, still talking yesterday
    await _conversation(pool, "live_span", now - timedelta(days=40), answer_at=now - timedelta(days=1))
    await _checkpoint(pool, "live_span", 3)
    async with pool.connection() as conn:  # its first checkpoints are from before the cutoff
        await conn.execute(
            "UPDATE checkpoints SET checkpoint = jsonb_set(checkpoint, '{ts}', to_jsonb(%s::text))"
            " WHERE thread_id = 'live_span' AND checkpoint_id <> (SELECT max(checkpoint_id) FROM checkpoints"
            " WHERE thread_id = 'live_span')", (OLD_TS,))
    # recent: untouched, checkpoint history kept
    await _conversation(pool, "recent", now - timedelta(days=2))
    await _checkpoint(pool, "recent", 3)
    # old but waiting on an approval: kept
    waiting = await ThreadScript(pool, "waiting", "cust", now - timedelta(days=40)).create()
    await waiting.run()
    await waiting.interrupt("billing", "refund_order", {"order_id": "1"})
    async with pool.connection() as conn:
        await conn.execute("UPDATE threads SET status = 'interrupted', last_activity_at = %s, updated_at = %s"
                           " WHERE thread_id = 'waiting'", (now - timedelta(days=40), now - timedelta(days=40)))
    recent_checkpoints = await _count(pool, "checkpoints", "recent")
    span_events = await _count(pool, "events", "live_span")

    report = await prune_once(pool, retention_days=30, batch_size=2, now=now)

    assert report.threads == 5 and not report.skipped
    for tid in dead:
        for table in ("threads", "events", "runs", "conversations", "feedback",
                      "checkpoints", "checkpoint_blobs", "checkpoint_writes"):
            assert await _count(pool, table, tid) == 0, (table, tid)
    # live thread: old events gone, the conversation record keeps its totals, one checkpoint left
    assert 0 < await _count(pool, "events", "live_span") < span_events
    assert report.events == span_events - await _count(pool, "events", "live_span")
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT agent_messages, runs FROM conversations WHERE thread_id = 'live_span'")
        assert await cur.fetchone() == {"agent_messages": 2, "runs": 2}
    assert report.checkpoint_threads == 1
    assert await _count(pool, "checkpoints", "live_span") == 1
    state = await AsyncPostgresSaver(pool).aget_tuple({"configurable": {"thread_id": "live_span"}})
    assert state is not None and state.checkpoint["channel_values"]["n"] == 1
    assert await _count(pool, "checkpoints", "recent") == recent_checkpoints > 1
    assert await _count(pool, "events", "recent") > 0
    assert await _count(pool, "threads", "waiting") == 1 and await _count(pool, "events", "waiting") == 2

    again = await prune_once(pool, retention_days=30, batch_size=2, now=now)
    assert (again.threads, again.events, again.checkpoint_threads) == (0, 0, 0)


async def test_one_replica_prunes_at_a_time(pool) -> None:
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (0x5A_A6E7 + 6,))
        try:
            report = await prune_once(pool, retention_days=30)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (0x5A_A6E7 + 6,))
    assert report.skipped


async def test_delete_thread_data_removes_all_of_it(pool) -> None:
    now = datetime.now(UTC)
    s = await _conversation(pool, "gone", now - timedelta(hours=1))
    await s.run()
    await s.interrupt("billing", "refund_order", {"order_id": "1"})
    await _checkpoint(pool, "gone", 2)
    await _conversation(pool, "other", now - timedelta(hours=1))
    await _checkpoint(pool, "other", 1)

    assert await delete_thread_data(pool, "gone") is True
    for table in ("threads", "events", "runs", "interrupts", "conversations", "feedback",
                  "checkpoints", "checkpoint_blobs", "checkpoint_writes"):
        assert await _count(pool, table, "gone") == 0, table
    assert await _count(pool, "events", "other") > 0 and await _count(pool, "checkpoints", "other") > 0
    assert await delete_thread_data(pool, "gone") is False
