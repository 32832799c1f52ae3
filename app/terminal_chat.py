"""`support-agent chat`: a terminal client on the same protocol as the widget.

Streams answers as they come, shows tool calls, asks y/n/edit for approvals, and
resumes after a dropped connection with `subscribe` + `after_seq`, so nothing is
lost or printed twice. `--operator` is the staff side of a human takeover
(`OperatorSession`): list the queue, claim a conversation, talk, release it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any, TextIO

import httpx
import websockets

__all__ = ["ChatSession", "OperatorSession", "run_chat", "run_operator"]

END_TYPES = {"message_complete", "interrupt", "run_cancelled", "run_error"}
TAKEOVER_TYPES = {"customer_message", "agent_joined", "human_message", "agent_left", "handoff_notice"}


def takeover_line(frame: dict[str, Any]) -> str:
    """One line for an event of a human takeover, as either side sees it."""
    kind = frame["type"]
    if kind == "customer_message":
        return f"customer> {frame['content']}"
    if kind == "human_message":
        return f"{frame['name']}> {frame['content']}"
    if kind == "agent_joined":
        return f"[{frame['name']} from support joined]"
    if kind == "agent_left":
        return "[the assistant is back]" if frame["outcome"] == "back_to_assistant" else \
            "[the conversation was resolved by support]"
    return f"[{frame['message']}]"


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
        elif kind in TAKEOVER_TYPES:
            self.say(takeover_line(frame))
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
            if frame.get("type") in END_TYPES or frame.get("type") == "customer_message":
                return  # a message people read gets no run: their replies show with the next turn
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


class OperatorSession:
    """The staff side in a terminal: `/queue`, `/claim N|THREAD`, type to talk, `/release [back|resolved]`.

    A reader task prints the held thread's events as they come (the customer writes at
    any time); each command waits for the server's answer (its event or an error).
    """

    def __init__(self, server: str, token: str | None, *, out: TextIO = sys.stdout, read_line: Any = None,
                 timeout_s: float = 20) -> None:
        self.base = server.rstrip("/")
        self.token = token
        self.url = ws_url(server, token)
        self.out = out
        self.read_line = read_line or (lambda prompt: asyncio.to_thread(input, prompt))
        self.timeout_s = timeout_s
        self.thread_id: str | None = None
        self.user_id = ""
        self.last_seq: dict[str, int] = {}
        self.queue: list[dict[str, Any]] = []
        self.ws: Any = None
        self._waiter: tuple[Any, asyncio.Future[dict[str, Any]]] | None = None

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def connect(self) -> None:
        try:
            self.ws = await websockets.connect(self.url, max_size=4 * 1024 * 1024)
            hello = json.loads(await self.ws.recv())
        except websockets.ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd else "closed"
            raise SystemExit(f"support-agent chat: not signed in: {reason} (pass --token or set SUPPORT_AGENT_TOKEN)") \
                from None
        if hello.get("role") not in ("operator", "admin"):
            raise SystemExit("support-agent chat --operator: this token is not an operator's or an admin's")
        self.user_id = hello["user_id"]
        if self.thread_id:
            await self._send({"type": "subscribe", "thread_id": self.thread_id,
                              "after_seq": self.last_seq.get(self.thread_id, 0)})

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def _read(self) -> None:
        while True:
            try:
                async for raw in self.ws:
                    self._on_frame(json.loads(raw))
            except websockets.ConnectionClosed:
                pass
            self.say("[connection lost; resuming]")
            await self.connect()

    def _on_frame(self, frame: dict[str, Any]) -> None:
        tid, seq = frame.get("thread_id"), frame.get("seq")
        if seq is not None and tid:
            if seq <= self.last_seq.get(tid, 0):
                return
            self.last_seq[tid] = seq
        kind = frame.get("type")
        if tid == self.thread_id or kind == "error":
            if kind in TAKEOVER_TYPES:
                if not (kind == "human_message" and frame.get("user_id") == self.user_id and self._waiter):
                    self.say(takeover_line(frame))
            elif kind == "message_complete":
                self.say(f"{frame.get('agent') or 'assistant'}> {frame['content']}")
            elif kind == "interrupt":
                self.say(f"[approval waiting: {frame['message']} · decide it in the console's inbox]")
            elif kind == "error":
                self.say(f"[{frame['code']}: {frame['message']}]")
        if self._waiter is not None and self._waiter[0](frame) and not self._waiter[1].done():
            self._waiter[1].set_result(frame)

    async def _request(self, frame: dict[str, Any], done: Any) -> dict[str, Any] | None:
        """Send a frame and wait for the event `done` accepts, or an error about this thread."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiter = (lambda f: f.get("type") == "error" or done(f), fut)
        try:
            await self._send(frame)
            return await asyncio.wait_for(fut, self.timeout_s)
        except TimeoutError:
            self.say("[no answer from the server; try again]")
            return None
        finally:
            self._waiter = None

    async def show_queue(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.get(f"{self.base}/api/handoffs", params={"status": "open"},
                               headers={"Authorization": f"Bearer {self.token}"} if self.token else {})
        if r.status_code != 200:
            self.say(f"[the queue could not be read: {r.status_code} {r.text[:200]}]")
            return
        self.queue = r.json()["data"]
        if not self.queue:
            self.say("[nobody is waiting for a person]")
        for i, item in enumerate(self.queue, 1):
            who = f"held by {item['holder']['name']}" if item["holder"] else "waiting"
            last = f" · \"{item['last_customer_message']}\"" if item["last_customer_message"] else ""
            self.say(f"{i:>3}. {item['thread_id']} · {who} · {item['waited_s']}s · {item['reason']}{last}")

    async def claim(self, arg: str) -> None:
        if arg.isdigit() and 0 < int(arg) <= len(self.queue):
            arg = self.queue[int(arg) - 1]["thread_id"]
        if not arg:
            self.say("[which one? /claim N (from /queue) or /claim THREAD_ID]")
            return
        self.thread_id = arg
        synced = await self._request({"type": "subscribe", "thread_id": arg, "after_seq": self.last_seq.get(arg, 0)},
                                     lambda f: f.get("type") == "session_sync" and f.get("thread_id") == arg)
        if synced is None or synced.get("type") == "error":
            self.thread_id = None
            return
        answer = await self._request({"type": "claim", "thread_id": arg}, lambda f: f.get("thread_id") == arg and (
            f.get("type") == "agent_joined" or f.get("type") == "session_sync"))
        if answer is not None and answer.get("type") != "error":
            self.say(f"[you hold {arg}; type to write to the customer, /release back|resolved to let go]")

    async def talk(self, text: str) -> None:
        if not self.thread_id:
            self.say("[claim a conversation first: /queue, then /claim N]")
            return
        tid = self.thread_id
        answer = await self._request({"type": "operator_message", "thread_id": tid, "content": text},
                                     lambda f: f.get("type") == "human_message" and f.get("thread_id") == tid
                                     and f.get("user_id") == self.user_id and f.get("content") == text)
        if answer is not None and answer.get("type") == "human_message":
            self.say(f"you> {text}")

    async def release(self, arg: str) -> None:
        outcome = {"": "back_to_assistant", "back": "back_to_assistant", "back_to_assistant": "back_to_assistant",
                   "resolved": "resolved"}.get(arg)
        if outcome is None or not self.thread_id:
            self.say("[usage: /release back|resolved, with a conversation claimed]")
            return
        tid = self.thread_id
        answer = await self._request({"type": "release", "thread_id": tid, "outcome": outcome},
                                     lambda f: f.get("type") == "agent_left" and f.get("thread_id") == tid)
        if answer is not None and answer.get("type") == "agent_left":
            await self._send({"type": "unsubscribe", "thread_id": tid})
            self.thread_id = None

    async def run(self) -> int:
        await self.connect()
        reader = asyncio.create_task(self._read())
        self.say(f"support-agent chat --operator · {self.user_id} · /queue, /claim N, /release back|resolved, /quit")
        try:
            while True:
                try:
                    line = (await self.read_line("")).strip()
                except EOFError:
                    return 0
                command, _, arg = line.partition(" ")
                if not line:
                    continue
                if command in ("/quit", "/exit"):
                    return 0
                if command == "/queue":
                    await self.show_queue()
                elif command == "/claim":
                    await self.claim(arg.strip())
                elif command == "/release":
                    await self.release(arg.strip())
                else:
                    await self.talk(line)
        finally:
            reader.cancel()
            await self.ws.close()


def run_operator(*, server: str, token: str | None) -> int:
    try:
        return asyncio.run(OperatorSession(server, token).run())
    except KeyboardInterrupt:
        return 130
