"""The durable per-thread event log: append with seq, read after a seq.

Every event about a thread is a row `(thread_id, seq, run_id, type, ts, payload)`;
`payload` is exactly the JSON sent on the wire (`graphs.events.encode_event`), so
live and replayed frames are byte-identical. Events go in and come out as
`graphs.events` models; this module is the only reader of the table's payloads.
Two ways in:

- `append_locked()` inside a transaction that holds the thread row (`FOR UPDATE`):
  used when no run is active (run start, decisions, expiry), seq from the row.
- `EventWriter`: group commit for the events of an active run. The run owner holds
  the thread's lease, so it numbers its events itself; the writer batches whatever
  is queued into one INSERT, advances `threads.last_seq`, NOTIFYs other replicas,
  and only then hands the events to the local hub: nothing reaches a socket before
  it is durable, so a crash can never leave a client holding a seq that the log
  does not have.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from app.core.db import Conn, Pool
from app.core.logging import get_logger
from app.core.metrics import METRICS
from graphs.events import EVENT_ADAPTER, Event, encode_event, iso_z

__all__ = ["EventWriter", "LeaseLost", "append_locked", "count_events", "find_interrupt_event", "iter_events",
           "message_exists", "notify_on_append", "now_iso", "read_events", "stamp"]

log = get_logger(__name__)

NOTIFY_CHANNEL = "sa_events"

# Origins (server processes) whose appends send no NOTIFY: with REDIS_URL set the hub
# announces events on Redis instead, so Postgres is spared the commit-time NOTIFY lock.
_QUIET_ORIGINS: set[str] = set()


def notify_on_append(origin: str, enabled: bool) -> None:
    """Whether appends made for `origin` NOTIFY other replicas (the default) or leave it to another bus."""
    if enabled:
        _QUIET_ORIGINS.discard(origin)
    else:
        _QUIET_ORIGINS.add(origin)


def _channel(origin: str) -> str | None:
    return None if origin in _QUIET_ORIGINS else NOTIFY_CHANNEL

_ROWS = """jsonb_to_recordset(%(rows)s) AS e(thread_id text, seq bigint, run_id text, type text,
                                       ts timestamptz, payload jsonb)"""

# After `ins` (the inserted rows): advance each thread's last_seq, NOTIFY the other
# replicas, and answer the thread ids written.
_ADVANCE_AND_NOTIFY = """, m AS (
    SELECT thread_id, max(seq) AS max_seq FROM ins GROUP BY thread_id
), upd AS (
    UPDATE threads t SET last_seq = GREATEST(t.last_seq, m.max_seq), updated_at = now(),
           last_activity_at = now()
    FROM m WHERE t.thread_id = m.thread_id
    RETURNING t.thread_id
)
SELECT m.thread_id, CASE WHEN %(channel)s::text IS NOT NULL
    THEN pg_notify(%(channel)s, m.thread_id || ' ' || m.max_seq || ' ' || %(origin)s) END FROM m
