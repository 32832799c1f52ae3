"""The load generator: its own process, one asyncio loop, raw `websockets` / `httpx`.

    python -m bench.client '<json config>'      -> one JSON result on stdout

Modes (config["mode"]):
- `ws_turns`: N customers, each on its own socket and thread, doing sequential turns
  ("benchmark reply T tokens") until a deadline; time to first token and to
  `message_complete` per turn, runs completed in the measured window, and every
  thread's seq checked for gaps and doubles.
- `ws_interrupt`: "Cancel order 10xx" -> `interrupt`, approve -> first token ->
  `message_complete`, K times, each on a fresh thread.
- `ws_bytes`: one run, counting the bytes of every frame and of the TCP stream.
- `ws_idle`: open sockets in stages (e.g. 1000, then 5000), print a line after each
  stage and wait for a line on stdin before the next.
- `sse_turns` / `sse_interrupt` / `sse_bytes`: the same against LangGraph's Agent
  Server (`POST /threads`, `POST /threads/{id}/runs/stream`, stream_mode
  messages-tuple).

Times are `time.perf_counter()` in this process; nothing here sleeps to wait for
the server: every wait is on a frame, with a timeout.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

try:
    import orjson

    loads = orjson.loads
except ImportError:  # pragma: no cover
    loads = json.loads

import itertools

import websockets
from websockets.asyncio.client import ClientConnection

END = {"message_complete", "interrupt", "run_cancelled", "run_error"}


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class CountingConnection(ClientConnection):
    """A client connection that counts the raw bytes it receives from TCP."""

    rx_bytes = 0

    def data_received(self, data: bytes) -> None:
        CountingConnection.rx_bytes += len(data)
        super().data_received(data)


async def ws_connect(url: str, *, compression: str | None = None, counting: bool = False) -> Any:
    return await websockets.connect(
        url, max_size=None, compression=compression, proxy=None, open_timeout=60, ping_interval=None,
        close_timeout=2, create_connection=CountingConnection if counting else None,
    )


class SeqBook:
    """Every seq seen per thread, for the lost/doubled check."""

    def __init__(self) -> None:
        self.seqs: dict[str, list[int]] = {}

    def add(self, frame: dict[str, Any]) -> None:
        seq = frame.get("seq")
        if seq is not None:
            self.seqs.setdefault(frame["thread_id"], []).append(seq)

    def check(self) -> dict[str, int]:
        lost = doubled = out_of_order = 0
        for seqs in self.seqs.values():
            doubled += len(seqs) - len(set(seqs))
            lost += max(seqs) - len(set(seqs))  # seq starts at 1 on every bench thread
            out_of_order += sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
        return {"threads": len(self.seqs), "events": sum(len(s) for s in self.seqs.values()),
                "lost": lost, "doubled": doubled, "out_of_order": out_of_order}


async def ws_run_turn(ws: Any, book: SeqBook, thread_id: str, content: str, timeout: float = 120) -> dict[str, Any]:
    t0 = time.perf_counter()
    await ws.send(json.dumps({"type": "message", "thread_id": thread_id, "content": content}))
    first = None
    last = 0.0
    gap = 0.0
    text: list[str] = []
    end = None
    async with asyncio.timeout(timeout):
        while end is None:
            frame = loads(await ws.recv())
            if frame.get("thread_id") != thread_id:
                continue
            book.add(frame)
            kind = frame["type"]
            if kind == "token":
                now = time.perf_counter()
                if first is None:
                    first = now
                else:
                    gap = max(gap, now - last)
                last = now
                text.append(frame["content"])
            elif kind in END or kind == "error":
                end = frame
    t1 = time.perf_counter()
    ok = end["type"] == "message_complete" and end["content"] == "".join(text)
    # the server may merge deltas that queue up behind a commit: count the demo model's
    # tokens (whitespace-delimited words) in the text, and the frames that carried them
    return {"t0": t0, "ttft": (first - t0) if first else None, "total": t1 - t0, "ok": ok, "gap": gap,
            "tokens": len("".join(text).split()), "token_frames": len(text), "end": end["type"],
            "code": end.get("code")}


async def drive_customers(cfg: dict[str, Any], n: int, one_turn: Callable[[int], Awaitable[dict[str, Any]]],
                          completed: Callable[[dict[str, Any]], bool]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`n` customers, each taking turns with `one_turn(i)` until `cfg["turns"]` each, or back to back
    (or paced by `think_s`, exponential) for `warmup` + `duration` seconds; runs/s counts the turns
    `completed` in the window. A turn that raises ends that customer and counts as an error."""
    duration, warmup, max_turns = cfg.get("duration", 10.0), cfg.get("warmup", 2.0), cfg.get("turns")
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration
    if max_turns is not None:  # a fixed number of turns: no deadline but the time limit, if any
        stop_at = start + cfg["time_limit"] if cfg.get("time_limit") else float("inf")
    turn_timeout = cfg.get("turn_timeout", 300.0)
    think = cfg.get("think_s")
    think_range = cfg.get("think_range")  # [lo, hi] seconds, uniform: the realistic pace
    rng = random.Random(cfg.get("seed", 1))

    def pause() -> float:
        return rng.uniform(*think_range) if think_range else rng.expovariate(1 / think)

    async def customer(i: int) -> None:
        turns = 0
        if think or think_range:  # paced customers: start spread out, then pause between turns
            await asyncio.sleep(rng.uniform(0, think or think_range[1]))
        while time.perf_counter() < stop_at and (max_turns is None or turns < max_turns):
            try:
                async with asyncio.timeout(turn_timeout):
                    r = await one_turn(i)
            except Exception as exc:  # noqa: BLE001 - a stuck or broken run is a result, not a crash
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            turns += 1
            r["done"] = time.perf_counter()
            results.append(r)
            if think or think_range:
                await asyncio.sleep(pause())

    await asyncio.gather(*(customer(i) for i in range(n)))
    finished = time.perf_counter()
    window_end = stop_at if max_turns is None else min(finished, stop_at)
    window_start = measure_from if max_turns is None else start
    measured = [r for r in results if r["t0"] >= window_start] if max_turns is None else results
    done = [r for r in results if window_start <= r["done"] <= window_end and completed(r)]
    return {
        "clients": n, "window_s": window_end - window_start,
        "runs_per_s": len(done) / max(1e-9, window_end - window_start),
        "ttft_ms": [r["ttft"] * 1000 for r in measured if r["ttft"] is not None],
        "total_ms": [r["total"] * 1000 for r in measured],
        "gap_ms": [r["gap"] * 1000 for r in measured if r.get("gap") is not None],
        "turns": len(results), "errors": errors[:5], "error_count": len(errors),
    }, results


