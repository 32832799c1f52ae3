"""Runs: start, stream, cancel and finish one pass of the graph on a thread.

A run belongs to the server, not to a socket: it goes on when its socket drops.
One active run per thread, across processes: a run is taken in a transaction
holding the thread row, its lease is renewed while it runs, and it is released
in the transaction that writes its end event. Events of the run are numbered
here (the lease makes this process the thread's only writer) and made durable
by the group-commit `EventWriter` before any socket sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage, messages_to_dict
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from app.approvals import store as interrupt_store
from app.conversations import limit_store as limits
from app.conversations import thread_store
from app.conversations.event_log import LeaseLost, append_locked, stamp
from app.core.errors import Forbidden, NoActiveRun, NotFound, RunActive, SessionExpired, TooManyRuns
from app.core.logging import correlation_id, get_logger
from app.core.metrics import METRICS
from app.core.security import Principal
from graphs.events import (
    RUN_END_TYPES,
    Event,
    InterruptEvent,
    MessageComplete,
    RunCancelled,
    RunEnd,
    RunError,
    RunStart,
    Token,
    Usage,
)
from graphs.nodes.common import text_of

if TYPE_CHECKING:
    from app.container import Services

__all__ = ["ActiveRun", "RunManager"]

log = get_logger(__name__)

# How long a run may stream without letting the event loop serve others.
STREAM_SLICE_S = 0.002

Prepare = Callable[[AsyncConnection[Any], dict[str, Any]], Awaitable[list[Event]]]


@dataclass(eq=False)
class ActiveRun:
    run_id: str
    thread_id: str
    owner_id: str
    trigger: str
    next_seq: int
    first_seq: int = 0
    started: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None
    agent: str = ""
    message_id: str | None = None
    partial: str = ""
    handoff: bool = False
    first_token_at: Any = None
    usage: Any = None
    last_write: asyncio.Future[None] | None = None
    cancel_requested: bool = False
    lease_lost: bool = False
    finishing: bool = False
    yielded_at: float = 0.0
    pending_end: tuple[RunEnd, str] | None = None  # (end event, status) not yet durable


class PeopleInvolved(Exception):
    """Not a run for the assistant alone: the thread is handed off, or human turns wait to join its state."""


def check_access(principal: Principal, row: dict[str, Any]) -> None:
    if not principal.is_staff and row["owner_id"] != principal.user_id:
        raise Forbidden("this thread belongs to another user", thread_id=row["thread_id"])


class RunManager:
    def __init__(self, services: Services) -> None:
        self.s: Services = services
        self.runs: dict[str, ActiveRun] = {}
        self.by_thread: dict[str, ActiveRun] = {}
        self.shutting_down = False
        self._lease_task: asyncio.Task[None] | None = None

    # lifecycle
    def start_background(self) -> None:
        self._lease_task = asyncio.create_task(self._renew_leases(), name="run-leases")
        self.s.hub.on_cancel_request = self._cancel_local_run

    async def shutdown(self, grace_s: float) -> None:
        """Let active runs reach their end (a checkpoint) for up to grace_s, then stop them."""
        self.shutting_down = True
        tasks = [r.task for r in self.runs.values() if r.task]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        for r in list(self.runs.values()):
            if r.task and not r.task.done():
                r.task.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        if self._lease_task:
            self._lease_task.cancel()
            with contextlib.suppress(BaseException):
                await self._lease_task

    # starting
    async def start(
        self,
        *,
        principal: Principal | None,
        thread_id: str,
        trigger: str,
        graph_input: Any,
        create: bool = False,
        title: str = "",
        new_messages: int = 0,
        prepare: Prepare | None = None,
        check_session: bool = True,
        start_fields: dict[str, Any] | None = None,
        input_messages: list[BaseMessage] | None = None,
        assistant_only: bool = False,
    ) -> ActiveRun:
        """Take the thread's run guard, write run_start, and launch the run task.

        input_messages: the new messages the run adds (stored with the run: a run that takes
        over after this one died reads them from there, see `Recovery`).
        assistant_only: start nothing (PeopleInvolved) when people have the thread or their turns
            wait to join its state; the caller takes the slower path of app.handoffs then.
        """
        s = self.s
        run_id = "run_" + uuid.uuid4().hex[:20]
        waiting = self.by_thread.get(thread_id)
        if waiting is not None and waiting.pending_end is not None:
            await self._write_pending_end(waiting)
        async with s.pool.connection() as conn:
            async with conn.transaction():
                row = await thread_store.lock_thread(conn, thread_id, s.settings.session_ttl_s)
                if row is None:
                    if not create or principal is None:
                        raise NotFound(f"thread {thread_id} not found", thread_id=thread_id)
                    await conn.execute(
                        thread_store.INSERT_THREAD,
                        {"thread_id": thread_id, "owner_id": principal.user_id, "title": "", "model": s.model_name},
                    )
                    row = await thread_store.lock_thread(conn, thread_id, s.settings.session_ttl_s)
                    assert row is not None
                if principal is not None:
                    check_access(principal, row)
                if assistant_only and row["people_involved"]:
                    raise PeopleInvolved(thread_id)
                if row["run_live"]:
                    raise RunActive(f"a run is already running on thread {thread_id}; wait for it or cancel it",
                                    thread_id=thread_id)
                if principal is not None and not principal.is_staff:
                    await self._check_run_cap(conn, principal.user_id, thread_id)
                if (check_session and row["idle_expired"] and row["status"] != "interrupted"
                        and row["message_count"] > 0):
                    raise SessionExpired(
                        f"session expired: thread {thread_id} was idle for more than {s.settings.session_ttl_s}s; "
                        "start a new thread", thread_id=thread_id)
                if row["active_run_id"]:  # the lease lapsed: its owner died
                    await conn.execute(
                        "UPDATE runs SET status = 'error', error_code = 'owner_lost', ended_at = now() "
                        "WHERE run_id = %s AND status = 'running'", (row["active_run_id"],))
                pre = await prepare(conn, row) if prepare else []
                if row["retry_pending"] and trigger == "message":
                    trigger = "retry"
                events = [*pre, RunStart(trigger=trigger, run_id=run_id, **(start_fields or {}))]
                async with conn.pipeline():  # writes whose results nobody reads: one round trip
                    stamped = await append_locked(
                        conn, thread_id=thread_id, last_seq=row["last_seq"], run_id=None, events=events,
                        origin=s.origin)
                    await conn.execute(thread_store.TAKE_RUN, {
                        "run_id": run_id, "thread_id": thread_id, "lease_s": s.settings.run_lease_s,
                        "new_messages": new_messages, "title": title[:120],
                    })
                    await conn.execute(thread_store.INSERT_RUN, {
                        "run_id": run_id, "thread_id": thread_id, "trigger": trigger, "owner": s.origin,
                        "model": s.model_name,
                        "input": Jsonb(messages_to_dict(input_messages)) if input_messages else None,
                    })
        s.hub.publish(stamped)
        run = ActiveRun(run_id=run_id, thread_id=thread_id, owner_id=row["owner_id"], trigger=trigger,
                        next_seq=(stamped[-1].seq or 0) + 1, first_seq=stamped[0].seq or 0)
        self.runs[run_id] = run
        self.by_thread[thread_id] = run
        METRICS.runs_started.labels(trigger=trigger).inc()
        run.task = asyncio.create_task(self._execute(run, graph_input), name=f"run-{run_id}")
        return run

    async def _check_run_cap(self, conn: AsyncConnection[Any], user_id: str, thread_id: str) -> None:
        """Refuse a customer's run past MAX_ACTIVE_RUNS_PER_USER live runs on their threads, in any process.

        The user's advisory lock (held until this transaction commits, with the run taken)
        makes two starts of one user count one after the other, so the cap is exact.
        Runs started by staff (and so everything in local mode, where everyone is the admin)
        or by the server itself (recovery, expiry) are not refused.
        """
        cap = self.s.settings.max_active_runs_per_user
        live = await limits.count_live_runs(conn, user_id, except_thread=thread_id)
        if live >= cap:
            raise TooManyRuns(
                f"too many active runs: {live} of your conversations are already being answered (at most {cap} "
                "at once); wait for one to finish or cancel it, then send again", thread_id=thread_id)

    # cancelling
    async def cancel(self, principal: Principal, thread_id: str) -> None:
        row = await thread_store.get_thread(self.s.pool, thread_id, self.s.settings.session_ttl_s)
        if row is None:
            raise NotFound(f"thread {thread_id} not found", thread_id=thread_id)
        check_access(principal, row)
        local = self.by_thread.get(thread_id)
        if local is not None:
            self._cancel_local_run(local.run_id)
            return
        if row["run_live"] and row["active_run_id"]:
            await self.s.hub.notify_cancel(row["active_run_id"])
            return
        raise NoActiveRun(f"no run is active on thread {thread_id}; nothing to cancel", thread_id=thread_id)

    def _cancel_local_run(self, run_id: str) -> None:
        run = self.runs.get(run_id)
        if run and run.task and not run.task.done():
            run.cancel_requested = True
            run.task.cancel()

    # executing
    def _emit(self, run: ActiveRun, event: Event, *, urgent: bool = False) -> None:
        """Queue an event for the writer (a token may instead grow the queued token before it).

        urgent: the run waits for this one (its first words): the writer takes it at once.
        """
        lost = self.s.writer.failed(run.run_id)
        if lost is not None:  # an event of this run could not be written: end it rather than leave a hole
            raise lost
        if isinstance(event, Token) and self._merge_into_queued_token(run, event):
            return
        stamped = stamp(event, thread_id=run.thread_id, seq=run.next_seq, run_id=run.run_id)
        run.next_seq += 1
        run.last_write = self.s.writer.submit([stamped], urgent=urgent)

    async def _until_stored(self, run: ActiveRun) -> None:
        """Wait until the run's queued events are written, whatever the outcome; the writer does not
        linger over its batch interval for them, since the run waits (its end, a node's Settle)."""
        if run.last_write is not None:
            if not run.last_write.done():
                self.s.writer.hurry()
            await asyncio.wait([run.last_write])

    def _merge_into_queued_token(self, run: ActiveRun, event: Token) -> bool:
        """Add a text delta to the run's last token event if that one is still waiting to be written.

        Deltas that arrive while the previous batch is being committed then cost one row
        and one frame together instead of one each: with a model slower than a commit
        nothing merges, under load the server degrades into fewer, larger deltas
        instead of falling behind. Order is kept: only the thread's very last event grows.
        """
        limit = self.s.settings.token_merge_max_chars
        tail = self.s.writer.queued_tail(run.thread_id)
        if (not isinstance(tail, Token) or tail.run_id != run.run_id or tail.message_id != event.message_id
                or tail.agent != event.agent or len(tail.content) + len(event.content) > limit):
            return False
        tail.content += event.content
        return True

    async def _execute(self, run: ActiveRun, graph_input: Any) -> None:
        from app.conversations.run_stream import (  # the graph's translator
            RunProgress,
            Settle,
            settle_through,
            stream_events,
        )

        s = self.s
        run.usage = RunProgress()
        config = {"configurable": {"thread_id": run.thread_id}, "recursion_limit": 60}
        context = await s.run_context(run)
        context.settle = settle_through
        end: RunEnd | None = None
        status = "completed"
        try:
            async with asyncio.timeout(s.settings.run_timeout_s):
                graph_input = await s.graph_input(graph_input, config, context)
                async for ev in stream_events(s.graph, graph_input, config=config, context=context, progress=run.usage):
                    if isinstance(ev, Settle):  # a node waits until what the run emitted so far is stored
                        await self._until_stored(run)
                        ev.stored()
                        continue
                    kind = ev.type
                    first_token = False
                    if isinstance(ev, Token):
                        if run.first_token_at is None:
                            run.first_token_at = time.time()
                            METRICS.ttft.observe(time.monotonic() - run.started)
                            first_token = True
                        if ev.message_id != run.message_id:
                            run.message_id, run.partial = ev.message_id, ""
                        run.partial += ev.content
                        run.agent = ev.agent
                    elif kind == "handoff":
                        run.handoff = True
                        if s.knowledge is not None:
                            await s.knowledge.note_handoff(run.thread_id, run.run_id)
                    elif kind == "intent":
                        run.agent = ev.agent  # type: ignore[union-attr]
                    if kind in RUN_END_TYPES:
                        end = ev  # type: ignore[assignment]
                        break
                    self._emit(run, ev, urgent=first_token)
                    # A model that streams faster than a commit never waits on I/O between its
                    # chunks: without a pause here the writer, other runs and every socket would
                    # wait for the whole reply. The first words are sent at once (one commit);
                    # after that the run steps aside every few milliseconds, and what it streams
                    # meanwhile merges into the next delta.
                    if first_token and run.last_write is not None:
                        # shielded: a cancel must stop the run, not cancel the writer's future that
                        # `_finish` waits on (it would then give up without writing the end event)
                        await asyncio.shield(run.last_write)
                        run.yielded_at = time.monotonic()
                    elif kind == "token" and time.monotonic() - run.yielded_at > STREAM_SLICE_S:
                        await asyncio.sleep(0)
                        run.yielded_at = time.monotonic()
            if end is None:
                end = await self._completion_from_state(run, config)
            status = {"interrupt": "interrupted", "message_complete": "completed"}.get(end.type, "error")
        except asyncio.CancelledError:
            if run.lease_lost:
                self._forget(run)
                return
            if self.shutting_down and not run.cancel_requested:
                # leave the lease to lapse: another process (or this one, restarted) recovers the run
                self._forget(run)
                raise
            await self._keep_partial_answer(run, config)
            end, status = RunCancelled(), "cancelled"
        except LeaseLost:  # the writer refused its events: the thread is another process's now
            self._lease_lost(run)
            self._forget(run)
            return
        except TimeoutError:
            end, status = RunError(code="timeout",
                                   message=f"the run took longer than {s.settings.run_timeout_s:g}s and was stopped; "
                                           "try again"), "error"
        except Exception as exc:
            cid = correlation_id()
            log.exception("run_failed", thread_id=run.thread_id, run_id=run.run_id, correlation_id=cid,
                          error=f"{type(exc).__name__}: {exc}")
            end, status = RunError(code=_error_code(exc),
                                   message=f"{_error_words(exc)} (correlation id {cid}); the thread is still usable"), "error"
        run.finishing = True
        try:
            try:
                try:
                    await self._finish(run, end, status)
                except interrupt_store.InterruptIdTaken as exc:  # never expected: ids are random; never reopen it
                    cid = correlation_id()
                    log.error("interrupt_id_taken", thread_id=run.thread_id, run_id=run.run_id, correlation_id=cid,
                              error=str(exc))
                    end, status = RunError(code="internal",
                                           message=f"the approval request could not be recorded (correlation id "
                                                   f"{cid}); nothing was done, ask again"), "error"
                    await self._finish(run, end, status)
            except Exception as exc:  # noqa: BLE001 - the end is retried later, never lost
                log.error("run_finish_failed", thread_id=run.thread_id, run_id=run.run_id, error=str(exc))
                await self._finish_later(run, end, status)
        finally:
            self._forget(run)

    async def _finish_later(self, run: ActiveRun, end: RunEnd, status: str) -> None:
        """The end event could not be written (the database is down): write it as soon as it can be.

        Nothing is sent before it is stored, the end event included: the run's sockets get a
        socket-only `error` frame now (no seq, not in the log) saying why the run stopped, and
        the end event itself, with its seq, once it is durable. Until then the run keeps its
        lease (it stays in `self.runs`, so renewals and the local sweeper leave it alone), and
        a new run on the thread writes it first (`_write_pending_end`).
        """
        if isinstance(end, RunError) and end.code != "database_unavailable":
            end = RunError(code="database_unavailable",
                           message="the database is unavailable, so the run stopped; the thread is still usable")
        self.s.hub.notice(run.thread_id, code="internal",
                          message="the database is unavailable, so the run stopped; its end is recorded and sent as "
                                  "soon as the database is back, and the thread is usable again then")
        run.pending_end = (end, status)
        # Short pauses: an attempt while the database is down already waits out the pool's
        # timeout, and once it is back the thread must be freed at once, not seconds later.
        delay = 0.1
        while not self.shutting_down and run.pending_end is not None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
            if run.pending_end is None:  # a new run on the thread wrote it first
                return
            try:
                await self._finish(run, end, status)
                run.pending_end = None
                return
            except Exception as exc:  # noqa: BLE001 - retried on the next attempt
                log.warning("run_finish_retry", thread_id=run.thread_id, run_id=run.run_id, error=str(exc))

    async def _write_pending_end(self, run: ActiveRun) -> None:
        """Write, now, the end event of a run of this process that ended while the database was down.

        Until it is written the run keeps the thread, but its lease may have lapsed during the
        outage (it could not be renewed): a new message on the thread must neither take the
        thread over as if its owner had died (the end event the sockets were already sent,
        at the next seq, would never be stored and its seq would go to another event) nor be
        refused because the renewal brought the lease back a moment later. So the end is
        written first, and the run forgotten, then the new run starts after it.
        """
        assert run.pending_end is not None
        end, status = run.pending_end
        try:
            await self._finish(run, end, status)
        except Exception as exc:  # noqa: BLE001 - still down: the new run's own transaction fails and says so
            log.warning("run_finish_retry", thread_id=run.thread_id, run_id=run.run_id, error=str(exc))
            return
        run.pending_end = None
        self._forget(run)

    def _forget(self, run: ActiveRun) -> None:
        self.runs.pop(run.run_id, None)
        if self.by_thread.get(run.thread_id) is run:
            del self.by_thread[run.thread_id]
            self.s.writer.done(run.thread_id, run.run_id)

    def _lease_lost(self, run: ActiveRun) -> None:
        """Another process has taken the thread over: stop here and leave the run to it.

        Nothing more of this run is written (the writer refuses events of a run without
        the lease, and what is still queued is dropped), no end event, no partial answer:
        the new owner continues from the last checkpoint and numbers the thread's events.
        """
        if run.lease_lost or run.finishing:  # a finishing run finds out in its end transaction
            return
        run.lease_lost = True
        log.warning("run_lease_lost", thread_id=run.thread_id, run_id=run.run_id)
        self.s.writer.discard(run.run_id)
        if run.task and not run.task.done() and run.task is not asyncio.current_task():
            run.task.cancel()

    async def _completion_from_state(self, run: ActiveRun, config: dict[str, Any]) -> RunEnd:
        """A run whose graph had nothing left to do (a recovered run): answer with the last reply."""
        state = await self.s.graph.aget_state(config)
        for msg in reversed(state.values.get("messages", [])):
            if getattr(msg, "type", "") == "ai" and msg.content and not getattr(msg, "tool_calls", None):
                return MessageComplete(message_id=msg.id or run.run_id, agent=msg.name or "",
                                       content=text_of(msg),
                                       usage=Usage())
        return RunError(code="no_answer", message="the agent produced no answer; try again")

    async def _keep_partial_answer(self, run: ActiveRun, config: dict[str, Any]) -> None:
        if not run.partial:
            return
        from app.conversations.run_stream import save_partial_answer

        try:
            await save_partial_answer(self.s.graph, config, run.usage)
        except Exception as exc:  # noqa: BLE001 - the partial answer is a courtesy; the run still ends
            log.warning("partial_answer_not_kept", thread_id=run.thread_id, error=str(exc))

    async def _finish(self, run: ActiveRun, end: RunEnd, status: str) -> None:
        s = self.s
        await self._until_stored(run)
        usage = run.usage
        in_tok = getattr(usage, "input_tokens", 0) if usage else 0
        out_tok = getattr(usage, "output_tokens", 0) if usage else 0
        new_messages = 1 if end.type == "message_complete" or (end.type == "run_cancelled" and run.partial) else 0
        thread_status = {"interrupted": "interrupted"}.get(status, "handoff" if run.handoff else "idle")
        async with s.pool.connection() as conn:
            async with conn.transaction():
                row = await thread_store.lock_thread(conn, run.thread_id, s.settings.session_ttl_s)
                if row is None or row["active_run_id"] != run.run_id:
                    log.warning("run_lost_lease", thread_id=run.thread_id, run_id=run.run_id)
                    return
                async with conn.pipeline():  # writes whose results nobody reads: one round trip
                    stamped = await append_locked(conn, thread_id=run.thread_id, last_seq=row["last_seq"],
                                                  run_id=run.run_id, events=[end], origin=s.origin)
                    if isinstance(stamped[0], InterruptEvent):
                        await interrupt_store.insert_pending(conn, stamped[0])
                    await conn.execute(thread_store.RELEASE_RUN, {
                        "thread_id": run.thread_id, "run_id": run.run_id, "status": thread_status,
                        "new_messages": new_messages})
                    await conn.execute(thread_store.FINISH_RUN, {
                        "run_id": run.run_id, "status": status, "input_tokens": in_tok, "output_tokens": out_tok,
                        "error_code": end.code if isinstance(end, RunError) else None,
                        "first_token_at": _ts(run.first_token_at)})
        s.hub.publish(stamped)
        elapsed = time.monotonic() - run.started
        METRICS.runs_finished.labels(status=status).inc()
        METRICS.run_latency.observe(elapsed)
        log.info("run", thread_id=run.thread_id, run_id=run.run_id, trigger=run.trigger, status=status,
                 duration_ms=round(elapsed * 1000, 1), input_tokens=in_tok, output_tokens=out_tok)

    # leases
    async def hold_lease(self, run: ActiveRun) -> None:
        """Awaited before every tool call of the run (`RunContext.guard`): LeaseLost unless it still holds its thread.

        The renewal loop finds a lost lease only every RUN_LEASE_S/3; a tool call in between
        (a refund, a cancellation) must not happen on a thread another process has taken over.
        """
        if not run.lease_lost:
            async with self.s.pool.connection() as conn:
                cur = await conn.execute(thread_store.HOLD_LEASE, {"thread_id": run.thread_id, "run_id": run.run_id,
                                                                   "lease_s": self.s.settings.run_lease_s})
                if await cur.fetchone() is not None:
                    return
            self._lease_lost(run)
        raise LeaseLost(f"run {run.run_id} no longer holds thread {run.thread_id}: another process has taken it "
                        "over, so no tool is called")

    async def _renew_leases(self) -> None:
        interval = max(0.2, self.s.settings.run_lease_s / 3)
        while True:
            await asyncio.sleep(interval)
            run_ids = list(self.runs)
            if not run_ids:
                continue
            try:
                async with self.s.pool.connection() as conn:
                    cur = await conn.execute(thread_store.RENEW_LEASES,
                                             {"run_ids": run_ids, "lease_s": self.s.settings.run_lease_s})
                    held = {r["active_run_id"] for r in await cur.fetchall()}
                for run_id in run_ids:
                    run = self.runs.get(run_id)
                    if run_id not in held and run and run.task and not run.task.done():
                        self._lease_lost(run)
            except Exception as exc:  # noqa: BLE001 - the renewal loop retries on its next tick
                log.warning("lease_renewal_failed", error=str(exc))


def _ts(epoch: float | None) -> Any:
    if epoch is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


def _error_code(exc: Exception) -> str:
    import psycopg

    if isinstance(exc, psycopg.Error) or type(exc).__module__.startswith("psycopg"):
        return "database_unavailable"
    name = type(exc).__name__.lower()
    if "tool" in name:
        return "tool_error"
    return "model_error"


def _error_words(exc: Exception) -> str:
    code = _error_code(exc)
    if code == "database_unavailable":
        return "the database is unavailable, so the run stopped"
    if code == "tool_error":
        return f"a tool failed ({type(exc).__name__})"
    # the exception's text may hold a provider's URL, key prefix or prompt: it stays in the log line
    return "the model failed to answer"

