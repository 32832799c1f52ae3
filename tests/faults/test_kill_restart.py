"""kill -9 of the server during a run and during a pending interrupt; restart; finish from Postgres.

The restarted server (same DATABASE_URL, same port) finds the dead run by its lapsed
lease (`RUN_LEASE_S=2`) and the sweeper takes it over from the last checkpoint. The
client resumes with `subscribe` + `after_seq`: it must see every seq exactly once,
and the demo shop (its own process) must have applied each approved action once.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.faults.conftest import (
    FAULT_ENV,
    Shop,
    assert_whole,
    connect,
    healthy,
    new_id,
    thread_events,
    wait_until,
)
from tests.support.pg import PgCluster
from tests.support.server import END_TYPES, ServerProcess, WsClient

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.faults]


def _env(url: str, shop: Shop, **extra: str) -> dict[str, str]:
    return {**FAULT_ENV, "DATABASE_URL": url, "SHOP_API_URL": shop.url, **extra}


async def _resume(server: ServerProcess, user: str, thread_id: str, seen: list[dict[str, Any]],
                  until: set[str] | None = None, timeout: float = 60) -> tuple[WsClient, list[dict[str, Any]]]:
    """Reconnect, subscribe after the last seq seen, and collect up to the next end event of `until`."""
    c = await connect(server, user)
    after = max((f["seq"] for f in seen if "seq" in f), default=0)
    await c.send({"type": "subscribe", "thread_id": thread_id, "after_seq": after})
    await c.next("session_sync", "error", timeout=timeout)
    frames = [f for f in c.frames if "seq" in f]
    if until and not any(f["type"] in until for f in frames[-1:]):
        await c.next(*until, thread_id=thread_id, timeout=timeout)
        frames = [f for f in c.frames if "seq" in f]
    return c, frames


def _seq_frames(c: WsClient) -> list[dict[str, Any]]:
    return [f for f in c.frames if "seq" in f]


async def test_kill9_during_a_run_then_the_restarted_server_finishes_it(pg_cluster: PgCluster, shop: Shop,
                                                                        tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"k9_{uuid.uuid4().hex[:8]}")
    env = _env(url, shop, DEMO_TOKEN_DELAY_MS="15")
    server = ServerProcess(env, data_dir=tmp_path).start()
    user, tid = new_id("k9"), new_id()
    try:
        c = await connect(server, user)
        await c.send({"type": "message", "thread_id": tid, "content": "benchmark reply 300 tokens"})
        for _ in range(20):
            await c.next("token", thread_id=tid)
        server.kill()  # SIGKILL: no shutdown code runs
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await c.recv(timeout=10)
        before = _seq_frames(c)
        assert not any(f["type"] in END_TYPES for f in before)

        server = ServerProcess(env, data_dir=tmp_path, port=server.port).start()
        c2, after = await _resume(server, user, tid, before, until={"message_complete"})
        frames = before + after
        assert_whole(frames)
        runs = [f for f in frames if f["type"] == "run_start"]
        assert [r["trigger"] for r in runs] == ["message", "resume"], "the orphan was taken over exactly once"
        assert frames[-1]["type"] == "message_complete" and len(frames[-1]["content"].split()) == 300
        # the log itself: contiguous, one end event, the same events the client holds
        log = thread_events(server, user, tid)
        assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
        assert [e["seq"] for e in log] == [f["seq"] for f in frames]
        assert sum(1 for e in log if e["type"] in END_TYPES) == 1
        # and the thread is usable again
        assert (await c2.ask(tid, "What is the status of order 1042?"))[-1]["type"] == "message_complete"
        await c2.close()
    finally:
        server.kill()


@pytest.mark.parametrize("kill_at", ["pending_interrupt", "tool_call"])
async def test_kill9_around_an_approval_runs_the_tool_once(pg_cluster: PgCluster, shop: Shop, tmp_path: Path,
                                                           kill_at: str) -> None:
    """Kill while the approval waits, or right as the approved tool is called: one refund, whole transcript."""
    url = pg_cluster.create_database(f"ki_{uuid.uuid4().hex[:8]}")
    env = _env(url, shop, DEMO_TOKEN_DELAY_MS="15")
    order = {"pending_interrupt": "1005", "tool_call": "1006"}[kill_at]
    refunds_before = len(shop.refunds(order))
    server = ServerProcess(env, data_dir=tmp_path).start()
    user, tid = new_id("ki"), new_id()
    try:
        c = await connect(server, user)
        intr = (await c.ask(tid, f"I want a refund for order {order}"))[-1]
        assert intr["type"] == "interrupt" and intr["action"] == "create_refund", intr
        assert intr["approver"] == "customer"
        if kill_at == "tool_call":
            await c.send({"type": "interrupt_response", "thread_id": tid, "approved": True,
                          "interrupt_id": intr["interrupt_id"]})
            await c.next("tool_call", thread_id=tid)
        server.kill()
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await c.recv(timeout=10)
        before = _seq_frames(c)

        server = ServerProcess(env, data_dir=tmp_path, port=server.port).start()
        if kill_at == "pending_interrupt":
            c2, after = await _resume(server, user, tid, before)
            sync = c2.frames[-1]
            assert sync["type"] == "session_sync" and sync["status"] == "interrupted"
            assert sync["pending_interrupt"]["interrupt_id"] == intr["interrupt_id"]
            await c2.send({"type": "interrupt_response", "thread_id": tid, "approved": True,
                           "interrupt_id": intr["interrupt_id"]})
            await c2.next("message_complete", "run_error", thread_id=tid, timeout=60)
            after = _seq_frames(c2)
        else:
            c2, after = await _resume(server, user, tid, before, until={"message_complete", "run_error"})
        frames = before + after
        assert_whole(frames)
        assert frames[-1]["type"] == "message_complete", frames[-1]
        results = [f for f in frames if f["type"] == "tool_result" and f["tool"] == "create_refund"]
        assert results and all(r["ok"] for r in results), [(r["content"], r["run_id"]) for r in results]
        assert len(shop.refunds(order)) == refunds_before + 1, "the approved refund must be applied exactly once"
        log = thread_events(server, user, tid)
        assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
        assert sum(1 for e in log if e["type"] == "interrupt") == 1, "the decision was not lost: no second approval"
        await c2.close()
    finally:
        server.kill()
    wait_until(lambda: not healthy(server), 10, "server gone")
