"""Interrupt and session expiry, the rate limit, and replay across a server restart."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_interrupt_expires_on_its_own_and_late_decision_gets_expired(pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"exp_{uuid.uuid4().hex[:8]}")
    with ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "INTERRUPT_TTL_S": "2",
                        "INTERRUPT_WARNING_S": "1"}, data_dir=tmp_path) as server:
        user = new_id("exp")
        c = await WsClient.connect(server.ws_url, token(user))
        tid = new_id()
        intr = (await c.ask(tid, "Cancel order 1030"))[-1]
        assert intr["type"] == "interrupt"
        warning = await c.next("interrupt_warning", "interrupt_expired", thread_id=tid, timeout=20)
        assert warning["type"] == "interrupt_warning", "a warning comes before the expiry"
        assert warning["interrupt_id"] == intr["interrupt_id"] and warning["seconds_left"] <= 1
        expired = await c.next("interrupt_expired", thread_id=tid, timeout=20)
        assert expired["interrupt_id"] == intr["interrupt_id"] and expired["action"] == "cancel_order"
        assert "cancel order" in expired["message"].lower()
        end = await c.next("message_complete", "run_error", thread_id=tid, timeout=20)
        assert end["type"] == "message_complete" and "remains active" in end["content"].lower()
        assert httpx.get(f"{server.base}/demo-shop/orders/1030").json()["status"] != "cancelled"
        await c.send({"type": "interrupt_response", "thread_id": tid, "approved": True,
                      "interrupt_id": intr["interrupt_id"]})
        late = await c.next("interrupt_expired", "error", thread_id=tid)
        assert late["type"] == "interrupt_expired" and late["interrupt_id"] == intr["interrupt_id"]
        # the thread is usable again
        assert (await c.ask(tid, "What is the status of order 1030?"))[-1]["type"] == "message_complete"
        await c.close()


async def test_session_expires_when_idle_but_not_while_interrupt_pending(pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"ses_{uuid.uuid4().hex[:8]}")
    with ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "SESSION_TTL_S": "1"}, data_dir=tmp_path) as server:
        c = await WsClient.connect(server.ws_url, token(new_id("ses")))
        idle, waiting = new_id(), new_id()
        await c.ask(idle, "What is the status of order 1042?")
        await c.ask(waiting, "Cancel order 1044")
        import asyncio

        await asyncio.sleep(1.5)  # the passing of time is what this test is about: idle past SESSION_TTL_S
        await c.send({"type": "message", "thread_id": idle, "content": "hello?"})
        err = await c.next("error", thread_id=idle)
        assert err["code"] == "session_expired" and "expired" in err["message"]
        await c.send({"type": "interrupt_response", "thread_id": waiting, "approved": False})
        assert (await c.until_end(waiting))[-1]["type"] == "message_complete"
        await c.close()


async def test_rate_limit_warns_then_limits_with_retry_after(pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"rl_{uuid.uuid4().hex[:8]}")
    with ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "RATE_LIMIT_MESSAGES": "5",
                        "RATE_LIMIT_WINDOW_S": "60"}, data_dir=tmp_path) as server:
        user = new_id("rl")
        c = await WsClient.connect(server.ws_url, token(user))
        for i in range(5):
            await c.ask(new_id(), f"What is the status of order {1001 + i}?")
        warnings = [f for f in c.frames if f["type"] == "rate_limit_warning"]
        assert warnings and warnings[0]["usage_percent"] >= 80 and warnings[-1]["remaining"] == 0
        tid = new_id()
        await c.send({"type": "message", "thread_id": tid, "content": "What is the status of order 1042?"})
        err = await c.next("error")
        assert err["code"] == "rate_limited" and "rate" in err["message"] and err["retry_after_s"] > 0
        r = httpx.get(f"{server.base}/api/threads/{tid}", headers={"Authorization": f"Bearer {token(user)}"})
        assert r.status_code == 404, "a refused message creates nothing"
        other = await WsClient.connect(server.ws_url, token(new_id("rl2")))
        assert (await other.ask(new_id(), "What is the status of order 1042?"))[-1]["type"] == "message_complete"
        await c.close()
        await other.close()


async def test_replay_after_server_restart_is_exact(pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"rs_{uuid.uuid4().hex[:8]}")
    env = {"DATABASE_URL": url, "AUTH_SECRET": SECRET}
    user = new_id("rs")
    server = ServerProcess(env, data_dir=tmp_path).start()
    c = await WsClient.connect(server.ws_url, token(user))
    tid = new_id()
    first = await c.ask(tid, "What is the status of order 1042?")
    intr = (await c.ask(tid, "Cancel order 1043"))[-1]
    await c.close()
    server.stop()
    server = ServerProcess(env, data_dir=tmp_path, port=server.port).start()
    try:
        c = await WsClient.connect(server.ws_url, token(user))
        after = first[-1]["seq"]
        await c.send({"type": "subscribe", "thread_id": tid, "after_seq": after})
        start = await c.next("replay_start")
        await c.next("replay_end")
        sync = await c.next("session_sync")
        replayed = [f for f in c.frames if "seq" in f]
        assert len(replayed) == start["count"]
        assert replayed[0]["seq"] == after + 1 and replayed[-1]["interrupt_id"] == intr["interrupt_id"]
        assert sorted({f["seq"] for f in replayed}) == [f["seq"] for f in replayed]
        assert sync["status"] == "interrupted" and sync["pending_interrupt"]["interrupt_id"] == intr["interrupt_id"]
        # the pending approval survived the restart: approving it cancels the order
        await c.send({"type": "interrupt_response", "thread_id": tid, "approved": True})
        assert (await c.until_end(tid))[-1]["type"] == "message_complete"
        assert httpx.get(f"{server.base}/demo-shop/orders/1043").json()["status"] == "cancelled"
        await c.close()
    finally:
        server.stop()
