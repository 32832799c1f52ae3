"""Clients behaving badly: hundreds that drop and resume mid-run, one that never reads,
and a storm of bad frames and bad tokens. The server keeps every transcript whole,
does not grow without bound, and stays healthy for everyone else.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import socket
import struct
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt as pyjwt
import pytest
import websockets

from tests.faults.conftest import (
    FAULT_ENV,
    SECRET,
    Shop,
    assert_whole,
    connect,
    healthy,
    new_id,
    rss,
    token,
    wait_until,
)
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.faults]

# The issue asks for 500; FAULT_CLIENTS scales it (CI keeps the default).
RESUMING_CLIENTS = int(os.environ.get("FAULT_CLIENTS", "500"))


@pytest.fixture(scope="module")
def server(pg_cluster: PgCluster, shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    url = pg_cluster.create_database(f"fc_{uuid.uuid4().hex[:8]}")
    env = {**FAULT_ENV, "DATABASE_URL": url, "SHOP_API_URL": shop.url, "DEMO_TOKEN_DELAY_MS": "1",
           "SOCKET_QUEUE_MAX": "200", "DB_POOL_MAX": "30",
           # the slow-reader test reads its close code late; no heartbeat may cut it first
           "HEARTBEAT_INTERVAL_S": "600",
           # and it needs its ~40,000 frames: a 1 ms model's deltas would otherwise merge into
           # one event per batch interval (EVENT_BATCH_INTERVAL_MS)
           "EVENT_BATCH_INTERVAL_MS": "0"}
    proc = ServerProcess(env, data_dir=tmp_path_factory.mktemp("fc")).start()
    yield proc
    proc.stop()


async def _one_resuming_customer(server: ServerProcess, i: int, rng: random.Random) -> dict[str, Any]:
    """Ask for an answer, drop the socket at random points (1-3 times), resume each time after the last seq."""
    user, tid = new_id(f"r{i}"), new_id()
    drops = rng.randint(1, 3)
    frames: list[dict[str, Any]] = []
    c = await connect(server, user)
    await c.send({"type": "message", "thread_id": tid, "content": f"benchmark reply {rng.randint(20, 80)} tokens"})
    replayed = 0
    while True:
        cut = rng.randint(1, 40) if drops else None
        got = 0
        try:
            while True:
                f = await c.recv(timeout=120)
                if f.get("type") == "replay_start":
                    replayed += f["count"]
                if "seq" in f and f.get("thread_id") == tid:
                    frames.append(f)
                    got += 1
                    if f["type"] == "message_complete":
                        await c.close()
                        return {"frames": frames, "replayed": replayed, "drops_left": drops}
                if cut is not None and got >= cut:
                    break
        finally:
            pass
        await c.ws.close()  # drop mid-run; the run goes on without us
        drops -= 1
        c = await connect(server, user)
        await c.send({"type": "subscribe", "thread_id": tid, "after_seq": frames[-1]["seq"] if frames else 0})


async def test_hundreds_of_clients_drop_and_resume_and_every_transcript_is_whole(server: ServerProcess) -> None:
    rng = random.Random(7)
    sem = asyncio.Semaphore(RESUMING_CLIENTS)

    async def run(i: int) -> dict[str, Any]:
        async with sem:
            return await _one_resuming_customer(server, i, random.Random(rng.random()))

    results = await asyncio.gather(*(run(i) for i in range(RESUMING_CLIENTS)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"{len(failures)} clients failed, e.g. {failures[:3]!r}"
    for r in results:
        assert_whole(r["frames"])
    assert sum(r["replayed"] for r in results) > 0, "resuming replayed missed events"
    assert healthy(server)


def _raw_ws(port: int, path: str) -> socket.socket:
    """A WebSocket opened by hand on a socket with a tiny receive window: nothing reads it but us."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    return sock


