"""`support-agent chat`: a terminal client on the same protocol as the widget.

Streams answers as they come, shows tool calls, asks y/n/edit for approvals, and
resumes after a dropped connection with `subscribe` + `after_seq`, so nothing is
lost or printed twice.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any, TextIO

import websockets

__all__ = ["ChatSession", "run_chat"]

END_TYPES = {"message_complete", "interrupt", "run_cancelled", "run_error"}


def ws_url(server: str, token: str | None) -> str:
    base = server.rstrip("/")
    if base.startswith("http"):
        base = "ws" + base[4:]
    return f"{base}/ws" + (f"?token={token}" if token else "")


class ChatSession:
    def __init__(self, url: str, thread_id: str, *, out: TextIO = sys.stdout,
                 read_line: Any = None, existing: bool = False) -> None:
        self.existing = existing
        """The thread was named by the user: replay its history on connect."""
        self.url = url
        self.thread_id = thread_id
        self.out = out
        self.read_line = read_line or (lambda prompt: asyncio.to_thread(input, prompt))
        self.last_seq = 0
        self.ws: Any = None

    def say(self, text: str, end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    async def connect(self) -> None:
        delay = 0.5
        while True:
            try:
                self.ws = await websockets.connect(self.url, max_size=4 * 1024 * 1024)
                hello = json.loads(await self.ws.recv())
                if hello.get("type") != "connected":
                    raise RuntimeError(f"unexpected first frame {hello}")
                if self.last_seq or self.existing:
                    await self.ws.send(json.dumps({"type": "subscribe", "thread_id": self.thread_id,
                                                   "after_seq": self.last_seq}))
                return
            except websockets.InvalidStatus as exc:
                raise SystemExit(f"support-agent chat: the server refused the connection: {exc}") from None
            except websockets.ConnectionClosed as exc:
                if exc.rcvd and exc.rcvd.code == 4001:
                    raise SystemExit(f"support-agent chat: not signed in: {exc.rcvd.reason} "
                                     "(pass --token or set SUPPORT_AGENT_TOKEN)") from None
                await asyncio.sleep(delay)
            except OSError:
                self.say(f"[connection failed; retrying in {delay:g}s]")
                await asyncio.sleep(delay)
            delay = min(delay * 2, 10)

    async def frames(self) -> Any:
        """Frames of this thread, reconnecting and resuming when the socket drops."""
        while True:
            try:
                raw = await self.ws.recv()
            except websockets.ConnectionClosed:
                self.say("\n[connection lost; resuming]")
                await self.connect()
                continue
            frame = json.loads(raw)
            seq = frame.get("seq")
            if seq is not None:
                if seq <= self.last_seq:
                    continue
                self.last_seq = seq
            yield frame

    def show(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "token":
            self.out.write(frame["content"])
            self.out.flush()
        elif kind == "intent":
            self.say(f"[{frame['agent']} · {frame['intent']} {frame['confidence']:.0%}]")
        elif kind == "tool_call":
            self.say(f"\n[tool {frame['tool']}({json.dumps(frame['args'])})]")
        elif kind == "tool_result":
            self.say(f"[{'ok' if frame['ok'] else 'failed'}: {frame['content'][:120]}]")
        elif kind == "handoff":
            self.say(f"\n[handed to a human in queue {frame['queue']}: {frame['reason']}]")
        elif kind == "message_complete":
            self.say("")
        elif kind == "interrupt_expired":
            self.say(f"\n[{frame['message']}]")
        elif kind == "run_error":
            self.say(f"\n[error: {frame['message']}]")
        elif kind == "run_cancelled":
            self.say("\n[cancelled]")
        elif kind == "error":
            extra = f" (retry in {frame['retry_after_s']}s)" if "retry_after_s" in frame else ""
            self.say(f"[{frame['code']}: {frame['message']}{extra}]")

    async def decide(self, frame: dict[str, Any]) -> dict[str, Any]:
        self.say(f"\n[approval needed · {frame['risk']} risk · {frame['approver']}] {frame['message']}")
        self.say(f"  {frame['action']}({json.dumps(frame['args'])})  expires {frame['expires_at']}")
        while True:
            answer = (await self.read_line("approve? [y/n/edit] ")).strip().lower()
            base = {"type": "interrupt_response", "thread_id": self.thread_id, "interrupt_id": frame["interrupt_id"]}
            if answer in ("y", "yes"):
                return {**base, "approved": True}
            if answer in ("n", "no"):
                reason = (await self.read_line("reason (optional): ")).strip()
                return {**base, "approved": False, **({"reason": reason} if reason else {})}
            if answer == "edit":
                raw = await self.read_line("new arguments as JSON: ")
                try:
                    args = json.loads(raw)
                except ValueError:
                    self.say("[not JSON; try again]")
                    continue
                if isinstance(args, dict):
                    return {**base, "approved": True, "args": args}
                self.say("[arguments must be a JSON object]")

    async def turn(self, text: str) -> None:
        await self.ws.send(json.dumps({"type": "message", "thread_id": self.thread_id, "content": text}))
        await self.follow()

    async def follow(self) -> None:
        async for frame in self.frames():
            if frame.get("thread_id") not in (self.thread_id, None):
                continue
            self.show(frame)
            if frame.get("type") == "interrupt":
                await self.ws.send(json.dumps(await self.decide(frame)))
                continue
            if frame.get("type") == "error" and frame.get("code") == "not_found":
                continue  # the thread does not exist yet: this message creates it
            if frame.get("type") == "error" and frame.get("code") != "no_pending_interrupt":
                return
            if frame.get("type") in END_TYPES:
                return
            if frame.get("type") == "session_sync" and frame.get("status") in ("idle", "handoff") and \
                    not frame.get("pending_interrupt"):
                continue

    async def run(self) -> int:
        await self.connect()
        self.say(f"support-agent chat · thread {self.thread_id} · type /quit to leave")
        while True:
            try:
                text = (await self.read_line("you> ")).strip()
            except EOFError:
                return 0
            if not text:
                continue
            if text in ("/quit", "/exit"):
                await self.ws.close()
                return 0
            await self.turn(text)


def run_chat(*, server: str, thread_id: str | None, token: str | None) -> int:
    session = ChatSession(ws_url(server, token), thread_id or f"cli_{uuid.uuid4().hex[:12]}",
                          existing=thread_id is not None)
    try:
        return asyncio.run(session.run())
    except KeyboardInterrupt:
        return 130
