"""A long thread replays completely and in order, read a page at a time (REPLAY_PAGE_SIZE).

The server runs with a page of 7 events; the thread holds a real run plus 1,500
appended events. A `subscribe` from seq 0 and `GET /api/replay/{id}` both give every
event once, in seq order, and the log reader never returns more than a page per query.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.analytics.replay_routes import Timeline
from app.conversations.event_log import append_locked, iter_events
from graphs.events import IntentEvent, Token, ToolResult
from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

PAGE = 7
EXTRA = 1500


@pytest.fixture(scope="module")
def paged_server(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    url = pg_cluster.create_database(f"m_{uuid.uuid4().hex[:10]}")
    proc = ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "DEMO_TOKEN_DELAY_MS": "1",
                          "REPLAY_PAGE_SIZE": str(PAGE), "REPLAY_CONCURRENCY": "1"},
                         data_dir=Path(tmp_path_factory.mktemp("paged")))
    proc.start()
    yield proc
    proc.stop()


async def _append_many(url: str, thread_id: str, n: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        async with conn.transaction():
            cur = await conn.execute("SELECT last_seq FROM threads WHERE thread_id = %s FOR UPDATE", (thread_id,))
            row = await cur.fetchone()
            assert row is not None
            events = []
            for i in range(n):
                if i % 3 == 0:
                    events.append(Token(message_id="m_long", agent="help_center", content=f"w{i} "))
                elif i % 3 == 1:
                    events.append(IntentEvent(intent="faq", confidence=0.5, agent="help_center"))
                else:
                    events.append(ToolResult(call_id=f"c{i}", tool="search", ok=True, content=str(i)))
            await append_locked(conn, thread_id=thread_id, last_seq=row["last_seq"], run_id="run_seeded",
                                events=events, origin="test")


async def test_long_thread_replays_whole_and_in_order_a_page_at_a_time(paged_server: ServerProcess) -> None:
    user = new_id("cust")
    client = await WsClient.connect(paged_server.ws_url, token(user))
    thread_id = new_id("long")
    try:
        run = await client.ask(thread_id, "What is the status of order 1042?")
        assert run[-1]["type"] == "message_complete"
        url = paged_server.env["DATABASE_URL"]
        await _append_many(url, thread_id, EXTRA)
        total = run[-1]["seq"] + EXTRA

        # a new socket: replay_start with the count, every event once in order, replay_end, session_sync
        other = await WsClient.connect(paged_server.ws_url, token(user))
        try:
            await other.send({"type": "subscribe", "thread_id": thread_id, "after_seq": 0})
            start = await other.next("replay_start", thread_id=thread_id)
            assert start["count"] == total
            seqs = []
            while True:
                frame = await other.recv()
                if frame["type"] == "replay_end":
                    break
                seqs.append(frame["seq"])
            assert seqs == list(range(1, total + 1))
            sync = await other.next("session_sync", thread_id=thread_id)
            assert sync["last_seq"] == total
        finally:
            await other.close()

        # REST: the streamed body is a valid Timeline, every event with its ts
        async with httpx.AsyncClient(base_url=paged_server.base, timeout=30) as http:
            res = await http.get(f"/api/replay/{thread_id}", headers={"Authorization": f"Bearer {token(user)}"})
        assert res.status_code == 200, res.text
        timeline = Timeline.model_validate_json(res.content)
        assert [e.seq for e in timeline.events] == list(range(1, total + 1))
        assert all(e.ts for e in timeline.events)
        assert res.json()["events"][:len(run)] == [{**e, "ts": res.json()["events"][i]["ts"]}
                                                   for i, e in enumerate(run)]

        # the one reader honours the page size: no query returns more than a page
        async with AsyncConnectionPool(url, kwargs={"autocommit": True, "row_factory": dict_row},
                                       min_size=1, max_size=1, open=False) as pool:
            pages = [page async for page in iter_events(pool, thread_id, 0, page_size=PAGE)]
        assert max(len(p) for p in pages) == PAGE
        assert len(pages) == -(-total // PAGE)
        assert [e.seq for p in pages for e in p] == list(range(1, total + 1))
    finally:
        await client.close()


class _CountingPool:
    """A real pool that records how many connections are held at once."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.held = 0
        self.most = 0

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        async with self.pool.connection() as conn:
            self.held += 1
            self.most = max(self.most, self.held)
            try:
                await asyncio.sleep(0.01)  # hold it a moment, as a slow query would
                yield conn
            finally:
                self.held -= 1


async def test_concurrent_replays_share_the_process_slots(paged_server: ServerProcess) -> None:
    user = new_id("cust")
    client = await WsClient.connect(paged_server.ws_url, token(user))
    thread_id = new_id("slots")
    try:
        await client.ask(thread_id, "What is the status of order 1042?")
    finally:
        await client.close()
    url = paged_server.env["DATABASE_URL"]
    await _append_many(url, thread_id, 60)
    async with AsyncConnectionPool(url, kwargs={"autocommit": True, "row_factory": dict_row},
                                   min_size=1, max_size=10, open=False) as pool:
        counting = _CountingPool(pool)
        slots = asyncio.Semaphore(2)

        async def replay() -> list[int]:
            return [e.seq or 0 async for page in iter_events(counting, thread_id, 0, page_size=PAGE,  # type: ignore[arg-type]
                                                               slots=slots) for e in page]

        results = await asyncio.gather(*(replay() for _ in range(8)))
    assert all(r == results[0] for r in results) and len(results[0]) >= 60
    assert counting.most == 2  # eight replays at once, never more than two log reads