def _send_text(sock: socket.socket, text: str) -> None:
    data, mask = text.encode(), os.urandom(4)
    n = len(data)
    header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def _read_until_close(sock: socket.socket) -> tuple[int, int | None]:
    """Read every frame left for us; (text frames, close code)."""
    buf, texts = b"", 0
    while True:
        while len(buf) >= 2:
            op, ln = buf[0] & 0x0F, buf[1] & 0x7F
            off = 2
            if ln == 126:
                if len(buf) < 4:
                    break
                ln, off = struct.unpack("!H", buf[2:4])[0], 4
            elif ln == 127:
                if len(buf) < 10:
                    break
                ln, off = struct.unpack("!Q", buf[2:10])[0], 10
            if len(buf) < off + ln:
                break
            payload, buf = buf[off:off + ln], buf[off + ln:]
            if op == 0x8:
                return texts, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            texts += op == 0x1
        chunk = sock.recv(1 << 20)
        if not chunk:
            return texts, None
        buf += chunk


async def test_a_client_that_never_reads_is_cut_off_with_4008_and_memory_stays_bounded(
        server: ServerProcess) -> None:
    user = new_id("slow")
    base_rss = rss(server)
    sock = _raw_ws(server.port, f"/ws?token={token(user)}")
    # ~40,000 events (~7 MB) it will not read: more than the kernel's socket buffers
    # (tcp_wmem max 4 MB) plus the transport's and the per-socket queue (SOCKET_QUEUE_MAX=200)
    tids = [new_id() for _ in range(10)]
    for t in tids:
        _send_text(sock, json.dumps({"type": "message", "thread_id": t, "content": "benchmark reply 4000 tokens"}))
    # meanwhile someone else is served normally
    other = await connect(server, new_id("ok"))
    assert (await other.ask(new_id(), "What is the status of order 1042?", timeout=120))[-1]["type"] == "message_complete"
    # the server gives up on the reader (and says so in its log)
    wait_until(lambda: "socket_too_slow" in server.log_path.read_text(errors="replace"), 120,
               "the never-reading socket is given up on")
    # the runs it started finish anyway (they belong to the server, not the socket)
    headers = {"Authorization": f"Bearer {token(user)}"}
    for t in tids:
        wait_until(lambda t=t: not httpx.get(f"{server.base}/api/threads/{t}/status", headers=headers,
                                             timeout=5).json()["agent_running"], 120, f"run on {t} ends")
    # ten 4000-token runs cost the graph memory of their own; what must not happen is
    # the ~40,000 frames piling up for the socket (that alone would be >100 MiB of str)
    grown = rss(server) - base_rss
    assert grown < 200 * 2**20, f"RSS grew by {grown / 2**20:.0f} MiB"
    # reading at last, the client finds what was buffered for it, then the close code
    texts, code = await asyncio.get_running_loop().run_in_executor(None, _read_until_close, sock)
    sock.close()
    assert code == 4008, f"expected close 4008 after {texts} frames, got {code}"
    # at most the kernel's buffers (4 MiB), the transport's and the queue's worth, not all 40,000
    assert texts < 30_000, f"{texts} frames were kept for a socket the server gave up on"
    assert healthy(server)
    assert (await other.ask(new_id(), "What is the status of order 1043?", timeout=120))[-1]["type"] == \
        "message_complete"
    await other.close()


BAD_FRAMES: list[tuple[Any, str]] = [
    ("{not json", "invalid_json"),
    ("[1, 2]", "invalid_json"),
    ("null", "invalid_json"),
    ("\u0000\u0001", "invalid_json"),
    (b"\xff\xfe binary junk", "invalid_json"),
    (json.dumps({"type": "message", "thread_id": "t1", "content": "x" * 40_000}), "frame_too_large"),
    ("x" * 100_000, "frame_too_large"),
    (json.dumps({"type": "dance"}), "unknown_type"),
    (json.dumps({"type": 7}), "missing_field"),
    (json.dumps({"no": "type"}), "missing_field"),
    (json.dumps({"type": "message", "thread_id": "t1"}), "missing_field"),
    (json.dumps({"type": "message", "content": "hi"}), "missing_field"),
    (json.dumps({"type": "message", "thread_id": "t1", "content": 5}), "missing_field"),
    (json.dumps({"type": "interrupt_response", "thread_id": "t1", "approved": "yes"}), "missing_field"),
    (json.dumps({"type": "subscribe", "thread_id": "t1", "after_seq": "3"}), "missing_field"),
    (json.dumps({"type": "form_submit", "thread_id": "t1", "form_id": "f"}), "missing_field"),
    (json.dumps({"type": "message", "thread_id": "bad id!", "content": "hi"}), "invalid_thread_id"),
    (json.dumps({"type": "message", "thread_id": "x" * 65, "content": "hi"}), "invalid_thread_id"),
    (json.dumps({"type": "subscribe", "thread_id": "../../etc/passwd"}), "invalid_thread_id"),
    (json.dumps({"type": "message", "thread_id": "t1", "content": "y" * 10_001}), "content_too_long"),
    (json.dumps({"type": "interrupt_response", "thread_id": "nothread", "approved": True}), None),
    (json.dumps({"type": "cancel", "thread_id": "nothread"}), None),
    (json.dumps({"type": "subscribe", "thread_id": "nothread", "after_seq": -5}), None),
]


