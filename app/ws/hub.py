"""Fan-out: thread_id -> subscribed sockets, in this process and across replicas.

Local events arrive from the event writer after commit. Events written by another
server process arrive one of two ways:

- by default, as a Postgres NOTIFY (`thread_id max_seq origin`) on a LISTEN
  connection to `DATABASE_DIRECT_URL` (or DATABASE_URL); the hub then reads what its
  subscribers have not seen from the event log;
- with REDIS_URL, on the Redis bus (`app.core.redis_bus`): the events themselves, on
  a channel per thread this process watches; no NOTIFY is sent.

Each subscription tracks the last seq it sent, so nothing is sent twice and a gap
(or a message Redis never delivered) is filled from the log, never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

import psycopg

from app.conversations.event_log import NOTIFY_CHANNEL, count_events, iter_events
from app.core.db import Pool
from app.core.logging import get_logger
from app.core.metrics import METRICS
from app.core.pii import mask_event
from app.core.redis_bus import CANCEL, TOOLS, RedisBus
from app.ws.connection import Connection, Subscription, encode
from app.ws.frames import ErrorFrame, ReplayEnd, ReplayStart
from graphs.events import EVENT_ADAPTER, Event, encode_event

__all__ = ["Hub"]

log = get_logger(__name__)

CANCEL_CHANNEL = "sa_cancel"
TOOLS_CHANNEL = "sa_tools"  # sent by a trigger when imported specs or their reviews change


class Hub:
    def __init__(self, pool: Pool, *, origin: str, page_size: int = 500,
                 slots: asyncio.Semaphore | None = None, redis_url: str | None = None) -> None:
        self.pool = pool
        self.origin = origin
        self.page_size = page_size  # events read from the log at a time (fills, replays)
        self.slots = slots  # bounds the log reads of fills and replays this process runs at once
        self.bus = RedisBus(redis_url, origin=origin, on_events=self._on_remote_events, on_behind=self._on_behind,
                            on_subscribed=self._on_bus_subscribed, on_cancel=self._on_cancel,
                            on_tools=self._on_tools) if redis_url else None
        self.subs: dict[str, set[Subscription]] = defaultdict(set)
        self.connections: dict[str, Connection] = {}
        self._listener: asyncio.Task[None] | None = None
        self._fills: dict[str, asyncio.Task[None]] = {}
        self._refill: set[str] = set()  # asked for again while a fill was reading
        self.on_cancel_request: Any = None  # set by the run manager: run_id -> None
        self.on_tools_changed: Any = None  # set by the services: () -> None

    # sockets
    def add_connection(self, conn: Connection) -> None:
        self.connections[conn.id] = conn
        conn.on_close = self.remove_connection  # a socket given up on (4008) leaves every thread at once

    def remove_connection(self, conn: Connection) -> None:
        self.connections.pop(conn.id, None)
        for thread_id in list(conn.subscriptions):
            self.unsubscribe(conn, thread_id)

    def subscribe(self, conn: Connection, thread_id: str, after_seq: int) -> Subscription:
        """Register first (live events buffer), then the caller replays from the log."""
        old = conn.subscriptions.get(thread_id)
        if old is not None:
            self.subs[thread_id].discard(old)
        sub = Subscription(conn=conn, thread_id=thread_id, last_sent=after_seq)
        conn.subscriptions[thread_id] = sub
        self.subs[thread_id].add(sub)
        if self.bus is not None:
            self.bus.watch(thread_id)
        return sub

    def unsubscribe(self, conn: Connection, thread_id: str) -> None:
        sub = conn.subscriptions.pop(thread_id, None)
        if sub is not None:
            subs = self.subs.get(thread_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self.subs[thread_id]
                    if self.bus is not None:
                        self.bus.unwatch(thread_id)

    def go_live(self, sub: Subscription) -> None:
        """End a subscription's replay: send what arrived meanwhile, in order."""
        buffered, sub.buffer = sub.buffer, []
        sub.replaying = False
        for event, text in buffered:
            if not sub.deliver(event, text):
                self._fill(sub.thread_id)
                return
        if self.bus is not None:
            # an event published after the replay read but before Redis confirmed this
            # thread's channel reached neither: read the log once more
            self._fill(sub.thread_id)

    def notice(self, thread_id: str, *, code: str, message: str) -> None:
        """Send a socket-only `error` (no seq, never in the log) to this process's subscribers of a thread."""
        frame = ErrorFrame(code=code, message=message, thread_id=thread_id)
        for sub in list(self.subs.get(thread_id, ())):
            if not sub.conn.closed:
                sub.conn.send(frame)

    def drop_thread(self, thread_id: str) -> None:
        for sub in list(self.subs.pop(thread_id, ())):
            sub.conn.subscriptions.pop(thread_id, None)
        if self.bus is not None:
            self.bus.unwatch(thread_id)

    # events
    def publish(self, events: list[Event]) -> None:
        """Events this process just made durable: to its sockets, and (Redis) to the other replicas."""
        self._deliver(events)
        if self.bus is not None:
            self.bus.publish_events([(e.thread_id or "", e.seq or 0, encode_event(e)) for e in events])

    def _deliver(self, events: list[Event], texts: list[str] | None = None) -> None:
        """To this process's sockets; `texts`: the events' JSON when already encoded (from Redis)."""
        for i, event in enumerate(events):
            subs = self.subs.get(event.thread_id)  # type: ignore[arg-type]  # stamped
            if not subs:
                continue
            text = texts[i] if texts is not None else encode_event(event).decode()
            for sub in list(subs):
                if sub.conn.closed:
                    continue
                if sub.deliver(event, text):
                    METRICS.events_sent.inc()
                else:
                    self._fill(event.thread_id)  # type: ignore[arg-type]

    async def replay(self, sub: Subscription, after_seq: int) -> None:
        """Send `sub`'s socket the stored events after `after_seq` between replay_start and replay_end.

        Counted first, then read a page at a time up to the last counted seq: what is appended
        meanwhile is buffered by the subscription and goes out live after. A masked subscription
        (an operator on someone else's thread) is counted and sent without token deltas.
        """
        conn, thread_id = sub.conn, sub.thread_id
        count, upto = await count_events(self.pool, thread_id, after_seq, tokens=not sub.mask)
        if not count:
            return
        await conn.send_wait(ReplayStart(thread_id=thread_id, count=count))
        async for page in iter_events(self.pool, thread_id, after_seq, upto=upto, tokens=not sub.mask,
                                      page_size=self.page_size, slots=self.slots):
            for event in page:
                if sub.mask:
                    shown = mask_event(event, sub.addresses)
                    if shown is not None:
                        await conn.send_wait(encode(shown))
                else:
                    await conn.send_wait(encode_event(event).decode())
        await conn.send_wait(ReplayEnd(thread_id=thread_id))
        sub.last_sent = upto

    def _fill(self, thread_id: str) -> None:
        """Read from the log what some subscriber of the thread is missing."""
        if thread_id in self._fills:
            # the running read may predate what prompted this call: read once more after it
            self._refill.add(thread_id)
            return
        self._fills[thread_id] = asyncio.create_task(self._fill_from_log(thread_id))

    async def _fill_from_log(self, thread_id: str) -> None:
        try:
            while True:
                self._refill.discard(thread_id)
                subs = [s for s in self.subs.get(thread_id, ()) if not s.replaying]
                if not subs:
                    return
                after = min(s.last_sent for s in subs)
                async for page in iter_events(self.pool, thread_id, after, page_size=self.page_size,
                                              slots=self.slots):
                    # a log with pruned token deltas has holes: accept the next stored event
                    for event in page:
                        text = encode_event(event).decode()
                        for sub in subs:
                            if (event.seq or 0) > sub.last_sent:
                                sub.last_sent = (event.seq or 0) - 1
                                sub.deliver(event, text)
                if thread_id not in self._refill:
                    return
        except Exception as exc:  # noqa: BLE001 - a failed catch-up is logged; the next NOTIFY or gap retries it
            log.warning("hub_fill_failed", thread_id=thread_id, error=str(exc))
        finally:
            self._fills.pop(thread_id, None)

    # other replicas
    def start(self, listen_url: str) -> None:
        """Hear the other replicas: on Redis when configured, else LISTEN on `listen_url` (a direct session)."""
        if self.bus is not None:
            self.bus.start()
            return
        self._listener = asyncio.create_task(self._listen(listen_url), name="hub-listen")

    async def stop(self) -> None:
        if self.bus is not None:
            await self.bus.stop()
        if self._listener:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener

    async def notify_cancel(self, run_id: str) -> None:
        if self.bus is not None:
            await self.bus.publish_control(CANCEL, run_id)
            return
        async with self.pool.connection() as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", (CANCEL_CHANNEL, run_id))

    async def announce_tools_changed(self) -> None:
        """Tell the other replicas to rebuild their tools (without Redis a trigger NOTIFYs at commit)."""
        if self.bus is not None:
            await self.bus.publish_control(TOOLS, "")

    # the Redis bus's callbacks
    def _on_remote_events(self, thread_id: str, texts: list[str]) -> None:
        if not self.subs.get(thread_id):
            return
        try:
            events = [EVENT_ADAPTER.validate_json(text) for text in texts]
        except ValueError as exc:  # not an event of ours: read the log instead, which is the truth
            log.warning("redis_bus_bad_event", thread_id=thread_id, error=str(exc))
            self._fill(thread_id)
            return
        self._deliver(events, texts)

    def _on_behind(self, thread_id: str, max_seq: int) -> None:
        subs = self.subs.get(thread_id)
        if subs and any(not s.replaying and s.last_sent < max_seq for s in subs):
            self._fill(thread_id)

    def _on_bus_subscribed(self, thread_id: str | None) -> None:
        """A channel is (again) confirmed: whatever was published before is read from the log."""
        if thread_id is not None:
            self._fill(thread_id)
            return
        self._on_tools()  # a change may have been missed while away
        for tid in list(self.subs):
            self._fill(tid)

    def _on_cancel(self, run_id: str) -> None:
        if self.on_cancel_request is not None:
            self.on_cancel_request(run_id)

    def _on_tools(self) -> None:
        if self.on_tools_changed is not None:
            self.on_tools_changed()

    async def _listen(self, url: str) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    await conn.execute(f"LISTEN {CANCEL_CHANNEL}")
                    await conn.execute(f"LISTEN {TOOLS_CHANNEL}")
                    delay = 0.5
                    if self.on_tools_changed is not None:  # a change may have been missed while away
                        self.on_tools_changed()
                    # after a reconnect, catch up on whatever was missed meanwhile
                    for thread_id in list(self.subs):
                        self._fill(thread_id)
                    async for note in conn.notifies():
                        self._on_notify(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the listener reconnects after any failure
                log.warning("hub_listen_lost", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    def _on_notify(self, channel: str, payload: str) -> None:
        if channel == TOOLS_CHANNEL:
            if self.on_tools_changed is not None:
                self.on_tools_changed()
            return
        if channel == CANCEL_CHANNEL:
            if self.on_cancel_request is not None:
                self.on_cancel_request(payload)
            return
        try:
            thread_id, max_seq, origin = payload.split(" ", 2)
        except ValueError:
            return
        if origin == self.origin:
            return
        subs = self.subs.get(thread_id)
        if subs and any(not s.replaying and s.last_sent < int(max_seq) for s in subs):
            self._fill(thread_id)