"""

INSERT_BATCH = f"""
WITH ins AS (
    INSERT INTO events (thread_id, seq, run_id, type, ts, payload)
    SELECT e.thread_id, e.seq, e.run_id, e.type, e.ts, e.payload FROM {_ROWS}
    RETURNING thread_id, seq
){_ADVANCE_AND_NOTIFY}"""

# The writer's INSERT: a run's events are stored only while the run holds its thread's
# lease. The thread rows are locked first (in a fixed order), so a takeover in progress is
# waited for and then seen; the rows of a run that lost its lease are skipped.
INSERT_RUN_EVENTS = f"""
WITH e AS (
    SELECT * FROM {_ROWS}
), held AS (
    SELECT t.thread_id, t.active_run_id FROM threads t
    WHERE t.thread_id IN (SELECT DISTINCT thread_id FROM e)
    ORDER BY t.thread_id FOR UPDATE
), ins AS (
    INSERT INTO events (thread_id, seq, run_id, type, ts, payload)
    SELECT e.thread_id, e.seq, e.run_id, e.type, e.ts, e.payload
    FROM e JOIN held h ON h.thread_id = e.thread_id AND h.active_run_id = e.run_id
    RETURNING thread_id, seq
){_ADVANCE_AND_NOTIFY}"""

# The one reader of the log: a page of a thread's events after a seq (up to a seq),
# token deltas optionally left out. `seq` is the keyset, so every page is an index range.
READ_PAGE = """
SELECT seq, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts, payload::text AS payload
FROM events
WHERE thread_id = %(thread_id)s AND seq > %(after_seq)s AND seq <= %(upto)s AND (%(tokens)s OR type <> 'token')
ORDER BY seq LIMIT %(limit)s
"""

# How many events a replay after `after_seq` will send, and the last of them: the replay
# reads exactly up to that seq, whatever is appended meanwhile (that goes out live).
COUNT_AFTER = """
SELECT count(*) AS n, coalesce(max(seq), %(after_seq)s) AS upto FROM events
WHERE thread_id = %(thread_id)s AND seq > %(after_seq)s AND (%(tokens)s OR type <> 'token')
"""

FIND_INTERRUPT_EVENT = """
SELECT payload::text AS payload FROM events
WHERE thread_id = %(thread_id)s AND type = %(type)s AND payload ->> 'interrupt_id' = %(interrupt_id)s
ORDER BY seq DESC LIMIT 1
"""

MESSAGE_EXISTS = """
SELECT 1 FROM events
WHERE thread_id = %(thread_id)s AND type = 'message_complete' AND payload ->> 'message_id' = %(message_id)s
LIMIT 1
"""

MAX_SEQ = 2**62


def now_iso() -> str:
    return iso_z(datetime.now(UTC), "milliseconds")


# Token deltas are most of the traffic: their wire form leaves out `ts` (31 bytes of a
# ~200-byte frame); the row's `ts` column still records when each was written, and the
# replay API (`GET /api/replay/{thread_id}`) adds it back from there.
UNSTAMPED_TYPES = frozenset({"token"})


def stamp(event: Event, *, thread_id: str, seq: int, run_id: str | None) -> Event:
    """Make `event` its wire form in place: thread_id, seq, run_id and ts (not on tokens)."""
    # straight into the model's fields: this runs for every token, and the values are known good
    fields = event.__dict__
    fields["thread_id"] = thread_id
    fields["seq"] = seq
    if run_id is not None:
        fields["run_id"] = run_id
    if event.type not in UNSTAMPED_TYPES:
        fields["ts"] = now_iso()
    event.__pydantic_private__["_wire"] = None  # type: ignore[index]
    return event


def _rows(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Rows for `jsonb_to_recordset`: the payload is the event's encoded bytes, spliced in as they are."""
    now = None
    rows = []
    for ev in events:
        ts = ev.ts
        if ts is None:
            ts = now = now or now_iso()
        rows.append({"thread_id": ev.thread_id, "seq": ev.seq, "run_id": ev.run_id, "type": ev.type,
                     "ts": ts, "payload": orjson.Fragment(encode_event(ev))})
    return rows


async def append_locked(
    conn: Conn, *, thread_id: str, last_seq: int, run_id: str | None,
    events: Sequence[Event], origin: str,
) -> list[Event]:
    """Append events after `last_seq` (the caller holds the thread row lock); they come back stamped."""
    stamped = [
        stamp(e, thread_id=thread_id, seq=last_seq + i + 1, run_id=e.run_id or run_id)
        for i, e in enumerate(events)
    ]
    if stamped:
        await conn.execute(
            INSERT_BATCH,
            {"rows": Jsonb(_rows(stamped), dumps=orjson.dumps), "channel": _channel(origin), "origin": origin},
        )
    return stamped


def _decode(row: dict[str, Any], with_ts: bool) -> Event:
    event = EVENT_ADAPTER.validate_json(row["payload"])
    if with_ts and event.ts is None:  # a token delta: its time is the row's
        event.__dict__["ts"] = row["ts"]
    return event


async def read_events(
    pool: Pool, thread_id: str, after_seq: int = 0, *, upto: int = MAX_SEQ, limit: int = 500,
    tokens: bool = True, with_ts: bool = False,
) -> list[Event]:
    """One page: at most `limit` events with `after_seq < seq <= upto`, in seq order.

    `with_ts` gives token deltas the time of their row (replay shows one on every event).
    """
    async with pool.connection() as conn:
        cur = await conn.execute(READ_PAGE, {"thread_id": thread_id, "after_seq": after_seq, "upto": upto,
                                             "limit": limit, "tokens": tokens})
        rows = await cur.fetchall()
    return [_decode(r, with_ts) for r in rows]


async def count_events(pool: Pool, thread_id: str, after_seq: int, *, tokens: bool = True,
                       ) -> tuple[int, int]:
    """(how many events follow `after_seq`, the seq of the last of them, or `after_seq` if none)."""
    async with pool.connection() as conn:
        cur = await conn.execute(COUNT_AFTER, {"thread_id": thread_id, "after_seq": after_seq, "tokens": tokens})
        row = await cur.fetchone()
    assert row is not None
    return int(row["n"]), int(row["upto"])


