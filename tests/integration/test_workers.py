"""`support-agent serve --workers N`: several server processes on one port, as a user meets them.

Which worker served a request is read from the operating system: the worker that
holds the server end of our TCP connection (psutil), so nothing is added to the
product for the test's sake.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import websockets

from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster, free_port
from tests.support.server import REPO, ServerProcess, WsClient


def serve_workers(env: dict[str, str], data_dir: Path) -> ServerProcess:
    """`serve --workers 2` with `env`, and none of the caller's settings that would change what is tested."""
    server = ServerProcess(env, data_dir=data_dir, args=["--workers", "2"])
    for name in ("DATABASE_URL", "SHOP_API_URL", "WORKERS", "DEMO_MODE"):
        if name not in env:
            server.env.pop(name, None)
    return server


def worker_pids(server: ServerProcess) -> set[int]:
    """Children of the serve process that listen on its port."""
    assert server.proc is not None
    pids = set()
    for child in psutil.Process(server.proc.pid).children():
        try:
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == server.port
                   for c in child.net_connections(kind="tcp")):
                pids.add(child.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


def serving_pid(server: ServerProcess, client_port: int) -> int | None:
    """The process holding the server end of the connection from `client_port`."""
    assert server.proc is not None
    for proc in [psutil.Process(server.proc.pid), *psutil.Process(server.proc.pid).children()]:
        try:
            for c in proc.net_connections(kind="tcp"):
                if c.laddr.port == server.port and c.raddr and c.raddr.port == client_port:
                    return proc.pid
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, Any]:
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def post(conn: http.client.HTTPConnection, path: str, body: dict[str, Any], key: str) -> tuple[int, Any]:
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", "Idempotency-Key": key})
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def connection_to(server: ServerProcess, pid: int | None = None,
                  timeout: float = 30) -> tuple[http.client.HTTPConnection, int]:
    """A kept-alive HTTP connection that answered /api/health, and the pid serving it (`pid` if given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.connect()
        status, _ = get(conn, "/api/health")
        assert status == 200
        owner = serving_pid(server, conn.sock.getsockname()[1])
        if owner is not None and pid in (None, owner):
            return conn, owner
        conn.close()
    raise AssertionError(f"no connection served by {pid or 'a worker'} within {timeout}s; workers: {worker_pids(server)}")


def wait_for_workers(server: ServerProcess, n: int, timeout: float = 60,
                     without: Collection[int] = ()) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(server) - set(without)
        if len(pids) >= n:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"{n} workers not up within {timeout}s: {worker_pids(server)}\n{server.logs()}")


def distinct_serving_pids(server: ServerProcess, n: int, timeout: float = 30) -> set[int]:
    """Open connections until `n` different processes have answered /api/health on them."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < n and time.monotonic() < deadline:
        conn, pid = connection_to(server, timeout=deadline - time.monotonic())
        seen.add(pid)
        conn.close()
    return seen


