"""Per-user bounds a hostile customer runs into: exact rate limit, concurrent-run cap, retry storms.

Each test starts its own server(s) on one database with the limit under test set low,
and drives them over real WebSockets and HTTP as one customer would from many tabs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _servers(pg_cluster: PgCluster, tmp: Path, env: dict[str, str], count: int = 1) -> list[ServerProcess]:
    url = pg_cluster.create_database(f"b_{uuid.uuid4().hex[:10]}")
    base = {"DATABASE_URL": url, "AUTH_SECRET": SECRET, "INTERRUPT_TTL_S": "600", **env}
    return [ServerProcess(base, data_dir=tmp / f"srv{i}").start() for i in range(count)]


@pytest.fixture(scope="module")
def rated(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    [server] = _servers(pg_cluster, tmp_path_factory.mktemp("rated"),
                        {"RATE_LIMIT_MESSAGES": "5", "RATE_LIMIT_WINDOW_S": "600",
                         "MAX_ACTIVE_RUNS_PER_USER": "1000", "MAX_SOCKETS_PER_USER": "100",
                         "DEMO_TOKEN_DELAY_MS": "2"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def capped(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Two server processes on one database: the cap must hold across them."""
    servers = _servers(pg_cluster, tmp_path_factory.mktemp("capped"),
                       {"RATE_LIMIT_MESSAGES": "1000", "MAX_ACTIVE_RUNS_PER_USER": "2", "DEMO_TOKEN_DELAY_MS": "20"},
                       count=2)
    yield servers
    for s in servers:
        s.stop()


async def _first_answer(c: WsClient, tid: str) -> dict:
    return await c.next("run_start", "error", thread_id=tid, timeout=60)


async def test_rate_limit_is_exact_for_parallel_messages_of_one_user(rated: ServerProcess) -> None:
    """30 messages of one user on 30 threads at once, over 30 sockets: exactly RATE_LIMIT_MESSAGES start."""
    user = new_id("burst")
    clients = await asyncio.gather(*(WsClient.connect(rated.ws_url, token(user)) for _ in range(30)))
    tids = [new_id() for _ in clients]
    await asyncio.gather(*(c.send({"type": "message", "thread_id": t, "content": "Hi"}) for c, t in zip(clients, tids, strict=False)))
    firsts = await asyncio.gather(*(_first_answer(c, t) for c, t in zip(clients, tids, strict=False)))
    started = [f for f in firsts if f["type"] == "run_start"]
    refused = [f for f in firsts if f["type"] == "error"]
    assert len(started) == 5, f"{len(started)} of 30 admitted with RATE_LIMIT_MESSAGES=5"
    assert all(f["code"] == "rate_limited" and f["retry_after_s"] > 0 and "rate" in f["message"] for f in refused), \
        refused[:3]
    # another user is not touched by this one's window
    other = await WsClient.connect(rated.ws_url, token(new_id("calm")))
    assert (await other.ask(new_id(), "Hi"))[-1]["type"] == "message_complete"
    await asyncio.gather(*(c.close() for c in [*clients, other]))


async def test_active_runs_per_user_are_capped_across_processes(capped: list[ServerProcess]) -> None:
    user = new_id("tabs")
    # six tabs, three on each server process, each opening its own thread at the same moment
    clients = await asyncio.gather(*(WsClient.connect(capped[i % 2].ws_url, token(user)) for i in range(6)))
    tids = [new_id() for _ in clients]
    await asyncio.gather(*(c.send({"type": "message", "thread_id": t, "content": "benchmark reply 300 tokens"})
                           for c, t in zip(clients, tids, strict=False)))
    firsts = await asyncio.gather(*(_first_answer(c, t) for c, t in zip(clients, tids, strict=False)))
    started = [i for i, f in enumerate(firsts) if f["type"] == "run_start"]
    refused = [f for f in firsts if f["type"] == "error"]
    assert len(started) == 2, [(f["type"], f.get("code")) for f in firsts]
    for f in refused:
        assert f["code"] == "too_many_runs", f
        assert "at most 2" in f["message"] and "cancel" in f["message"], f["message"]
    # a refused message started and changed nothing: the thread does not exist
    stranger = refused[0]["thread_id"]
    r = httpx.get(f"{capped[0].base}/api/threads/{stranger}/status",
                  headers={"Authorization": f"Bearer {token(user)}"}, timeout=10)
    assert r.status_code == 404, r.text
    # another customer is not limited by this one
    other = await WsClient.connect(capped[1].ws_url, token(new_id("other")))
    assert (await other.ask(new_id(), "Hi", timeout=60))[-1]["type"] == "message_complete"
    # once one run ends (cancelled here), the customer may start another
    first = started[0]
    await clients[first].send({"type": "cancel", "thread_id": tids[first]})
    assert (await clients[first].next("run_cancelled", thread_id=tids[first], timeout=60))["type"] == "run_cancelled"
    late = next(i for i, f in enumerate(firsts) if f["type"] == "error")
    await clients[late].send({"type": "message", "thread_id": tids[late], "content": "Hi"})
    assert (await _first_answer(clients[late], tids[late]))["type"] == "run_start"
    await asyncio.gather(*(c.close() for c in [*clients, other]))


async def test_retry_storm_of_one_customer_does_not_stall_others(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """50 concurrent retries on a small pool: every one answers, and another customer is served meanwhile.

    Each retry holds its thread row while it edits the checkpoint. Borrowing a second
    pooled connection for that edit would wait for a connection held by a retry queued on
    the same row: the pool runs dry and everyone else waits out the pool timeout.
    """
    [server] = _servers(pg_cluster, tmp_path, {"DB_POOL_MIN": "2", "DB_POOL_MAX": "4", "DB_CONNECT_TIMEOUT_S": "5",
                                               "RATE_LIMIT_MESSAGES": "1000", "DEMO_TOKEN_DELAY_MS": "2"})
    try:
        user = new_id("storm")
        c = await WsClient.connect(server.ws_url, token(user))
        tid = new_id()
        for q in ("What is the status of order 1042?", "What is the status of order 1017?"):
            assert (await c.ask(tid, q, timeout=60))[-1]["type"] == "message_complete"
        other = await WsClient.connect(server.ws_url, token(new_id("bystander")))
        headers = {"Authorization": f"Bearer {token(user)}"}
        async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http:
            storm = asyncio.gather(*(http.post(f"/api/threads/{tid}/retry") for _ in range(50)))
            t0 = time.monotonic()
            served = await other.ask(new_id(), "What is the status of order 1042?", timeout=60)
            waited = time.monotonic() - t0
            results = await storm
        assert served[-1]["type"] == "message_complete", served[-1]
        assert waited < 4, f"another customer waited {waited:.1f}s behind one customer's retries"
        assert all(r.status_code in (200, 400) for r in results), sorted({(r.status_code, r.text[:120])
                                                                           for r in results})
        assert sum(r.status_code == 200 for r in results) == 2, "each of the two questions was taken back once"
        await asyncio.gather(c.close(), other.close())
    finally:
        server.stop()