async def iter_events(
    pool: Pool, thread_id: str, after_seq: int = 0, *, upto: int = MAX_SEQ, page_size: int,
    tokens: bool = True, with_ts: bool = False, slots: asyncio.Semaphore | None = None,
) -> AsyncIterator[list[Event]]:
    """The events after `after_seq` (up to `upto`) page by page: never more than `page_size` in memory.

    `slots` bounds how many pages this process reads at once (a replay waits for a slot
    per page, not for its whole length, so a slow reader holds none while it drains).
    """
    cursor = after_seq
    while cursor < upto:
        if slots is not None:
            async with slots:
                page = await read_events(pool, thread_id, cursor, upto=upto, limit=page_size, tokens=tokens,
                                         with_ts=with_ts)
        else:
            page = await read_events(pool, thread_id, cursor, upto=upto, limit=page_size, tokens=tokens,
                                     with_ts=with_ts)
        if not page:
            return
        yield page
        if len(page) < page_size:
            return
        cursor = page[-1].seq or upto


async def find_interrupt_event(pool: Pool, thread_id: str, type_: str, interrupt_id: str,
                               ) -> Event | None:
    """The last stored event of `type_` about one interrupt (e.g. its `interrupt_expired`)."""
    async with pool.connection() as conn:
        cur = await conn.execute(FIND_INTERRUPT_EVENT, {"thread_id": thread_id, "type": type_,
                                                        "interrupt_id": interrupt_id})
        row = await cur.fetchone()
    return EVENT_ADAPTER.validate_json(row["payload"]) if row else None


async def message_exists(pool: Pool, thread_id: str, message_id: str) -> bool:
    """Whether the thread has an answer (`message_complete`) with this message_id."""
    async with pool.connection() as conn:
        cur = await conn.execute(MESSAGE_EXISTS, {"thread_id": thread_id, "message_id": message_id})
        return await cur.fetchone() is not None


Publish = Callable[[list[Event]], Awaitable[None] | None]


class LeaseLost(Exception):
    """A run's events were refused: another process has taken its thread over."""


