"""Two replicas past one machine: through PgBouncer in transaction mode, with and without Redis.

Each test runs twice, on a pair of server processes whose DATABASE_URL is a real
PgBouncer in transaction mode (LISTEN and the set-up lock on DATABASE_DIRECT_URL):
once with fan-out over Postgres NOTIFY (`pooler`), once over a real redis-server
(`pooler+redis`). Conversations, approvals, fan-out, resuming on the other replica,
cancelling from it, retry and undo must behave exactly as on one machine; with Redis
a restart of Redis mid-run loses no event (the log catch-up by seq).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient
from tests.support.services import PgBouncer, RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Pair:
    one: ServerProcess
    two: ServerProcess
    bouncer: PgBouncer
    dbname: str
    direct_url: str
    redis: RedisServer | None


@pytest.fixture(scope="module", params=["pooler", "pooler+redis"])
def pair(request: pytest.FixtureRequest, pg_cluster: PgCluster,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    dbname = f"so_{uuid.uuid4().hex[:8]}"
    direct = pg_cluster.create_database(dbname)
    bouncer = PgBouncer(pg_cluster).start()
    redis = RedisServer().start() if "redis" in request.param else None
    env = {"DATABASE_URL": bouncer.url(dbname), "DATABASE_DIRECT_URL": direct, "AUTH_SECRET": SECRET,
           "DEMO_TOKEN_DELAY_MS": "3", "RATE_LIMIT_MESSAGES": "1000", "DB_POOL_MAX": "10"}
    if redis is not None:
        env["REDIS_URL"] = redis.url
    one = two = None
    try:
        one = ServerProcess(env, data_dir=Path(tmp_path_factory.mktemp("so1"))).start()
        two = ServerProcess(env, data_dir=Path(tmp_path_factory.mktemp("so2"))).start()
        yield Pair(one, two, bouncer, dbname, direct, redis)
    finally:
        for proc in (one, two):
            if proc is not None:
                proc.stop()
        if redis is not None:
            redis.stop()
        bouncer.stop()


def _auth(user: str, role: str = "customer") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user, role)}"}


def _contiguous(frames: list[dict]) -> list[int]:
    return [f["seq"] for f in frames if "seq" in f]


async def test_the_pool_goes_through_the_pooler_and_a_conversation_works(pair: Pair) -> None:
    before = pair.bouncer.transactions(pair.dbname)
    c = await WsClient.connect(pair.one.ws_url, token(new_id("pb")))
    frames = await c.ask(new_id(), "What is the status of order 1042?")
    assert frames[-1]["type"] == "message_complete" and "1042" in frames[-1]["content"]
    await c.close()
    assert pair.bouncer.transactions(pair.dbname) > before, "the server's statements went through PgBouncer"


async def test_an_approval_decided_on_the_other_replica(pair: Pair) -> None:
    user = new_id("appr")
    customer = await WsClient.connect(pair.one.ws_url, token(user))
    tid = new_id()
    intr = (await customer.ask(tid, "Please refund 20 EUR of order 1017"))[-1]
    assert intr["type"] == "interrupt" and intr["args"] == {"order_id": "1017", "amount": 20.0}
    r = httpx.post(f"{pair.two.base}/api/interrupts/{intr['interrupt_id']}/decision",
                   json={"approved": True}, headers=_auth("olga", "operator"), timeout=30)
    assert r.status_code == 200, r.text
    frames = await customer.until_end(tid, timeout=60)
    assert frames[-1]["type"] == "message_complete", frames[-1]
    # each replica mounts its own demo shop: the refund was made by whichever resumed the run
    refunds = [x for p in (pair.one, pair.two)
               for x in httpx.get(f"{p.base}/demo-shop/refunds", params={"order_id": "1017"}).json()["refunds"]]
    assert [x["amount"] for x in refunds] == [20.0]
    await customer.close()


async def test_live_fan_out_to_the_other_replica(pair: Pair) -> None:
    user = new_id("fan")
    a = await WsClient.connect(pair.one.ws_url, token(user))
    b = await WsClient.connect(pair.two.ws_url, token(user))
    tid = new_id()
    await a.send({"type": "message", "thread_id": tid, "content": "benchmark reply 300 tokens"})
    await a.next("token", thread_id=tid)
    await b.send({"type": "subscribe", "thread_id": tid, "after_seq": 0})
    done_a = (await a.until_end(tid, timeout=60))[-1]
    done_b = await b.next("message_complete", thread_id=tid, timeout=60)
    assert done_a == done_b
    seqs = _contiguous(b.frames)
    assert seqs == list(range(1, done_a["seq"] + 1)), "replay then live: nothing lost or doubled"
    await a.close()
    await b.close()


async def test_resume_on_the_other_replica(pair: Pair) -> None:
    user = new_id("res")
    a = await WsClient.connect(pair.one.ws_url, token(user))
    tid = new_id()
    await a.send({"type": "message", "thread_id": tid, "content": "benchmark reply 600 tokens"})
    seen = (await a.next("token", thread_id=tid))["seq"]
    await a.close()  # the customer's laptop moves to another network; the load balancer picks replica two
    b = await WsClient.connect(pair.two.ws_url, token(user))
    await b.send({"type": "subscribe", "thread_id": tid, "after_seq": seen})
    done = await b.next("message_complete", thread_id=tid, timeout=60)
    seqs = _contiguous(b.frames)
    assert seqs == list(range(seen + 1, done["seq"] + 1)), "every event after the last seen, exactly once"
    await b.close()


async def test_cancel_from_the_other_replica(pair: Pair) -> None:
    user = new_id("cancel")
    a = await WsClient.connect(pair.one.ws_url, token(user))
    b = await WsClient.connect(pair.two.ws_url, token(user))
    tid = new_id()
    await a.send({"type": "message", "thread_id": tid, "content": "benchmark reply 3000 tokens"})
    await a.next("token", thread_id=tid)
    await b.send({"type": "cancel", "thread_id": tid})
    end = await a.next("run_cancelled", "message_complete", thread_id=tid, timeout=60)
    assert end["type"] == "run_cancelled", "a cancel on one replica stops the run on the other"
    frames = await b.ask(tid, "What is the status of order 1042?")
    assert frames[-1]["type"] == "message_complete"
    await a.close()
    await b.close()


async def test_retry_and_undo_through_the_pooler(pair: Pair) -> None:
    user = new_id("retry")
    a = await WsClient.connect(pair.one.ws_url, token(user))
    tid = new_id()
    for q in ("What is the status of order 1042?", "What is the status of order 1033?"):
        assert (await a.ask(tid, q))[-1]["type"] == "message_complete"
    await a.close()
    r = httpx.post(f"{pair.two.base}/api/threads/{tid}/retry", headers=_auth(user), timeout=30).json()
    assert r["ok"] is True and r["last_user_text"] == "What is the status of order 1033?" and r["removed_count"] == 2
    u = httpx.post(f"{pair.one.base}/api/threads/{tid}/undo", headers=_auth(user), timeout=30).json()
    assert u["ok"] is True and u["removed_count"] == 2 and "1042" in u["removed_preview"]
    assert httpx.get(f"{pair.two.base}/api/threads/{tid}", headers=_auth(user)).json()["messages"] == []


async def _notifications_during(pair: Pair, user: str) -> list[str]:
    """The sa_events NOTIFYs Postgres carried while one answer was written (a sentinel marks the end)."""
    async with await psycopg.AsyncConnection.connect(pair.direct_url, autocommit=True) as listener:
        await listener.execute("LISTEN sa_events")
        a = await WsClient.connect(pair.one.ws_url, token(user))
        assert (await a.ask(new_id(), "benchmark reply 50 tokens"))[-1]["type"] == "message_complete"
        await a.close()
        async with await psycopg.AsyncConnection.connect(pair.direct_url, autocommit=True) as other:
            await other.execute("SELECT pg_notify('sa_events', 'sentinel')")
        got: list[str] = []
        async with asyncio.timeout(20):
            async for note in listener.notifies():
                if note.payload == "sentinel":
                    return got
                got.append(note.payload)
    return got


async def test_with_redis_postgres_sends_no_notify_per_event(pair: Pair) -> None:
    notes = await _notifications_during(pair, new_id("quiet"))
    if pair.redis is None:
        assert notes, "without Redis the other replicas hear of events by NOTIFY"
    else:
        assert notes == [], "with Redis the commit takes no NOTIFY lock"


@pytest.mark.parametrize("pair", ["pooler+redis"], indirect=True)
async def test_redis_restarted_mid_run_loses_no_event(pair: Pair) -> None:
    assert pair.redis is not None
    user = new_id("rr")
    a = await WsClient.connect(pair.one.ws_url, token(user))
    b = await WsClient.connect(pair.two.ws_url, token(user))
    tid = new_id()
    await a.send({"type": "message", "thread_id": tid, "content": "benchmark reply 400 tokens"})
    await a.next("token", thread_id=tid)
    await b.send({"type": "subscribe", "thread_id": tid, "after_seq": 0})
    await b.next("session_sync", thread_id=tid, timeout=30)
    await b.next("token", thread_id=tid, timeout=30)  # live over Redis
    pair.redis.kill()
    # the run finishes while Redis is gone: replica two hears nothing of its end
    done = (await a.until_end(tid, timeout=60))[-1]
    assert done["type"] == "message_complete"
    pair.redis.start()  # same port: both replicas reconnect, re-subscribe and read the log by seq
    got = await b.next("message_complete", thread_id=tid, timeout=60)
    assert got == done
    seqs = _contiguous(b.frames)
    assert seqs == list(range(1, done["seq"] + 1)), "every event exactly once, in order"
    # and the bus works again afterwards: a new answer reaches replica two live
    await a.send({"type": "message", "thread_id": tid, "content": "What is the status of order 1042?"})
    after = await b.next("message_complete", thread_id=tid, timeout=60)
    assert after["seq"] > done["seq"]
    await a.close()
    await b.close()