@pytest.fixture(scope="module")
def workers(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    url = pg_cluster.create_database(f"w_{uuid.uuid4().hex[:10]}")
    server = serve_workers({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "RATE_LIMIT_MESSAGES": "1000"},
                           Path(tmp_path_factory.mktemp("workers")))
    server.start()
    wait_for_workers(server, 2)
    yield server
    server.stop()


def test_two_worker_processes_answer_on_one_port(workers: ServerProcess) -> None:
    assert workers.proc is not None
    pids = wait_for_workers(workers, 2)
    assert len(pids) == 2 and workers.proc.pid not in pids
    served = distinct_serving_pids(workers, 2)
    assert served == pids, "requests over time are answered by both workers, never by the parent"


@pytest.mark.asyncio(loop_scope="session")
async def test_an_approved_cancel_is_seen_through_every_worker(workers: ServerProcess) -> None:
    """Demo mode without SHOP_API_URL: one shop for all workers, for the tools and at /demo-shop."""
    user = new_id("cust")
    sockets: dict[int, WsClient] = {}
    deadline = time.monotonic() + 30
    while len(sockets) < 2 and time.monotonic() < deadline:
        client = await WsClient.connect(workers.ws_url, token(user))
        pid = serving_pid(workers, client.ws.local_address[1])
        if pid is None or pid in sockets:
            await client.close()
        else:
            sockets[pid] = client
    assert len(sockets) == 2, "two sockets, one on each worker"
    (pid_a, a), (pid_b, b) = sockets.items()

    tid = new_id()
    intr = (await a.ask(tid, "Cancel order 1022"))[-1]
    assert intr["type"] == "interrupt" and intr["action"] == "cancel_order"
    await a.send({"type": "interrupt_response", "thread_id": tid, "approved": True,
                  "interrupt_id": intr["interrupt_id"]})
    frames = await a.until_end(tid)
    assert frames[-1]["type"] == "message_complete" and "cancel" in frames[-1]["content"].lower()

    # the other worker's tools read the same shop
    answer = (await b.ask(new_id(), "What is the status of order 1022?"))[-1]
    assert answer["type"] == "message_complete" and "cancelled" in answer["content"].lower(), answer
    # and so does a browser, whichever worker serves it
    for pid in (pid_a, pid_b):
        conn, _ = connection_to(workers, pid)
        status, order = get(conn, "/demo-shop/orders/1022")
        assert status == 200 and order["status"] == "cancelled", (pid, order)
        status, missing = get(conn, "/demo-shop/orders/9999")
        assert status == 404 and "not found" in missing["detail"], missing
        conn.close()
    await a.close()
    await b.close()


def test_a_worker_that_dies_is_replaced_and_the_shop_keeps_its_state(workers: ServerProcess) -> None:
    before = wait_for_workers(workers, 2)
    victim = min(before)
    key, refund = new_id("key"), {"order_id": "1017", "amount": 5, "reason": "dented box"}
    conn, _ = connection_to(workers, victim)
    status, issued = post(conn, "/demo-shop/refunds", refund, key)
    conn.close()
    assert status == 201, issued

    os.kill(victim, signal.SIGKILL)
    after = wait_for_workers(workers, 2, without={victim})
    assert victim not in after and len(after & before) == 1
    replacement = (after - before).pop()
    conn, _ = connection_to(workers, replacement)
    status, listed = get(conn, "/demo-shop/refunds?order_id=1017")
    assert status == 200 and issued in listed["refunds"]
    status, again = post(conn, "/demo-shop/refunds", refund, key)
    assert (status, again) == (201, issued), "the same Idempotency-Key through another worker changes nothing"
    status, listed = get(conn, "/demo-shop/refunds?order_id=1017")
    assert [r["refund_id"] for r in listed["refunds"]].count(issued["refund_id"]) == 1
    conn.close()


def test_sigterm_stops_workers_shop_and_embedded_postgres(tmp_path: Path) -> None:
    """Without DATABASE_URL the parent's embedded Postgres serves every worker; SIGTERM ends it all, exit 0."""
    server = serve_workers({}, tmp_path)
    server.start(timeout=120)
    try:
        assert server.proc is not None
        pids = wait_for_workers(server, 2)
        family = psutil.Process(server.proc.pid).children(recursive=True)
        shops = [p for p in family if "app.demo.shared" in " ".join(p.cmdline())]
        assert len(shops) == 1, "one shop process for both workers"
        urls = {psutil.Process(pid).environ().get("DATABASE_URL") for pid in pids}
        assert len(urls) == 1 and None not in urls, "the parent hands its one database down to every worker"
        assert (tmp_path / "pg" / "postmaster.pid").exists()

        async def close_code() -> int | None:
            ws = await websockets.connect(server.ws_url)
            await ws.recv()
            server.proc.terminate()  # type: ignore[union-attr]
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 30)
            except websockets.ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None

        assert asyncio.run(close_code()) == 1001, "the worker holding the socket shut down gracefully"
        assert server.proc.wait(60) == 0
        _, alive = psutil.wait_procs(family, timeout=15)
        assert not alive, f"left running: {[(p.pid, p.cmdline()) for p in alive]}"
        assert not (tmp_path / "pg" / "postmaster.pid").exists(), "the embedded Postgres was stopped"
    finally:
        server.stop()


@pytest.mark.asyncio(loop_scope="session")
async def test_processes_set_up_a_fresh_database_at_once(database_url: str) -> None:
    """Workers start together: LangGraph's tables must not deadlock (its CREATE INDEX CONCURRENTLY
    once waited for the transaction of a process queued on the setup lock)."""
    from app.core.config import load_settings
    from app.core.db import apply_migrations, open_pool, setup_checkpointer

    async def start_one() -> None:
        pool = open_pool(database_url, load_settings())
        await pool.open()
        try:
            await apply_migrations(pool)
            await setup_checkpointer(pool)
        finally:
            await pool.close()

    await asyncio.wait_for(asyncio.gather(*(start_one() for _ in range(3))), 60)


def test_bad_worker_count_is_refused() -> None:
    def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(Path(sys.executable).parent / "support-agent"), "serve", "--port", str(free_port()),
               "--no-frontend-build", *args]
        return subprocess.run(cmd, env={**os.environ, **(env or {})}, cwd=REPO, capture_output=True, text=True,
                              timeout=60)

    r = serve("--workers", "0")
    assert r.returncode == 2 and "--workers" in r.stderr and "at least 1" in r.stderr
    r = serve(env={"WORKERS": "0"})
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "WORKERS" in lines[0], r.stderr
