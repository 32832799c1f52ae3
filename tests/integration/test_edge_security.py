"""The edge defences of docs/security.md, against the real server over real sockets.

A "remote" caller is real: the client socket is bound to this machine's non-loopback
address (e.g. 192.0.2.2) and connects to 127.0.0.1, so the server sees a peer that
is not loopback, exactly as it would see another machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import websockets

from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster, free_port
from tests.support.server import REPO, ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

WIDGET_ORIGIN = "https://shop.example"


def public_address() -> str:
    """An IPv4 address of this machine that is not loopback."""
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family.name == "AF_INET" and not a.address.startswith("127."):
                return str(a.address)
    raise RuntimeError("this machine has no non-loopback IPv4 address to act as a remote caller from")


def remote_client() -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=public_address()), timeout=10)


async def close_code_of(url: str, **kwargs: Any) -> int | None:
    """Open a socket and return the close code the server ends it with (None if it stays open)."""
    async with websockets.connect(url, open_timeout=10, **kwargs) as ws:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        except TimeoutError:
            return None


@pytest.fixture(scope="module")
def local_server(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    url = pg_cluster.create_database(f"m_{uuid.uuid4().hex[:10]}")
    proc = ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": ""}, data_dir=tmp_path_factory.mktemp("local"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def auth_server(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    url = pg_cluster.create_database(f"m_{uuid.uuid4().hex[:10]}")
    proc = ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "AUTH_LEEWAY_S": "0",
                          "MAX_SOCKETS_PER_USER": "2", "MAX_SUBSCRIPTIONS_PER_SOCKET": "2",
                          "MAX_BODY_BYTES": "65536", "CORS_ALLOW_ORIGINS": json.dumps([WIDGET_ORIGIN])},
                         data_dir=tmp_path_factory.mktemp("auth"))
    proc.start()
    yield proc
    proc.stop()


# --- item 2: local mode is local ---------------------------------------------------------


async def test_local_mode_refuses_a_peer_that_is_not_this_machine(local_server: ServerProcess) -> None:
    with remote_client() as remote:
        r = remote.get(local_server.base + "/api/threads")
        assert r.status_code == 403 and "local mode" in r.json()["error"], r.text
    # a proxy on this machine forwarding a remote caller: uvicorn reports the forwarded peer
    r = httpx.get(local_server.base + "/api/threads", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 403, r.text
    code = await close_code_of(local_server.ws_url, local_addr=(public_address(), 0))
    assert code == 4003
    assert httpx.get(local_server.base + "/api/threads").status_code == 200  # this machine still may


async def test_local_mode_refuses_a_foreign_host_name(local_server: ServerProcess) -> None:
    # DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its own Host
    r = httpx.get(local_server.base + "/api/threads", headers={"Host": f"evil.example:{local_server.port}"})
    assert r.status_code == 421 and "localhost" in r.json()["error"], r.text
    code = await close_code_of(f"ws://evil.example:{local_server.port}/ws", host="127.0.0.1")
    assert code == 4003
    assert httpx.get(local_server.base + "/api/threads", headers={"Host": f"localhost:{local_server.port}"}).status_code == 200


async def test_local_mode_refuses_a_foreign_origin(local_server: ServerProcess) -> None:
    evil = {"Origin": "https://evil.example"}
    r = httpx.post(local_server.base + "/api/threads", json={}, headers=evil)
    assert r.status_code == 403 and "origin" in r.json()["error"], r.text
    assert await close_code_of(local_server.ws_url, origin="https://evil.example") == 4003
    assert await close_code_of(local_server.ws_url, origin="null") == 4003  # a sandboxed frame, a file:// page
    own = f"http://127.0.0.1:{local_server.port}"
    r = httpx.post(local_server.base + "/api/threads", json={}, headers={"Origin": own})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers  # no "*" by default
    ws = await WsClient.connect(local_server.ws_url)  # no Origin: not a browser
    await ws.close()
    # a page of this machine on another port (the widget on a local test site) may connect
    assert await close_code_of(local_server.ws_url, origin="http://127.0.0.1:9") is None


async def test_local_mode_refuses_to_start_on_a_wildcard_address_whoever_launches_it(
        pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"t_{uuid.uuid4().hex[:10]}")
    env = {**os.environ, "DATABASE_URL": url, "AUTH_SECRET": "", "DATA_DIR": str(tmp_path)}
    env.pop("AUTH_SECRET")
    launched = subprocess.run(
        [sys.executable, "-m", "uvicorn", "app.main:create_app_from_env", "--factory", "--host", "0.0.0.0",
         "--port", str(free_port())], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert launched.returncode != 0
    assert "refusing to listen on '0.0.0.0' without AUTH_SECRET" in launched.stderr + launched.stdout
    cli = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--host", "", "--port", str(free_port()),
                          "--no-frontend-build"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and "refusing to listen on ''" in cli.stderr, cli.stderr


async def test_no_wildcard_cors_and_only_listed_origins(auth_server: ServerProcess) -> None:
    evil = httpx.get(auth_server.base + "/api/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers
    widget = httpx.get(auth_server.base + "/api/health", headers={"Origin": WIDGET_ORIGIN})
    assert widget.headers.get("access-control-allow-origin") == WIDGET_ORIGIN


async def test_a_json_endpoint_refuses_other_content_types(auth_server: ServerProcess) -> None:
    headers = {"Authorization": f"Bearer {token(new_id('c'))}", "Content-Type": "text/plain"}
    r = httpx.post(auth_server.base + "/api/threads", content=b'{"title": "x"}', headers=headers)
    assert r.status_code == 415 and "application/json" in r.json()["error"], r.text
    r = httpx.post(auth_server.base + "/api/threads", content=b"title=x",
                   headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415


# --- item 5 (edge part): bounded sizes and counts -----------------------------------------


async def test_rest_bodies_are_capped(auth_server: ServerProcess) -> None:
    headers = {"Authorization": f"Bearer {token(new_id('c'))}"}
    big = {"thread_id": new_id(), "messages": [{"role": "user", "content": "x" * 70_000}]}
    r = httpx.post(auth_server.base + "/api/threads/import", json=big, headers=headers)
    assert r.status_code == 413 and "MAX_BODY_BYTES" in r.json()["error"], r.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"title": "'
        for _ in range(80):
            yield b"y" * 1024
        yield b'"}'

    r = httpx.post(auth_server.base + "/api/threads", content=chunks(),
                   headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert httpx.post(auth_server.base + "/api/threads", json={}, headers=headers).status_code == 200


async def test_sockets_per_user_are_capped(auth_server: ServerProcess) -> None:
    tok = token(new_id("many"))
    first, second = [await WsClient.connect(auth_server.ws_url, tok) for _ in range(2)]
    assert await close_code_of(f"{auth_server.ws_url}?token={tok}") == 4029
    other = await WsClient.connect(auth_server.ws_url, token(new_id("else")))  # another user is not affected
    await first.close()
    third = await WsClient.connect(auth_server.ws_url, tok)  # a freed slot is usable again
    for c in (second, other, third):
        await c.close()


async def test_subscriptions_per_socket_are_capped(auth_server: ServerProcess) -> None:
    user = new_id("subs")
    c = await WsClient.connect(auth_server.ws_url, token(user))
    for _ in range(2):
        tid = httpx.post(auth_server.base + "/api/threads", json={},
                         headers={"Authorization": f"Bearer {token(user)}"}).json()["thread_id"]
        await c.send({"type": "subscribe", "thread_id": tid})
        await c.next("session_sync", thread_id=tid)
    await c.send({"type": "subscribe", "thread_id": new_id()})
    err = await c.next("error")
    assert err["code"] == "too_many_subscriptions" and "MAX_SUBSCRIPTIONS_PER_SOCKET" in err["message"]
    await c.send({"type": "ping"})
    await c.next("pong")  # the socket stays up
    await c.close()


# --- item 3: a socket lives as long as its token ------------------------------------------


async def test_a_socket_is_closed_when_its_token_expires(auth_server: ServerProcess) -> None:
    c = await WsClient.connect(auth_server.ws_url, token(new_id("short"), ttl=2))
    started = time.monotonic()
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await c.recv(timeout=15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    assert "expired" in closed.value.rcvd.reason
    assert time.monotonic() - started < 10


async def test_tokens_never_reach_the_access_log_whoever_launches_uvicorn(
        pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"t_{uuid.uuid4().hex[:10]}")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "AUTH_SECRET": SECRET, "DATA_DIR": str(tmp_path)}
    log_path = tmp_path / "uvicorn.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:create_app_from_env", "--factory",
                                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"],
                                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()
                await asyncio.sleep(0.1)
            tok = token(new_id("log"))
            assert httpx.get(f"{base}/api/threads?token={tok}", headers={"Authorization": f"Bearer {tok}"}
                             ).status_code == 200
            ws = await WsClient.connect(f"ws://127.0.0.1:{port}/ws", tok)
            await ws.close()
            # the access line is written after the response: wait for it to appear
            while "/api/threads?token=" not in log_path.read_text() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(30)
    text = log_path.read_text()
    assert "/api/threads?token=[redacted]" in text and "/ws?token=[redacted]" in text, text
    assert tok not in text and tok.split(".")[2] not in text


# --- item 10: unsafe defaults ----------------------------------------------------------------


async def test_metrics_and_demo_shop_are_not_served_to_other_machines(auth_server: ServerProcess) -> None:
    with remote_client() as remote:
        assert remote.get(auth_server.base + "/metrics").status_code == 404
        assert remote.get(auth_server.base + "/demo-shop/orders/1042").status_code == 404
        assert remote.get(auth_server.base + "/api/health").status_code == 200  # the API is public
    assert httpx.get(auth_server.base + "/metrics").status_code == 200
    assert httpx.get(auth_server.base + "/demo-shop/orders/1042").status_code != 404


async def test_health_does_not_echo_database_errors(tmp_path: Path) -> None:
    cluster = PgCluster(tmp_path / "pg").init()
    cluster.start()
    try:
        url = cluster.create_database("health")
        with ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "DB_CONNECT_TIMEOUT_S": "2"},
                           data_dir=tmp_path / "srv") as server:
            cluster.stop("immediate")
            deadline = time.monotonic() + 30
            while (r := httpx.get(server.base + "/api/health", timeout=10)).status_code == 200:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            body = r.json()
            assert r.status_code == 503 and body["database"] == "unavailable"
            assert "correlation id" in body["error"]
            raw = json.dumps(body).lower()
            for leak in ("connection", "refused", "socket", "postgres", "server at"):
                assert leak not in raw, body
    finally:
        cluster.destroy()


async def test_model_errors_show_a_correlation_id_not_the_exception(
        pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"t_{uuid.uuid4().hex[:10]}")
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "LLM_PROVIDER": "openai_compatible",
                        "LLM_BASE_URL": dead, "LLM_MODEL": "m", "LLM_API_KEY": "sk-secret-key-123",
                        "OPENAI_MAX_RETRIES": "0"}, data_dir=tmp_path) as server:
        c = await WsClient.connect(server.ws_url, token(new_id("m")))
        end = (await c.ask(new_id(), "hello", timeout=90))[-1]
        await c.close()
    assert end["type"] == "run_error" and end["code"] == "model_error", end
    assert "correlation id" in end["message"]
    assert "Error" not in end["message"] and "127.0.0.1" not in end["message"], end
