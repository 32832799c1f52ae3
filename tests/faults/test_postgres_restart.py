"""Postgres goes away under load and comes back.

While it is down, runs in flight stop and each socket is told so at once with an
`error` frame (no seq: nothing is sent before it is stored), new messages are refused
with an `error` frame, health says 503: nothing hangs. Once it is back, each stopped
run's `run_error` (code database_unavailable) is stored and then sent, health is ok
again and every customer can finish a run on the same thread, with the thread's seq
still contiguous.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.conftest import (
    FAULT_ENV,
    Shop,
    connect,
    healthy,
    new_id,
    thread_events,
    token,
    wait_until,
)
from tests.support.pg import PgCluster
from tests.support.server import END_TYPES, ServerProcess, WsClient

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.faults]

CUSTOMERS = 20


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[PgCluster]:
    """A cluster of this test's own: stopping it must not touch other tests' databases."""
    cluster = PgCluster(tmp_path / "pg").init()
    cluster.start()
    yield cluster
    cluster.destroy()


def _running(server: ServerProcess, user: str, thread_id: str) -> bool:
    r = httpx.get(f"{server.base}/api/threads/{thread_id}/status", headers={"Authorization": f"Bearer {token(user)}"},
                  timeout=5)
    return r.status_code != 200 or bool(r.json()["agent_running"])


async def _until_end_or_error(c: WsClient, tid: str, timeout: float) -> dict:
    return await c.next(*END_TYPES, "error", thread_id=tid, timeout=timeout)


async def test_postgres_restart_under_load(own_pg: PgCluster, shop: Shop, tmp_path: Path) -> None:
    url = own_pg.create_database("pgr")
    env = {**FAULT_ENV, "DATABASE_URL": url, "SHOP_API_URL": shop.url, "DEMO_TOKEN_DELAY_MS": "20",
           "DB_CONNECT_TIMEOUT_S": "2"}
    server = ServerProcess(env, data_dir=tmp_path / "srv").start()
    try:
        users = [new_id("pg") for _ in range(CUSTOMERS)]
        tids = [new_id() for _ in range(CUSTOMERS)]
        clients = await asyncio.gather(*(connect(server, u) for u in users))
        for c, t in zip(clients, tids, strict=False):
            await c.send({"type": "message", "thread_id": t, "content": "benchmark reply 400 tokens"})
        # every run is streaming when the database goes away
        await asyncio.gather(*(c.next("token", thread_id=t, timeout=60) for c, t in zip(clients, tids, strict=False)))
        own_pg.stop("fast")

        # nothing hangs: each run in flight stops, and its socket is told so without a seq (its end is not stored yet)
        ends = await asyncio.gather(*(_until_end_or_error(c, t, 60) for c, t in zip(clients, tids, strict=False)))
        assert all(e["type"] == "error" and "seq" not in e for e in ends), [(e["type"], e.get("code")) for e in ends]
        assert all("database is unavailable" in e["message"] for e in ends), [e["message"] for e in ends]
        wait_until(lambda: not healthy(server), 30, "health reports the database down")
        assert httpx.get(server.base + "/api/health", timeout=5).status_code == 503
        # a new message while it is down is refused, not left hanging
        await clients[0].send({"type": "message", "thread_id": tids[0], "content": "hello?"})
        refused = await _until_end_or_error(clients[0], tids[0], 60)
        assert refused["type"] in ("error", "run_error"), refused
        if refused["type"] == "error":  # the words say why, even under the catch-all code
            assert "database is unavailable" in refused["message"], refused

        own_pg.start()
        wait_until(lambda: healthy(server), 60, "health ok once Postgres is back")
        # the failed runs' end events are written as soon as it is back, which frees each thread
        for u, t in zip(users, tids, strict=False):
            wait_until(lambda u=u, t=t: not _running(server, u, t), 30, f"thread {t} released")
        stored_ends = await asyncio.gather(*(c.next(*END_TYPES, thread_id=t, timeout=30) for c, t in zip(clients, tids, strict=False)))
        assert all(e["type"] == "run_error" and e["code"] == "database_unavailable" for e in stored_ends), stored_ends
        # everything works again, on the same threads, over the same sockets
        for c, t in zip(clients, tids, strict=False):
            await c.send({"type": "message", "thread_id": t, "content": "What is the status of order 1042?"})
        done = await asyncio.gather(*(c.next("message_complete", "run_error", "error", thread_id=t, timeout=90)
                                      for c, t in zip(clients, tids, strict=False)))
        assert all(d["type"] == "message_complete" for d in done), [(d["type"], d.get("code"), d.get("message"))
                                                                      for d in done]
        _assert_logs_match_clients(server, users, tids, clients)
        await asyncio.gather(*(c.close() for c in clients))
    finally:
        server.stop()


def _assert_logs_match_clients(server: ServerProcess, users: list[str], tids: list[str],
                               clients: list[WsClient]) -> None:
    for u, t, c in zip(users, tids, clients, strict=False):
        log = thread_events(server, u, t)
        assert [e["seq"] for e in log] == list(range(1, len(log) + 1)), "no hole in the log"
        assert sum(1 for e in log if e["type"] in END_TYPES) == 2, "one end event per run"
        seen = [f["seq"] for f in c.frames if "seq" in f]
        assert seen == list(range(1, len(seen) + 1)), "the live client saw every seq once, in order"
        # what the client was told while the database was down is what the log now says
        told = {f["seq"]: f for f in c.frames if "seq" in f}
        for e in log:
            if e["type"] in END_TYPES:
                assert told[e["seq"]]["type"] == e["type"] and told[e["seq"]].get("code") == e.get("code"), \
                    (told[e["seq"]], e)


async def test_message_right_after_recovery_on_a_thread_whose_run_failed(
        own_pg: PgCluster, shop: Shop, tmp_path: Path) -> None:
    """The customer was told their run failed ("the thread is still usable") and sends again the
    moment the server is healthy: the message starts a run that answers, and the failed run's end
    event is in the log at the seq the customer was given.

    Postgres stays down longer than RUN_LEASE_S, so the failed runs' leases lapse (they cannot be
    renewed) while their end events still wait to be written: the thread must neither be taken
    over as if its owner had died nor be refused as still running.
    """
    url = own_pg.create_database("pgq")
    env = {**FAULT_ENV, "DATABASE_URL": url, "SHOP_API_URL": shop.url, "DEMO_TOKEN_DELAY_MS": "20",
           "DB_CONNECT_TIMEOUT_S": "2"}
    server = ServerProcess(env, data_dir=tmp_path / "srv").start()
    try:
        users = [new_id("pq") for _ in range(6)]
        tids = [new_id() for _ in users]
        clients = await asyncio.gather(*(connect(server, u) for u in users))
        for c, t in zip(clients, tids, strict=False):
            await c.send({"type": "message", "thread_id": t, "content": "benchmark reply 400 tokens"})
        await asyncio.gather(*(c.next("token", thread_id=t, timeout=60) for c, t in zip(clients, tids, strict=False)))
        own_pg.stop("fast")
        # each socket is told at once, without a seq: the end event itself waits to be stored
        ends = await asyncio.gather(*(_until_end_or_error(c, t, 60) for c, t in zip(clients, tids, strict=False)))
        assert all(e["type"] == "error" and "seq" not in e for e in ends), ends
        wait_until(lambda: not healthy(server), 30, "health reports the database down")
        await asyncio.sleep(2 * float(FAULT_ENV["RUN_LEASE_S"]) + 1)  # the outage outlasts every lease
        own_pg.start()
        wait_until(lambda: healthy(server), 60, "health ok once Postgres is back")
        for c, t in zip(clients, tids, strict=False):
            await c.send({"type": "message", "thread_id": t, "content": "What is the status of order 1042?"})
        done = await asyncio.gather(*(_answer_after_stored_end(c, t) for c, t in zip(clients, tids, strict=False)))
        assert all(d["type"] == "message_complete" for d in done), [(d["type"], d.get("code"), d.get("message"))
                                                                      for d in done]
        _assert_logs_match_clients(server, users, tids, clients)
        await asyncio.gather(*(c.close() for c in clients))
    finally:
        server.stop()


async def _answer_after_stored_end(c: WsClient, tid: str) -> dict:
    """The new run's end, after the failed run's own end event (stored first, at the next seq)."""
    while True:
        frame = await c.next("message_complete", "run_error", "error", thread_id=tid, timeout=90)
        if frame["type"] == "run_error" and frame.get("code") == "database_unavailable":
            continue  # the failed run's end, written as the new run started
        return frame


async def test_pool_replaces_a_connection_cut_by_a_restart_without_failing_its_borrower(own_pg: PgCluster) -> None:
    """A connection used a moment before Postgres restarts is not lent out dead: the borrow check
    (skipped for recently used connections, to save a round trip) notices the server closed it."""
    from app.core.config import load_settings
    from app.core.db import open_pool

    url = own_pg.create_database("pgc")
    settings = load_settings().model_copy(update={"db_pool_min": 1, "db_pool_max": 1, "db_check_idle_s": 3600.0})
    pool = open_pool(url, settings)
    await pool.open(wait=True)
    try:
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")
        own_pg.stop("fast")
        own_pg.start()
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT 41 + 1 AS n")).fetchone()
        assert row["n"] == 42
    finally:
        await pool.close()