async def ws_turns(cfg: dict[str, Any]) -> dict[str, Any]:
    url, n, tokens = cfg["url"], cfg["clients"], cfg.get("tokens", 200)
    content = cfg.get("content") or f"benchmark reply {tokens} tokens"
    book = SeqBook()
    prefix = cfg.get("prefix", "b") + uuid.uuid4().hex[:6]
    sem = asyncio.Semaphore(50)

    async def open_one() -> Any:
        async with sem:
            ws = await ws_connect(url)
            loads(await ws.recv())  # connected
            return ws

    sockets = await asyncio.gather(*(open_one() for _ in range(n)))
    # thread_turns: a customer starts a new conversation after that many turns (the history a
    # turn carries stays that of a real chat, however long the run)
    per_thread = cfg.get("thread_turns") or 0
    taken = [0] * n

    def one_turn(i: int) -> Awaitable[dict[str, Any]]:
        thread = f"{prefix}_{i}" + (f"_{taken[i] // per_thread}" if per_thread else "")
        taken[i] += 1
        return ws_run_turn(sockets[i], book, thread, content)

    out, results = await drive_customers(cfg, n, one_turn, completed=lambda r: r["end"] == "message_complete")
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        **out, "tokens": tokens,
        "bad_turns": sum(1 for r in results if not r["ok"] or (not cfg.get("content") and r["tokens"] != tokens)),
        "token_frames_per_run": sum(r["token_frames"] for r in results) / max(1, len(results)),
        "ends": _count(r["end"] for r in results), "seq": book.check(),
    }