async def test_a_storm_of_bad_frames_and_bad_tokens_changes_nothing(server: ServerProcess) -> None:
    base_rss = rss(server)
    # bad tokens, many at once: each is accepted then closed with 4001, no event sent
    bad_tokens = ["", "not-a-jwt", "a.b.c", token("late", ttl=-10),
                  pyjwt.encode({"sub": "x", "role": "customer", "exp": 9999999999}, "w" * 32, "HS256"),
                  pyjwt.encode({"sub": "x", "role": "root", "exp": 9999999999}, SECRET, "HS256"),
                  pyjwt.encode({"role": "customer", "exp": 9999999999}, SECRET, "HS256"),
                  pyjwt.encode({"sub": "x", "role": "customer", "exp": 9999999999}, SECRET, "HS512"),
                  "x" * 4000]

    async def bad_login(tok: str) -> tuple[int | None, list[Any]]:
        ws = await websockets.connect(f"{server.ws_url}?token={tok}", proxy=None, open_timeout=30)
        frames: list[Any] = []
        try:
            async with asyncio.timeout(30):
                while True:
                    frames.append(await ws.recv())
        except websockets.ConnectionClosed as exc:
            return (exc.rcvd.code if exc.rcvd else None), frames

    closes = await asyncio.gather(*(bad_login(bad_tokens[i % len(bad_tokens)]) for i in range(300)))
    assert all(code == 4001 and not frames for code, frames in closes), {c for c, _ in closes}

    # bad frames, thousands, on a few sockets at once: one error each, the socket stays open
    user = new_id("storm")

    async def storm(seed: int) -> WsClient:
        c = await connect(server, user)
        rng = random.Random(seed)
        picks = [BAD_FRAMES[rng.randrange(len(BAD_FRAMES))] for _ in range(400)]
        for raw, _ in picks:
            await c.ws.send(raw)
        errors = [await c.next("error", timeout=60) for _ in picks]
        for (raw, code), err in zip(picks, errors, strict=False):
            if code is not None:
                assert err["code"] == code, (raw[:80], err)
        await c.send({"type": "ping"})
        await c.next("pong")
        return c

    clients = await asyncio.gather(*(storm(s) for s in range(5)))
    # nothing was created or started by any of it
    r = httpx.get(f"{server.base}/api/threads", headers={"Authorization": f"Bearer {token(user)}"}, timeout=10)
    assert r.status_code == 200 and r.json()["data"] == [], r.text
    # a frame over the transport limit (1 MiB) closes only that socket
    huge = await connect(server, user)
    await huge.ws.send("z" * (1024 * 1024 + 10))
    with pytest.raises(websockets.ConnectionClosed):
        await huge.recv(timeout=30)
    # the same sockets still work, and so does the server
    assert (await clients[0].ask(new_id(), "What is the status of order 1042?", timeout=60))[-1]["type"] == \
        "message_complete"
    for c in clients:
        await c.close()
    assert healthy(server)
    grown = rss(server) - base_rss
    assert grown < 64 * 2**20, f"RSS grew by {grown / 2**20:.0f} MiB"

