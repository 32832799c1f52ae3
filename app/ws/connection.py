"""One WebSocket: its subscriptions and a bounded send queue.

Frames are queued, never awaited by the producer, so a slow or dead socket cannot
block a run or other sockets. A socket whose queue overflows is closed with 4008;
its client resumes with `subscribe` + `after_seq` and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketState

from app.core.logging import get_logger
from app.core.pii import mask_event
from app.core.security import Principal
from graphs.events import Event

log = get_logger(__name__)

__all__ = ["Connection", "Subscription", "encode"]

CLOSE_TOO_SLOW = 4008
CLOSE_GOING_AWAY = 1001


def encode(frame: BaseModel | dict[str, Any]) -> str:
    """Compact JSON, non-ASCII kept as is, unset fields left out: an event exactly as it is stored."""
    if isinstance(frame, BaseModel):
        return frame.__pydantic_serializer__.to_json(frame, exclude_none=True).decode()
    return orjson.dumps(frame).decode()


@dataclass(eq=False)
class Subscription:
    """One socket's interest in one thread: what it has been sent so far."""

    conn: Connection
    thread_id: str
    last_sent: int = 0
    replaying: bool = True
    buffer: list[tuple[Event, str]] = field(default_factory=list)
    mask: bool = False
    """An operator watching someone else's thread: events go out PII-masked, token deltas not at all."""
    addresses: set[str] = field(default_factory=set)
    """The thread's addresses seen so far, scrubbed from later events when masking."""

    def deliver(self, event: Event, text: str) -> bool:
        """Send a live event; False when a gap means the log must fill in first."""
        if self.replaying:
            self.buffer.append((event, text))
            return True
        seq = event.seq or 0
        if seq <= self.last_sent:
            return True
        if seq != self.last_sent + 1:
            return False
        self.last_sent = seq
        if self.mask:
            masked = mask_event(event, self.addresses)
            if masked is not None:
                self.conn.send_text(encode(masked))
            return True
        self.conn.send_text(text)
        return True


class Connection:
    def __init__(self, websocket: WebSocket, principal: Principal, *, queue_max: int) -> None:
        self.websocket = websocket
        self.principal = principal
        self.id = uuid.uuid4().hex
        self.subscriptions: dict[str, Subscription] = {}
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=queue_max)
        self._sender: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None  # held so the loop does not drop it
        self.closed = False
        self.close_code: int | None = None
        self.on_close: Callable[[Connection], None] | None = None  # the hub: drop its subscriptions

    def start(self) -> None:
        self._sender = asyncio.create_task(self._send_loop(), name=f"ws-send-{self.id[:8]}")

    def send(self, frame: BaseModel) -> None:
        self.send_text(encode(frame))

    def send_text(self, text: str) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.close_soon(CLOSE_TOO_SLOW, "too slow: resubscribe with after_seq")

    async def send_wait(self, frame: BaseModel | str) -> None:
        """Queue a frame, waiting for room (for replays, which may exceed the queue)."""
        if self.closed:
            return
        await self._queue.put(frame if isinstance(frame, str) else encode(frame))

    def close_soon(self, code: int, reason: str) -> None:
        """Give up on this socket now: free what is queued for it and leave the hub at once.

        The close frame itself waits behind whatever the transport still holds (a peer that
        does not read never lets it drain), so only the close waits, holding nothing else:
        a peer that reads again gets its buffered frames, then `code`; one that never does
        is dropped by the heartbeat."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        if code == CLOSE_TOO_SLOW:
            log.warning("socket_too_slow", connection_id=self.id, user_id=self.principal.user_id,
                        queued=self._queue.qsize())
        while not self._queue.empty():
            self._queue.get_nowait()
        if self.on_close is not None:
            self.on_close(self)
        self._closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        if self._sender:
            self._sender.cancel()
        with contextlib.suppress(Exception):
            if self.websocket.application_state == WebSocketState.CONNECTED:
                await self.websocket.close(code=code, reason=reason)

    async def aclose(self, code: int, reason: str) -> None:
        """Flush what is queued, then close (graceful shutdown)."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        if self._sender:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._sender, timeout=2)
        with contextlib.suppress(Exception):
            if self.websocket.application_state == WebSocketState.CONNECTED:
                await self.websocket.close(code=code, reason=reason)

    async def stop(self) -> None:
        self.closed = True
        if self._sender:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender

    async def _send_loop(self) -> None:
        try:
            while True:
                text = await self._queue.get()
                if text is None:
                    return
                await self.websocket.send_text(text)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - whatever the send failed on, the peer is gone
            self.closed = True  # the peer is gone; the receive loop notices and cleans up