async def ws_interrupt(cfg: dict[str, Any]) -> dict[str, Any]:
    url, k = cfg["url"], cfg.get("iterations", 30)
    book = SeqBook()
    ws = await ws_connect(url)
    loads(await ws.recv())
    prefix = "i" + uuid.uuid4().hex[:8]
    out: dict[str, list[float]] = {"request_to_interrupt_ms": [], "decision_to_first_token_ms": [],
                                   "decision_to_complete_ms": []}
    bad = 0
    bad_frames: list[dict[str, Any]] = []
    for i in range(k):
        tid = f"{prefix}_{i}"
        order = 1001 + (i % 50)
        t0 = time.perf_counter()
        await ws.send(json.dumps({"type": "message", "thread_id": tid, "content": f"Cancel order {order}"}))
        intr = await _until(ws, book, tid, END)
        t1 = time.perf_counter()
        if intr["type"] != "interrupt":
            bad += 1
            bad_frames.append(intr)
            continue
        t2 = time.perf_counter()
        await ws.send(json.dumps({"type": "interrupt_response", "thread_id": tid, "approved": True,
                                  "interrupt_id": intr["interrupt_id"]}))
        tok = await _until(ws, book, tid, END | {"token"})
        t3 = time.perf_counter()
        end = tok if tok["type"] in END else await _until(ws, book, tid, END)
        t4 = time.perf_counter()
        if end["type"] != "message_complete":
            bad += 1
            bad_frames.append(end)
        out["request_to_interrupt_ms"].append((t1 - t0) * 1000)
        out["decision_to_first_token_ms"].append((t3 - t2) * 1000)
        out["decision_to_complete_ms"].append((t4 - t2) * 1000)
    await ws.close()
    return {**out, "iterations": k, "bad": bad, "bad_frames": bad_frames[:3], "seq": book.check()}


