"""The durable per-thread event log: append with seq, read after a seq.

Every event about a thread is a row `(thread_id, seq, run_id, type, ts, payload)`;
`payload` is exactly the JSON sent on the wire, so live and replayed frames are
byte-identical. Two ways in:

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
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from app.core.logging import get_logger

__all__ = ["EventWriter", "LeaseLost", "append_locked", "now_iso", "read_events", "stamp"]

log = get_logger(__name__)

NOTIFY_CHANNEL = "sa_events"

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
SELECT m.thread_id, pg_notify(%(channel)s, m.thread_id || ' ' || m.max_seq || ' ' || %(origin)s) FROM m
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

READ_AFTER = """
SELECT payload FROM events WHERE thread_id = %(thread_id)s AND seq > %(after_seq)s
ORDER BY seq LIMIT %(limit)s
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Token deltas are most of the traffic: their wire form leaves out `ts` (31 bytes of a
# ~200-byte frame); the row's `ts` column still records when each was written, and the
# replay API (`GET /api/replay/{thread_id}`) adds it back from there.
UNSTAMPED_TYPES = frozenset({"token"})


def stamp(event: dict[str, Any], *, thread_id: str, seq: int, run_id: str | None) -> dict[str, Any]:
    """The wire form of an event: its fields plus thread_id, seq, run_id and ts (not on tokens)."""
    out: dict[str, Any] = {"type": event["type"], "thread_id": thread_id, "seq": seq}
    if run_id is not None:
        out["run_id"] = run_id
    for k, v in event.items():
        if k not in ("type", "thread_id", "seq", "run_id", "ts") and v is not None:
            out[k] = v
    if out["type"] not in UNSTAMPED_TYPES:
        out["ts"] = now_iso()
    return out


def _rows(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    now = None
    rows = []
    for ev in events:
        ts = ev.get("ts")
        if ts is None:
            ts = now = now or now_iso()
        rows.append({"thread_id": ev["thread_id"], "seq": ev["seq"], "run_id": ev.get("run_id"), "type": ev["type"],
                     "ts": ts, "payload": ev})
    return rows


async def append_locked(
    conn: AsyncConnection[Any], *, thread_id: str, last_seq: int, run_id: str | None,
    events: Sequence[dict[str, Any]], origin: str,
) -> list[dict[str, Any]]:
    """Append events after `last_seq` (the caller holds the thread row lock)."""
    stamped = [
        stamp(e, thread_id=thread_id, seq=last_seq + i + 1, run_id=e.get("run_id", run_id))
        for i, e in enumerate(events)
    ]
    if stamped:
        await conn.execute(
            INSERT_BATCH,
            {"rows": Jsonb(_rows(stamped)), "channel": NOTIFY_CHANNEL, "origin": origin},
        )
    return stamped


async def read_events(
    pool: AsyncConnectionPool, thread_id: str, after_seq: int = 0, limit: int = 100_000
) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(READ_AFTER, {"thread_id": thread_id, "after_seq": after_seq, "limit": limit})
        return [r["payload"] for r in await cur.fetchall()]


Publish = Callable[[list[dict[str, Any]]], Awaitable[None] | None]


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
    `durable_seq()` says which seq of a thread was last written by this writer.

    `min_interval_s` (EVENT_BATCH_INTERVAL_MS): a batch starts no sooner than this after
    the one before, unless something waits for it (`submit(..., urgent=True)`, `hurry()`,
    `flush()`: a run's first words, its end, shutdown). Meanwhile the text deltas of a
    streaming run merge into its queued token event, so a model streaming at 20 ms a
    token costs one row and one frame per interval instead of one per token.
    """

    def __init__(self, pool: AsyncConnectionPool, *, origin: str, publish: Publish, max_batch: int = 2000,
                 min_interval_s: float = 0.0) -> None:
        self._pool = pool
        self._min_interval = min_interval_s
        self._last_batch_at = 0.0
        self._urgent = asyncio.Event()
        self._origin = origin
        self._publish = publish
        self._max_batch = max_batch
        self._queue: list[tuple[dict[str, Any], asyncio.Future[None] | None]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last: asyncio.Future[None] | None = None
        self._failed: dict[str, BaseException] = {}  # run_id -> the error that broke its events
        self._durable: dict[str, int] = {}
        self._tail: dict[str, dict[str, Any]] = {}  # thread_id -> its last queued event, until a batch takes it

    def failed(self, run_id: str) -> BaseException | None:
        """The write error that broke this run's events, if one did."""
        return self._failed.get(run_id)

    def durable_seq(self, thread_id: str) -> int | None:
        return self._durable.get(thread_id)

    def done(self, thread_id: str, run_id: str) -> None:
        """The thread's run has ended: forget its write state."""
        self._failed.pop(run_id, None)
        self._durable.pop(thread_id, None)
        if (tail := self._tail.get(thread_id)) is not None and tail.get("run_id") == run_id:
            del self._tail[thread_id]

    def discard(self, run_id: str) -> None:
        """Drop the run's events still queued (it lost its lease: they would be refused)."""
        dropped = [(ev, f) for ev, f in self._queue if ev.get("run_id") == run_id]
        if not dropped:
            return
        self._queue = [(ev, f) for ev, f in self._queue if ev.get("run_id") != run_id]
        for ev, _ in dropped:
            if self._tail.get(ev["thread_id"]) is ev:
                del self._tail[ev["thread_id"]]
        self._fail(dropped, LeaseLost("another process has taken this run's thread over"))

    def queued_tail(self, thread_id: str) -> dict[str, Any] | None:
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

    def submit(self, events: Sequence[dict[str, Any]], *, urgent: bool = False) -> asyncio.Future[None]:
        """Queue stamped events; the future resolves once they are durable and published.

        urgent: someone waits for these (a run's first words): do not wait out the interval.
        """
        if urgent:
            self._urgent.set()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for i, ev in enumerate(events):
            self._queue.append((ev, fut if i == len(events) - 1 else None))
            self._tail[ev["thread_id"]] = ev
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
                if tail.get(ev["thread_id"]) is ev:
                    del tail[ev["thread_id"]]
            if self._failed:
                batch = self._drop_failed(batch)
                if not batch:
                    continue
            events = [ev for ev, _ in batch]
            futures = [f for _, f in batch if f is not None]
            try:
                async with self._pool.connection() as conn:
                    cur = await conn.execute(
                        INSERT_RUN_EVENTS,
                        {"rows": Jsonb(_rows(events)), "channel": NOTIFY_CHANNEL, "origin": self._origin},
                    )
                    written = {row["thread_id"] for row in await cur.fetchall()}
            except Exception as exc:  # the runs waiting on these events fail with run_error
                log.error("event_write_failed", error=str(exc), events=len(events))
                self._fail(batch, exc)
                continue
            if len(written) < len({ev["thread_id"] for ev in events}):
                refused = [(ev, f) for ev, f in batch if ev["thread_id"] not in written]
                log.warning("events_refused_lease_lost", runs=sorted({ev["run_id"] for ev, _ in refused}))
                self._fail(refused, LeaseLost("another process has taken this run's thread over"))
                batch = [(ev, f) for ev, f in batch if ev["thread_id"] in written]
                events = [ev for ev, _ in batch]
                futures = [f for _, f in batch if f is not None]
            durable = self._durable
            for ev in events:
                durable[ev["thread_id"]] = ev["seq"]
            try:
                res = self._publish(events)
                if asyncio.iscoroutine(res):
                    await res
            except Exception as exc:  # a socket problem must never stop the writer
                log.error("event_publish_failed", error=str(exc))
            for f in futures:
                if not f.done():
                    f.set_result(None)

    def _fail(self, batch: list[tuple[dict[str, Any], asyncio.Future[None] | None]], exc: BaseException) -> None:
        for ev, fut in batch:
            self._failed.setdefault(ev["run_id"], exc)
            if fut is not None and not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: a run that awaits it still gets the error

    def _drop_failed(
        self, batch: list[tuple[dict[str, Any], asyncio.Future[None] | None]]
    ) -> list[tuple[dict[str, Any], asyncio.Future[None] | None]]:
        keep = []
        for ev, fut in batch:
            exc = self._failed.get(ev["run_id"])
            if exc is None:
                keep.append((ev, fut))
            elif fut is not None and not fut.done():
                fut.set_exception(exc)
                fut.exception()
        return keep
