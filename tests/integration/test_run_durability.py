"""Events are stored before they are sent, and a run that lost its thread calls no tool (docs/security.md, "Runs").

Both runs here begin with a decision and act on a shop the test holds at will: a
request to a held path waits until the test lets it through, so the database can
go away, or another process can take the thread over, while a tool call is in flight.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from app.demo.shop import create_shop_app
from tests.demo.server import ServedApp
from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster
from tests.support.server import END_TYPES, ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")


class HeldShop:
    """The demo shop behind a gate: requests to a held `METHOD /path` wait until released."""

    def __init__(self) -> None:
        self.inner = create_shop_app()
        self.seen: list[str] = []
        self._held: dict[str, tuple[threading.Event, threading.Event]] = {}

    def hold(self, key: str) -> None:
        self._held[key] = (threading.Event(), threading.Event())

    def wait_arrived(self, key: str, timeout: float = 30) -> None:
        assert self._held[key][0].wait(timeout), f"{key} never reached the shop; it saw {self.seen}"

    def release(self, key: str) -> None:
        self._held[key][1].set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            key = f"{scope['method']} {scope['path']}"
            self.seen.append(key)
            if key in self._held:
                arrived, released = self._held[key]
                arrived.set()
                await asyncio.to_thread(released.wait, 60)
        await self.inner(scope, receive, send)


@pytest.fixture
def shop() -> Iterator[tuple[ServedApp, HeldShop]]:
    held = HeldShop()
    with ServedApp(held) as served:
        yield served, held


async def _wait_for(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        await asyncio.sleep(0.05)


def _take_over(url: str, thread_id: str) -> None:
    """What another process recovering the thread does: take its run guard, append its run_start."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as db, db.transaction():
        row = db.execute("SELECT last_seq FROM threads WHERE thread_id = %s FOR UPDATE", (thread_id,)).fetchone()
        seq = row["last_seq"] + 1
        event = {"type": "run_start", "thread_id": thread_id, "seq": seq, "run_id": "run_thief", "trigger": "resume"}
        db.execute("INSERT INTO events (thread_id, seq, run_id, type, payload) VALUES (%s, %s, 'run_thief', "
                   "'run_start', %s)", (thread_id, seq, json.dumps(event)))
        db.execute("UPDATE threads SET active_run_id = 'run_thief', run_lease_until = now() + interval '1 hour', "
                   "last_seq = %s WHERE thread_id = %s", (seq, thread_id))


async def test_a_run_that_lost_its_thread_calls_no_further_tool(
        pg_cluster: PgCluster, shop: tuple[ServedApp, HeldShop], tmp_path: Path) -> None:
    served, held = shop
    url = pg_cluster.create_database(f"lease_{uuid.uuid4().hex[:8]}")
    # a lease renewed only every 10 s: the check before each tool call must catch the takeover, not the renewal
    env = {"DATABASE_URL": url, "AUTH_SECRET": SECRET, "RUN_LEASE_S": "30", "SHOP_API_URL": served.url}
    with ServerProcess(env, data_dir=tmp_path) as server:
        c = await WsClient.connect(server.ws_url, token(new_id("cust")))
        tid = new_id()
        first = (await c.ask(tid, "Please cancel orders 1002 and 1009"))[-1]
        assert first["type"] == "interrupt" and first["args"] == {"order_id": "1002"}
        await c.send({"type": "interrupt_response", "thread_id": tid, "approved": True})
        second = (await c.until_end(tid))[-1]
        assert second["type"] == "interrupt" and second["args"] == {"order_id": "1009"}

        held.hold("POST /orders/1002/cancel")
        await c.send({"type": "interrupt_response", "thread_id": tid, "approved": True})
        held.wait_arrived("POST /orders/1002/cancel")
        _take_over(url, tid)  # while the first cancellation is in flight
        held.release("POST /orders/1002/cancel")

        await _wait_for(lambda: "run_lease_lost" in server.logs(), 20, "the run noticing it lost its thread")
        assert "POST /orders/1009/cancel" not in held.seen, "a run without its thread called a tool"
        assert held.inner.state.shop.orders["1009"]["status"] != "cancelled"
        await c.close()


async def test_the_end_of_a_decision_run_is_stored_before_it_is_sent(
        shop: tuple[ServedApp, HeldShop], tmp_path: Path) -> None:
    served, held = shop
    # its own cluster (stopping it must not touch other tests' databases), outside tmp_path: pytest
    # sessions running beside this one reset their base folder to 0700, which the postgres user cannot enter
    cluster = PgCluster().init()
    cluster.start()
    try:
        url = cluster.create_database("durable")
        env = {"DATABASE_URL": url, "AUTH_SECRET": SECRET, "SHOP_API_URL": served.url, "DB_CONNECT_TIMEOUT_S": "2"}
        with ServerProcess(env, data_dir=tmp_path / "srv") as server:
            user = new_id("cust")
            c = await WsClient.connect(server.ws_url, token(user))
            tid = new_id()
            intr = (await c.ask(tid, "Cancel order 1002"))[-1]
            assert intr["type"] == "interrupt"
            held.hold("POST /orders/1002/cancel")
            await c.send({"type": "interrupt_response", "thread_id": tid, "approved": True})
            held.wait_arrived("POST /orders/1002/cancel")
            await c.next("tool_call", thread_id=tid)
            cluster.stop("fast")
            held.release("POST /orders/1002/cancel")

            # while the database is down the run stops, and the socket is told so without a seq
            told = await c.next("error", *END_TYPES, thread_id=tid, timeout=60)
            assert told["type"] == "error" and "seq" not in told, told
            assert "database is unavailable" in told["message"]

            cluster.start()
            end = await c.next(*END_TYPES, thread_id=tid, timeout=60)  # sent once it is stored
            assert end["type"] == "run_error" and end["code"] == "database_unavailable", end
            r = httpx.get(f"{server.base}/api/replay/{tid}", headers={"Authorization": f"Bearer {token('a', 'admin')}"})
            log = r.json()["events"]
            assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
            assert log[-1]["seq"] == end["seq"] and log[-1]["type"] == "run_error"
            seen = [f["seq"] for f in c.frames if "seq" in f]
            assert seen == list(range(1, len(seen) + 1)) and seen[-1] == end["seq"], "every seq once, in order"
            stored = {e["seq"]: e["type"] for e in log}
            assert all(stored[f["seq"]] == f["type"] for f in c.frames if "seq" in f)
            await c.close()
    finally:
        cluster.destroy()
