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
from psycopg_pool import AsyncConnectionPool

from app.conversations.event_log import NOTIFY_CHANNEL, read_events
from app.core.logging import get_logger
from app.core.metrics import METRICS
from app.core.redis_bus import CANCEL, TOOLS, RedisBus
from app.ws.connection import Connection, Subscription, encode

__all__ = ["Hub"]

log = get_logger(__name__)

CANCEL_CHANNEL = "sa_cancel"
TOOLS_CHANNEL = "sa_tools"  # sent by a trigger when imported specs or their reviews change


class Hub:
    def __init__(self, pool: AsyncConnectionPool, *, origin: str, redis_url: str | None = None) -> None:
        self.pool = pool
        self.origin = origin
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

    def notice(self, thread_id: str, frame: dict[str, Any]) -> None:
        """Send a socket-only frame (no seq, never in the log) to this process's subscribers of a thread."""
        for sub in list(self.subs.get(thread_id, ())):
            if not sub.conn.closed:
                sub.conn.send(frame)

    def drop_thread(self, thread_id: str) -> None:
        for sub in list(self.subs.pop(thread_id, ())):
            sub.conn.subscriptions.pop(thread_id, None)
        if self.bus is not None:
            self.bus.unwatch(thread_id)

    # events
    def publish(self, events: list[dict[str, Any]]) -> None:
        """Events this process just made durable: to its sockets, and (Redis) to the other replicas."""
        self._deliver(events)
        if self.bus is not None:
            self.bus.publish_events(events)

    def _deliver(self, events: list[dict[str, Any]], texts: list[str] | None = None) -> None:
        """To this process's sockets; `texts`: the events' JSON when already encoded (from Redis)."""
        for i, event in enumerate(events):
            subs = self.subs.get(event["thread_id"])
            if not subs:
                continue
            text = texts[i] if texts is not None else encode(event)
            for sub in list(subs):
                if sub.conn.closed:
                    continue
                if sub.deliver(event, text):
                    METRICS.events_sent.inc()
                else:
                    self._fill(event["thread_id"])

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
                events = await read_events(self.pool, thread_id, after)
                # a log with pruned token deltas has holes: accept the next stored event
                for sub in subs:
                    for event in events:
                        if event["seq"] > sub.last_sent:
                            sub.last_sent = event["seq"] - 1
                            sub.deliver(event, encode(event))
                if thread_id not in self._refill:
                    return
        except Exception as exc:
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
    def _on_remote_events(self, thread_id: str, events: list[dict[str, Any]], texts: list[str]) -> None:
        if self.subs.get(thread_id):
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
            except Exception as exc:
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
