"""The Redis bus (REDIS_URL set): live events, cancels and tool-cache invalidations between replicas.

Pub/sub, not Streams: Postgres already is the durable, ordered log (every event has a
per-thread `seq`), so the bus only has to be fast, never reliable. A replica that
misses a message (Redis restarted, its connection dropped, a publish failed) notices
by seq or by re-subscribing and reads what it lacks from the event log; nothing is
stored twice and Redis needs no persistence, trimming or consumer groups.

Channels (prefix `sa:`):
- `sa:ev:<thread_id>`: `e <origin> <max_seq>` and then, one per line, the stored
  events of one commit as the JSON sockets get; or `n <origin> <max_seq>` alone when
  a publish failed and was owed (the receiver then reads the log). The header lets a
  replica drop its own messages unparsed, and the lines are sent to sockets as they
  are. A replica subscribes only to the threads its sockets watch, so traffic per
  replica follows its own sockets, not the cluster's.
- `sa:cancel`: a run id whose owner should stop it.
- `sa:tools`: imported specs or their reviews changed: rebuild the tools.

Every confirmed SUBSCRIBE (the first, and the ones redis-py re-sends after it
reconnects) is reported, so the hub fills that thread from the log: whatever was
published while this replica was not listening is read back by seq.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from app.core.logging import get_logger

__all__ = ["CANCEL", "TOOLS", "RedisBus", "announce_tools_changed", "thread_channel"]

log = get_logger(__name__)

PREFIX = "sa:ev:"
CANCEL = "sa:cancel"
TOOLS = "sa:tools"


def thread_channel(thread_id: str) -> str:
    return PREFIX + thread_id


async def announce_tools_changed(url: str) -> None:
    """One-off publish for processes without a bus (`support-agent import-spec`)."""
    client = aioredis.from_url(url)
    try:
        await client.publish(TOOLS, b"")
    finally:
        await client.aclose()


class RedisBus:
    """One subscriber connection (threads come and go) and one publisher with an outbox.

    Publishing never blocks the caller: `publish_events()` queues and a task sends each
    batch as one pipeline. A batch that cannot be sent is owed as `max_seq` per thread
    and re-announced once Redis answers again.
    """

    def __init__(self, url: str, *, origin: str,
                 on_events: Callable[[str, list[str]], None],
                 on_behind: Callable[[str, int], None], on_subscribed: Callable[[str | None], None],
                 on_cancel: Callable[[str], None], on_tools: Callable[[], None]) -> None:
        self.url = url
        self.origin = origin
        self._origin_b = origin.encode()
        self.on_events, self.on_behind, self.on_subscribed = on_events, on_behind, on_subscribed
        self.on_cancel, self.on_tools = on_cancel, on_tools
        self.client = aioredis.from_url(url, health_check_interval=15)
        self.wanted: set[str] = set()  # thread ids this replica's sockets watch
        self._subscribed: set[str] = set()  # as sent on the current subscriber connection
        self._pubsub: Any = None
        self._changed = asyncio.Event()
        self._outbox: list[tuple[str, bytes, str, int]] = []  # channel, message, thread_id, max_seq
        self._owed: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0  # messages sent (bench and tests read it)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._subscriber(), name="redis-bus-sub"),
                       asyncio.create_task(self._publisher(), name="redis-bus-pub")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            await self.client.aclose()

    # subscriptions
    def watch(self, thread_id: str) -> None:
        if thread_id not in self.wanted:
            self.wanted.add(thread_id)
            self._changed.set()

    def unwatch(self, thread_id: str) -> None:
        if thread_id in self.wanted:
            self.wanted.discard(thread_id)
            self._changed.set()

    async def _subscriber(self) -> None:
        delay = 0.2
        while True:
            pubsub = self.client.pubsub()
            self._pubsub, self._subscribed = pubsub, set()
            sync = None
            try:
                await pubsub.subscribe(CANCEL, TOOLS)
                sync = asyncio.create_task(self._sync_subscriptions(pubsub))
                async for msg in pubsub.listen():
                    delay = 0.2
                    self._on_message(msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the link: reconnect and catch up from the log
                log.warning("redis_bus_lost", error=f"{type(exc).__name__}: {exc}", retry_in_s=delay)
            finally:
                if sync is not None:
                    sync.cancel()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _sync_subscriptions(self, pubsub: Any) -> None:
        """Bring the connection's channels to `wanted`; the confirmations arrive in `_on_message`."""
        while True:
            self._changed.clear()
            add, drop = self.wanted - self._subscribed, self._subscribed - self.wanted
            if add:
                await pubsub.subscribe(*(thread_channel(t) for t in add))
                self._subscribed |= add
            if drop:
                await pubsub.unsubscribe(*(thread_channel(t) for t in drop))
                self._subscribed -= drop
            await self._changed.wait()

    def _on_message(self, msg: dict[str, Any]) -> None:
        kind, channel = msg["type"], msg["channel"].decode()
        if kind == "subscribe":
            if channel == CANCEL:  # the connection is (back) up: anything may have been missed
                self.on_subscribed(None)
            elif channel.startswith(PREFIX):
                self.on_subscribed(channel[len(PREFIX):])
            return
        if kind != "message":
            return
        if channel == CANCEL:
            self.on_cancel(msg["data"].decode())
        elif channel == TOOLS:
            self.on_tools()
        elif channel.startswith(PREFIX):
            header, _, body = msg["data"].partition(b"\n")
            try:
                kind, origin, max_seq = header.split(b" ", 2)
                if origin == self._origin_b:
                    return  # our own: this process delivered it before publishing
                thread_id = channel[len(PREFIX):]
                if kind == b"e":
                    lines = body.split(b"\n")
                    self.on_events(thread_id, [line.decode() for line in lines])
                else:
                    self.on_behind(thread_id, int(max_seq))
            except (ValueError, orjson.JSONDecodeError) as exc:
                log.warning("redis_bus_bad_message", channel=channel, error=str(exc))

    # publishing
    def publish_events(self, events: list[tuple[str, int, bytes]]) -> None:
        """Events as (thread_id, seq, their wire JSON): one message per thread, in seq order."""
        by_thread: dict[str, list[tuple[int, bytes]]] = {}
        for thread_id, seq, wire in events:
            by_thread.setdefault(thread_id, []).append((seq, wire))
        for thread_id, evs in by_thread.items():
            max_seq = evs[-1][0]
            body = b"e %s %d\n" % (self._origin_b, max_seq) + b"\n".join(wire for _, wire in evs)
            self._outbox.append((thread_channel(thread_id), body, thread_id, max_seq))
        self._wake.set()

    async def publish_control(self, channel: str, data: str) -> None:
        await self.client.publish(channel, data)

    async def _publisher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._outbox = self._outbox, []
            for thread_id, max_seq in self._owed.items():
                batch.append((thread_channel(thread_id), b"n %s %d" % (self._origin_b, max_seq), thread_id, max_seq))
            self._owed = {}
            if not batch:
                continue
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for channel, body, _, _ in batch:
                        pipe.publish(channel, body)
                    await pipe.execute()
                self.published += len(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the events are durable; owe the other replicas a look at the log
                for _, _, thread_id, max_seq in batch:
                    self._owed[thread_id] = max(max_seq, self._owed.get(thread_id, 0))
                log.warning("redis_publish_failed", error=f"{type(exc).__name__}: {exc}", threads=len(self._owed))
                await asyncio.sleep(0.5)
                self._wake.set()
