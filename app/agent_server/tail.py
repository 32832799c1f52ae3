"""Follow a thread's event log from a seq: replay what is stored, then the live tail.

The stream of an Agent Server API run is the thread's one event log, read the way a
WebSocket subscription reads it: registered with the hub first (live events buffer),
the stored events after `after_seq` replayed, then live. The hub fills any gap from the
log (another replica's events arrive by NOTIFY), so a stream here gets every event
exactly once, in seq order, on any replica and after a restart. `EventTap` is the
hub's "connection" for it: a queue instead of a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from app.conversations.event_log import iter_events
from app.core.pii import mask_event
from app.core.security import Principal
from graphs.events import RUN_END_TYPES, dump_event

__all__ = ["EventTap", "follow"]

# How often a quiet stream checks whether the server is shutting down or its thread is gone.
_CHECK_S = 1.0


class EventTap:
    """What the hub needs of a connection, delivering into a queue (unbounded: a run's
    events are few and the reader is the stream that asked for them)."""

    def __init__(self, principal: Principal) -> None:
        self.id = "sse-" + uuid.uuid4().hex
        self.principal = principal
        self.subscriptions: dict[str, Any] = {}
        self.closed = False
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    def send_text(self, text: str) -> None:
        if not self.closed:
            self.queue.put_nowait(text)

    def send(self, frame: Any) -> None:
        """A socket-only reply (a model of app/ws/frames.py, or plain data)."""
        if hasattr(frame, "model_dump_json"):
            self.send_text(frame.model_dump_json(exclude_none=True))
        else:
            self.send_text(orjson.dumps(frame).decode())


async def follow(services: Any, principal: Principal, thread_id: str, *, after_seq: int, end_from_seq: int,
                 masked: bool, heartbeat_s: float) -> AsyncIterator[dict[str, Any] | None]:
    """Yield the thread's events after `after_seq` until a run's end event at or after
    `end_from_seq` (inclusive); `None` every `heartbeat_s` without one. Stops, too, when the
    server shuts down (the client reconnects with Last-Event-ID elsewhere)."""
    hub = services.hub
    tap = EventTap(principal)
    sub = hub.subscribe(tap, thread_id, after_seq)
    sub.mask = masked
    try:
        last = 0
        async for page in iter_events(services.pool, thread_id, after_seq, page_size=hub.page_size, slots=hub.slots):
            for stored in page:
                ev = dump_event(stored)
                shown = mask_event(ev, sub.addresses) if masked else ev
                if shown is not None:
                    yield shown
                if ev["type"] in RUN_END_TYPES and ev["seq"] >= end_from_seq:
                    return
                last = ev["seq"]
        if last:
            sub.last_sent = last
        hub.go_live(sub)
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while True:
            try:
                text = await asyncio.wait_for(tap.queue.get(), timeout=min(heartbeat_s, _CHECK_S))
            except TimeoutError:
                # a server shutting down, or a thread deleted (the hub dropped it): end, the client rejoins
                if services.shutting_down or sub not in hub.subs.get(thread_id, ()):
                    return
                if loop.time() - quiet_since >= heartbeat_s:
                    quiet_since = loop.time()
                    yield None
                continue
            ev = orjson.loads(text)
            yield ev
            quiet_since = loop.time()
            if ev.get("type") in RUN_END_TYPES and ev.get("seq", 0) >= end_from_seq:
                return
    finally:
        tap.closed = True
        with contextlib.suppress(Exception):
            hub.unsubscribe(tap, thread_id)