async def _until(ws: Any, book: SeqBook, tid: str, types: set[str], timeout: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = loads(await ws.recv())
            if frame.get("thread_id") == tid:
                book.add(frame)
            if frame.get("thread_id") == tid and frame["type"] in types:
                return frame
            if frame["type"] == "error":
                return frame


async def ws_bytes(cfg: dict[str, Any]) -> dict[str, Any]:
    """Frame sizes of one run: payload bytes per token frame plus the WebSocket header."""
    url, tokens = cfg["url"], cfg.get("tokens", 200)
    out: dict[str, Any] = {}
    for compression in (None, "deflate"):
        ws = await ws_connect(url, compression=compression, counting=True)
        loads(await ws.recv())
        tid = "w" + uuid.uuid4().hex[:10]
        CountingConnection.rx_bytes = 0
        await ws.send(json.dumps({"type": "message", "thread_id": tid,
                                  "content": f"benchmark reply {tokens} tokens"}))
        sizes: dict[str, list[int]] = {}
        text: list[str] = []
        while True:
            raw = await asyncio.wait_for(ws.recv(), 60)
            frame = loads(raw)
            n = len(raw.encode() if isinstance(raw, str) else raw)
            sizes.setdefault(frame["type"], []).append(n)
            if frame["type"] == "token":
                text.append(frame["content"])
            if frame["type"] in END:
                break
        wire = CountingConnection.rx_bytes
        await ws.close()
        tok = sizes.get("token", [])
        n_tokens = len("".join(text).split())  # a token event may carry several merged deltas
        key = "plain" if compression is None else "deflate"
        out[key] = {
            "token_payload_avg": sum(tok) / max(1, len(tok)),
            "token_frame_avg": sum(_ws_frame(n) for n in tok) / max(1, len(tok)),
            "token_frames": len(tok),
            "tokens": n_tokens,
            "run_wire_bytes": wire,
            "run_wire_bytes_per_token": wire / max(1, n_tokens),
            "other_frames": {k: sum(v) for k, v in sizes.items() if k != "token"},
        }
    return out


def _ws_frame(payload: int) -> int:
    """Server-to-client frame: 2-byte header, +2 or +8 for the extended length, no mask."""
    return payload + (2 if payload < 126 else 4 if payload < 65536 else 10)


async def ws_idle(cfg: dict[str, Any]) -> dict[str, Any]:
    url, stages = cfg["url"], cfg["stages"]
    sockets: list[Any] = []
    sem = asyncio.Semaphore(100)
    failures = 0

    async def open_one() -> None:
        nonlocal failures
        async with sem:
            try:
                ws = await ws_connect(url)
                frame = loads(await asyncio.wait_for(ws.recv(), 60))
                assert frame["type"] == "connected"
                sockets.append(ws)
            except Exception:  # noqa: BLE001 - a socket that cannot open counts as a failure
                failures += 1

    for stage in stages:
        await asyncio.gather(*(open_one() for _ in range(stage - len(sockets))))
        print(json.dumps({"stage": stage, "open": len(sockets), "failures": failures}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {"open": len(sockets), "failures": failures}


# LangGraph Agent Server (SSE)


def _sse_payload(tokens: int, content: str | None = None, assistant: str = "support") -> dict[str, Any]:
    return {"assistant_id": assistant,
            "input": {"messages": [{"role": "human", "content": content or f"benchmark reply {tokens} tokens"}]},
            "stream_mode": ["messages-tuple"]}


async def _sse_stream(client: Any, path: str, body: dict[str, Any], on_event: Any) -> None:
    async with client.stream("POST", path, json=body) as r:
        r.raise_for_status()
        event = None
        size = 0
        async for line in r.aiter_lines():
            size += len(line.encode()) + 1
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
                if on_event(event, data, size) is False:
                    return
            elif line == "":
                size = 0


async def sse_turn(client: Any, thread_id: str, tokens: int, content: str | None = None,
                   assistant: str = "support") -> dict[str, Any]:
    t0 = time.perf_counter()
    first: list[float] = []
    last = [0.0, 0.0]  # time of the last token, largest gap
    text: list[str] = []
    errors: list[str] = []

    def on_event(event: str | None, data: str, size: int) -> None:
        if event == "messages" or (event or "").startswith("messages|"):
            chunk, meta = loads(data)
            if "internal" in ((meta or {}).get("tags") or []):
                return  # the guardrail's and router's own calls (aegra does not hide nostream)
            delta = chunk.get("content")
            if delta and isinstance(delta, str):
                now = time.perf_counter()
                if not first:
                    first.append(now)
                else:
                    last[1] = max(last[1], now - last[0])
                last[0] = now
                text.append(delta)
        elif event == "error":
            errors.append(data[:200])

    await _sse_stream(client, f"/threads/{thread_id}/runs/stream", _sse_payload(tokens, content, assistant), on_event)
    t1 = time.perf_counter()
    whole = bool(text) if content else len(text) == tokens
    return {"t0": t0, "ttft": (first[0] - t0) if first else None, "total": t1 - t0, "gap": last[1],
            "ok": not errors and whole, "tokens": len(text), "end": "message_complete" if not errors else
            "run_error", "code": errors[0] if errors else None}


def _http(base: str, n: int) -> Any:
    import httpx

    return httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(300, connect=60),
                             limits=httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10),
                             trust_env=False)


async def sse_turns(cfg: dict[str, Any]) -> dict[str, Any]:
    base, n, tokens = cfg["url"], cfg["clients"], cfg.get("tokens", 200)
    async with _http(base, n) as client:
        # thread_turns (as ws_turns): every conversation a customer will need, made up front
        per_thread, turns = cfg.get("thread_turns") or 0, cfg.get("turns")
        count = -(-turns // per_thread) if per_thread and turns else 1
        threads: list[list[str]] = []
        for _ in range(n):
            mine = []
            for _ in range(count):
                r = await client.post("/threads", json={})
                mine.append(r.json()["thread_id"])
            threads.append(mine)
        taken = [0] * n

        def one_turn(i: int) -> Awaitable[dict[str, Any]]:
            thread = threads[i][min(taken[i] // per_thread, count - 1) if per_thread else 0]
            taken[i] += 1
            return sse_turn(client, thread, tokens, cfg.get("content"), cfg.get("assistant", "support"))

        out, results = await drive_customers(cfg, n, one_turn, completed=lambda r: r["ok"])
    return {**out, "tokens": tokens, "bad_turns": sum(1 for r in results if not r["ok"])}


async def sse_interrupt(cfg: dict[str, Any]) -> dict[str, Any]:
    base, k = cfg["url"], cfg.get("iterations", 30)
    out: dict[str, list[float]] = {"request_to_interrupt_ms": [], "decision_to_first_token_ms": [],
                                   "decision_to_complete_ms": []}
    bad = 0
    async with _http(base, 2) as client:
        for i in range(k):
            tid = (await client.post("/threads", json={})).json()["thread_id"]
            order = 1001 + (i % 50)
            seen: dict[str, Any] = {}

            def on_req(event: str | None, data: str, size: int, seen: dict[str, Any] = seen) -> None:
                if event == "updates" and "__interrupt__" in data:
                    seen["interrupt"] = time.perf_counter()

            t0 = time.perf_counter()
            await _sse_stream(client, f"/threads/{tid}/runs/stream", {
                "assistant_id": "support",
                "input": {"messages": [{"role": "human", "content": f"Cancel order {order}"}]},
                "stream_mode": ["messages-tuple", "updates"]}, on_req)
            if "interrupt" not in seen:
                bad += 1
                continue
            t1 = seen["interrupt"]

            def on_dec(event: str | None, data: str, size: int, seen: dict[str, Any] = seen) -> None:
                if event == "messages" and "first" not in seen:
                    chunk, _ = loads(data)
                    if chunk.get("content"):
                        seen["first"] = time.perf_counter()

            t2 = time.perf_counter()
            await _sse_stream(client, f"/threads/{tid}/runs/stream", {
                "assistant_id": "support",
                "command": {"resume": {"approved": True, "args": None, "reason": None, "outcome": "approved"}},
                "stream_mode": ["messages-tuple", "updates"]}, on_dec)
            t4 = time.perf_counter()
            if "first" not in seen:
                bad += 1
                continue
            out["request_to_interrupt_ms"].append((t1 - t0) * 1000)
            out["decision_to_first_token_ms"].append((seen["first"] - t2) * 1000)
            out["decision_to_complete_ms"].append((t4 - t2) * 1000)
    return {**out, "iterations": k, "bad": bad}


async def sse_bytes(cfg: dict[str, Any]) -> dict[str, Any]:
    base, tokens = cfg["url"], cfg.get("tokens", 200)
    sizes: list[int] = []
    total = [0]
    async with _http(base, 2) as client:
        tid = (await client.post("/threads", json={})).json()["thread_id"]

        def on_event(event: str | None, data: str, size: int) -> None:
            total[0] += size + 1
            if event == "messages" and loads(data)[0].get("content"):
                sizes.append(size + 1)  # "event: ...\ndata: ...\n" + the blank line

        await _sse_stream(client, f"/threads/{tid}/runs/stream", _sse_payload(tokens), on_event)
    return {"plain": {"token_payload_avg": sum(sizes) / max(1, len(sizes)),
                      "token_frame_avg": sum(sizes) / max(1, len(sizes)), "token_frames": len(sizes),
                      "run_wire_bytes": total[0], "run_wire_bytes_per_token": total[0] / max(1, len(sizes))}}


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


MODES = {"ws_turns": ws_turns, "ws_interrupt": ws_interrupt, "ws_bytes": ws_bytes, "ws_idle": ws_idle,
         "sse_turns": sse_turns, "sse_interrupt": sse_interrupt, "sse_bytes": sse_bytes}


def main() -> None:
    raise_nofile()
    cfg = json.loads(sys.argv[1])
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(MODES[cfg["mode"]](cfg))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