class EventWriter:
    """Group commit for run events: one INSERT per batch, publish after commit.

    A batch that cannot be written (the database is down) is lost, so nothing queued
    after it for the same runs may be written either: that would leave a hole in the
    thread's seq. Such runs stay `failed` (their later events are dropped and their
    futures fail) until the run owner ends the run with `done()`, after writing its end
    event at the log's real last seq. Events of a run that no longer holds its thread's
    lease are not written (its run fails with `LeaseLost`), so a run taken over by
    another process can never number an event the new owner numbers too.

    `min_interval_s` (EVENT_BATCH_INTERVAL_MS): a batch starts no sooner than this after
    the one before, unless something waits for it (`submit(..., urgent=True)`, `hurry()`,
    `flush()`: a run's first words, its end, shutdown). Meanwhile the text deltas of a
    streaming run merge into its queued token event, so a model streaming at 20 ms a
    token costs one row and one frame per interval instead of one per token.
    """

    def __init__(self, pool: Pool, *, origin: str, publish: Publish, max_batch: int = 2000,
                 min_interval_s: float = 0.0) -> None:
        self._pool = pool
        self._min_interval = min_interval_s
        self._last_batch_at = 0.0
        self._urgent = asyncio.Event()
        self._origin = origin
        self._publish = publish
        self._max_batch = max_batch
        self._queue: list[tuple[Event, asyncio.Future[None] | None]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last: asyncio.Future[None] | None = None
        self._failed: dict[str, BaseException] = {}  # run_id -> the error that broke its events
        self._tail: dict[str, Event] = {}  # thread_id -> its last queued event, until a batch takes it

    def failed(self, run_id: str) -> BaseException | None:
        """The write error that broke this run's events, if one did."""
        return self._failed.get(run_id)

    def done(self, thread_id: str, run_id: str) -> None:
        """The thread's run has ended: forget its write state."""
        self._failed.pop(run_id, None)
        if (tail := self._tail.get(thread_id)) is not None and tail.run_id == run_id:
            del self._tail[thread_id]

    def discard(self, run_id: str) -> None:
        """Drop the run's events still queued (it lost its lease: they would be refused)."""
        dropped = [(ev, f) for ev, f in self._queue if ev.run_id == run_id]
        if not dropped:
            return
        self._queue = [(ev, f) for ev, f in self._queue if ev.run_id != run_id]
        for ev, _ in dropped:
            if ev.thread_id is not None and self._tail.get(ev.thread_id) is ev:
                del self._tail[ev.thread_id]
        self._fail(dropped, LeaseLost("another process has taken this run's thread over"))

    def queued_tail(self, thread_id: str) -> Event | None:
        """The thread's last submitted event while it still waits for a batch, else None.

        Until the writer takes it, the caller may still change it in place (the run
        owner appends text deltas to a queued token): it is written and published as
        it is when taken, so the change costs no row, no seq and no frame.
        """
        return self._tail.get(thread_id)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="event-writer")

    def hurry(self) -> None:
        """Start the next batch now, without waiting out `min_interval_s`."""
        self._urgent.set()
        self._wakeup.set()

    def submit(self, events: Sequence[Event], *, urgent: bool = False) -> asyncio.Future[None]:
        """Queue stamped events; the future resolves once they are durable and published.

        urgent: someone waits for these (a run's first words): do not wait out the interval.
        """
        if urgent:
            self._urgent.set()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for i, ev in enumerate(events):
            self._queue.append((ev, fut if i == len(events) - 1 else None))
            self._tail[ev.thread_id] = ev  # type: ignore[index]  # stamped
        if not events:
            fut.set_result(None)
        else:
            self._last = fut
        self._wakeup.set()
        return fut

    async def flush(self) -> None:
        """Wait until everything queued so far is durable (the queue is FIFO)."""
        last = self._last
        if last is not None and not last.done():
            self.hurry()
            with contextlib.suppress(Exception):
                await asyncio.shield(last)

    async def close(self) -> None:
        self._closed = True
        self.hurry()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            now = asyncio.get_running_loop().time()
            linger = self._last_batch_at + self._min_interval - now
            if linger > 0 and not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), linger)
                now = asyncio.get_running_loop().time()
            self._urgent.clear()
            self._last_batch_at = now
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            tail = self._tail
            for ev, _ in batch:
                if tail.get(ev.thread_id) is ev:  # type: ignore[arg-type]
                    del tail[ev.thread_id]  # type: ignore[arg-type]
            if self._failed:
                batch = self._drop_failed(batch)
                if not batch:
                    continue
            events = [ev for ev, _ in batch]
            futures = [f for _, f in batch if f is not None]
            try:
                started = time.perf_counter()
                async with self._pool.connection() as conn:
                    cur = await conn.execute(
                        INSERT_RUN_EVENTS,
                        {"rows": Jsonb(_rows(events), dumps=orjson.dumps), "channel": _channel(self._origin),
                         "origin": self._origin},
                    )
                    written = {row["thread_id"] for row in await cur.fetchall()}
                METRICS.event_commit.observe(time.perf_counter() - started)
            except Exception as exc:  # noqa: BLE001 - the runs waiting on these events fail with run_error
                log.error("event_write_failed", error=str(exc), events=len(events))
                self._fail(batch, exc)
                continue
            if len(written) < len({ev.thread_id for ev in events}):
                refused = [(ev, f) for ev, f in batch if ev.thread_id not in written]
                log.warning("events_refused_lease_lost", runs=sorted({ev.run_id or "" for ev, _ in refused}))
                self._fail(refused, LeaseLost("another process has taken this run's thread over"))
                batch = [(ev, f) for ev, f in batch if ev.thread_id in written]
                events = [ev for ev, _ in batch]
                futures = [f for _, f in batch if f is not None]
            try:
                res = self._publish(events)
                if asyncio.iscoroutine(res):
                    await res
            except Exception as exc:  # noqa: BLE001 - a socket problem must never stop the writer
                log.error("event_publish_failed", error=str(exc))
            for f in futures:
                if not f.done():
                    f.set_result(None)

    def _fail(self, batch: list[tuple[Event, asyncio.Future[None] | None]], exc: BaseException) -> None:
        for ev, fut in batch:
            self._failed.setdefault(ev.run_id or "", exc)
            if fut is not None and not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: a run that awaits it still gets the error

    def _drop_failed(
        self, batch: list[tuple[Event, asyncio.Future[None] | None]]
    ) -> list[tuple[Event, asyncio.Future[None] | None]]:
        keep = []
        for ev, fut in batch:
            exc = self._failed.get(ev.run_id or "")
            if exc is None:
                keep.append((ev, fut))
            elif fut is not None and not fut.done():
                fut.set_exception(exc)
                fut.exception()
        return keep
