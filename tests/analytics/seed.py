"""Scripted conversations written the way the server writes them, at chosen times.

Events are built from `graphs.events` models, stamped by the event log's `stamp()`
and inserted with its `INSERT_BATCH`, exactly as the run manager does; only `ts`
is set to the script's clock instead of the wall clock. `events` keeps each as
replay shows it (token deltas get their `ts` back from the row). Runs and interrupts rows
are written with the same columns the run manager and the interrupt service fill.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from app.conversations.event_log import INSERT_BATCH, NOTIFY_CHANNEL, stamp
from graphs.events import (
    Handoff,
    IntentEvent,
    InterruptDecided,
    InterruptEvent,
    InterruptExpired,
    MessageComplete,
    RunError,
    RunStart,
    Token,
    ToolCall,
    ToolResult,
    Usage,
    dump_event,
)

MODEL = "demo/demo-1"


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ThreadScript:
    """One thread: each event advances the clock by `step` (1 s by default)."""

    def __init__(self, pool: AsyncConnectionPool, thread_id: str, owner: str, at: datetime,
                 *, title: str = "", model: str = MODEL) -> None:
        self.pool, self.thread_id, self.owner, self.clock, self.title, self.model = (
            pool, thread_id, owner, at, title, model)
        self.seq = 0
        self.run_id: str | None = None
        self.run_started: datetime | None = None
        self.step = timedelta(seconds=1)
        self.events: list[dict[str, Any]] = []
        self.msg = ""
        """The message_id of the last answer."""
        self.iid = ""
        """The interrupt_id of the last interrupt."""

    async def create(self) -> ThreadScript:
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO threads (thread_id, owner_id, title, model, created_at, updated_at, last_activity_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (self.thread_id, self.owner, self.title, self.model, self.clock, self.clock, self.clock))
        return self

    def wait(self, seconds: float) -> None:
        self.clock += timedelta(seconds=seconds)

    async def emit(self, event: BaseModel) -> dict[str, Any]:
        self.clock += self.step
        self.seq += 1
        stamped = stamp(event, thread_id=self.thread_id, seq=self.seq, run_id=self.run_id)  # type: ignore[arg-type]
        ts = iso(self.clock)
        if stamped.ts is not None:  # token deltas go out without one; the row's column has it
            stamped.ts = ts
        ev = dump_event(stamped)
        row = {"thread_id": self.thread_id, "seq": self.seq, "run_id": self.run_id, "type": ev["type"],
               "ts": ts, "payload": ev}
        async with self.pool.connection() as conn:
            await conn.execute(INSERT_BATCH, {"rows": Jsonb([row]), "channel": NOTIFY_CHANNEL, "origin": "seed"})
        self.events.append({**ev, "ts": ts})  # as replay shows it
        return ev

    async def run(self, trigger: str = "message", *, ttft_ms: int | None = None) -> None:
        self.run_id = f"run_{uuid.uuid4().hex[:10]}"
        self.run_started = self.clock + self.step
        first = self.run_started + timedelta(milliseconds=ttft_ms) if ttft_ms is not None else None
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO runs (run_id, thread_id, trigger, status, owner, model, started_at, first_token_at)"
                " VALUES (%s, %s, %s, 'running', 'seed', %s, %s, %s)",
                (self.run_id, self.thread_id, trigger, self.model, self.run_started, first))
        await self.emit(RunStart(trigger=trigger))  # type: ignore[arg-type]

    async def _end_run(self, status: str, usage: Usage | None = None) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE runs SET status = %s, ended_at = %s, input_tokens = %s, output_tokens = %s WHERE run_id = %s",
                (status, self.clock, usage.input_tokens if usage else 0, usage.output_tokens if usage else 0,
                 self.run_id))

    async def intent(self, intent: str, agent: str, confidence: float = 0.9) -> None:
        await self.emit(IntentEvent(intent=intent, confidence=confidence, agent=agent))

    async def tool(self, agent: str, tool: str, args: dict[str, Any], *, ok: bool = True, content: str = "{}") -> None:
        call_id = f"call_{uuid.uuid4().hex[:8]}"
        await self.emit(ToolCall(call_id=call_id, agent=agent, tool=tool, args=args))
        await self.emit(ToolResult(call_id=call_id, tool=tool, ok=ok, content=content))

    async def answer(self, agent: str, text: str, input_tokens: int, output_tokens: int) -> str:
        message_id = f"msg_{uuid.uuid4().hex[:8]}"
        for part in text.split(" "):
            await self.emit(Token(message_id=message_id, agent=agent, content=part + " "))
        usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
        await self.emit(MessageComplete(message_id=message_id, agent=agent, content=text, usage=usage))
        await self._end_run("completed", usage)
        self.msg = message_id
        return message_id

    async def fail(self, code: str = "model_error") -> None:
        await self.emit(RunError(code=code, message="the model failed to answer"))
        await self._end_run("error")

    async def handoff(self, reason: str = "customer asked for a person", queue: str = "support") -> None:
        await self.emit(Handoff(reason=reason, queue=queue))

    async def interrupt(self, agent: str, action: str, args: dict[str, Any]) -> str:
        interrupt_id = f"int_{uuid.uuid4().hex[:8]}"
        ev = await self.emit(InterruptEvent(
            interrupt_id=interrupt_id, agent=agent, action=action, args=args, risk="high", approver="operator",
            message=f"Approve {action}?", expires_at=iso(self.clock + timedelta(minutes=30))))
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO interrupts (interrupt_id, thread_id, run_id, agent, action, args, risk, approver,"
                " message, event, created_at, expires_at) VALUES (%s,%s,%s,%s,%s,%s,'high','operator',%s,%s,%s,%s)",
                (interrupt_id, self.thread_id, self.run_id, agent, action, Jsonb(args), ev["message"], Jsonb(ev),
                 self.clock, self.clock + timedelta(minutes=30)))
        await self._end_run("interrupted")
        self.iid = interrupt_id
        return interrupt_id

    async def decide(self, interrupt_id: str, outcome: str, *, after_s: float, by: str = "op1",
                     args: dict[str, Any] | None = None) -> None:
        """approved | edited | rejected | superseded, `after_s` seconds after the interrupt."""
        self.clock += timedelta(seconds=after_s) - self.step
        approved = outcome in ("approved", "edited")
        status = "approved" if approved else outcome
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE interrupts SET status = %s, decided_at = %s, decided_by = %s, edited_args = %s"
                " WHERE interrupt_id = %s",
                (status, self.clock + self.step, by, Jsonb(args) if args is not None else None, interrupt_id))
        self.run_id = None
        await self.emit(InterruptDecided(interrupt_id=interrupt_id, approved=approved, decided_by=by, args=args,
                                         outcome=outcome))  # type: ignore[arg-type]

    async def expire(self, interrupt_id: str, action: str, *, after_s: float) -> None:
        self.clock += timedelta(seconds=after_s) - self.step
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE interrupts SET status = 'expired', decided_at = %s, decided_by = 'system'"
                " WHERE interrupt_id = %s", (self.clock + self.step, interrupt_id))
        self.run_id = None
        await self.emit(InterruptExpired(interrupt_id=interrupt_id, action=action,
                                         message=f"The request to {action} expired."))


async def feedback(pool: AsyncConnectionPool, thread: ThreadScript, message_id: str, rating: str) -> None:
    from app.analytics.feedback import record_feedback

    await record_feedback(pool, user_id=thread.owner, thread_id=thread.thread_id, message_id=message_id,
                          rating=rating)


async def seed_scenarios(pool: AsyncConnectionPool, now: datetime) -> dict[str, ThreadScript]:
    """Nine conversations in the last 24 hours, one three days ago; see test_summary.py
    for the figures they add up to."""
    h = timedelta(hours=1)
    t: dict[str, ThreadScript] = {}

    # A: order status, answered with a tool: automated; rated up
    a = t["A"] = await ThreadScript(pool, "thr_A", "u1", now - 20 * h, title="Where is my order?").create()
    await a.run(ttft_ms=200)
    await a.intent("order_status", "orders", 0.92)
    await a.tool("orders", "get_order", {"order_id": "1001"})
    a.msg = await a.answer("orders", "Order 1001 ships tomorrow.", 100, 20)

    # B: refund approved by an operator after 30 s: assisted; rated down
    b = t["B"] = await ThreadScript(pool, "thr_B", "u2", now - 10 * h, title="Refund").create()
    await b.run()
    await b.intent("refund", "billing", 0.88)
    b.iid = await b.interrupt("billing", "refund_order", {"order_id": "1002", "amount": 20})
    await b.decide(b.iid, "approved", after_s=30)
    await b.run("resume", ttft_ms=300)
    await b.tool("billing", "refund_order", {"order_id": "1002", "amount": 20})
    b.msg = await b.answer("billing", "Refunded 20 to your card.", 150, 30)

    # C: cancellation approved with edited arguments after 45 s: assisted
    c = t["C"] = await ThreadScript(pool, "thr_C", "u3", now - 9 * h).create()
    await c.run()
    await c.intent("cancel_order", "orders")
    iid = await c.interrupt("orders", "cancel_order", {"order_id": "1003", "reason": "late"})
    await c.decide(iid, "edited", after_s=45, args={"order_id": "1003", "reason": "changed mind"})
    await c.run("resume", ttft_ms=400)
    await c.tool("orders", "cancel_order", {"order_id": "1003", "reason": "changed mind"})
    await c.answer("orders", "Order 1003 is cancelled.", 150, 30)

    # D: refund rejected after 90 s, the agent explains: automated
    d = t["D"] = await ThreadScript(pool, "thr_D", "u4", now - 8 * h).create()
    await d.run()
    await d.intent("refund", "billing")
    iid = await d.interrupt("billing", "refund_order", {"order_id": "1004", "amount": 500})
    await d.decide(iid, "rejected", after_s=90)
    await d.run("resume", ttft_ms=500)
    await d.answer("billing", "The refund was not approved.", 80, 10)

    # E: refund left to expire, the run resumes as rejected: abandoned
    e = t["E"] = await ThreadScript(pool, "thr_E", "u5", now - 7 * h).create()
    await e.run()
    await e.intent("refund", "billing")
    iid = await e.interrupt("billing", "refund_order", {"order_id": "1005", "amount": 5})
    await e.expire(iid, "refund_order", after_s=1800)
    await e.run("resume", ttft_ms=600)
    await e.answer("billing", "The approval expired, nothing was done.", 80, 10)

    # F: asks for a person: escalated; rated up
    f = t["F"] = await ThreadScript(pool, "thr_F", "u6", now - 6 * h).create()
    await f.run(ttft_ms=700)
    await f.intent("talk_to_human", "handoff", 0.97)
    await f.handoff()
    f.msg = await f.answer("handoff", "A person will take over shortly.", 50, 10)

    # G: the order tool fails, then the model fails on the next message: abandoned
    g = t["G"] = await ThreadScript(pool, "thr_G", "u7", now - 5 * h).create()
    await g.run(ttft_ms=800)
    await g.intent("order_status", "orders")
    await g.tool("orders", "get_order", {"order_id": "9999"}, ok=False, content="404 not found")
    await g.answer("orders", "I could not find that order.", 100, 20)
    await g.run()
    await g.fail()

    # H: a pending refund superseded by a new message, answered: automated
    hh = t["H"] = await ThreadScript(pool, "thr_H", "u8", now - 4 * h).create()
    await hh.run()
    await hh.intent("refund", "billing")
    iid = await hh.interrupt("billing", "refund_order", {"order_id": "1008", "amount": 9})
    await hh.decide(iid, "superseded", after_s=20, by="u8")
    await hh.run("message", ttft_ms=900)
    await hh.intent("order_status", "orders")
    await hh.answer("orders", "Order 1008 was delivered.", 60, 10)

    # I: a refund waiting for approval right now: open
    i = t["I"] = await ThreadScript(pool, "thr_I", "u9", now - 1 * h).create()
    await i.run()
    await i.intent("refund", "billing")
    await i.interrupt("billing", "refund_order", {"order_id": "1009", "amount": 12})

    # J: three days ago, outside the last 24 hours: automated
    j = t["J"] = await ThreadScript(pool, "thr_J", "u1", now - 72 * h).create()
    await j.run(ttft_ms=100)
    await j.intent("order_status", "orders")
    await j.answer("orders", "Delivered.", 40, 5)

    await feedback(pool, a, a.msg, "up")
    await feedback(pool, b, b.msg, "down")
    await feedback(pool, f, f.msg, "up")
    return t


async def timeline(pool: Any, principal: Any, thread_id: str, **kwargs: Any) -> dict[str, Any]:
    """`app.analytics.replay.timeline`'s streamed body, read whole and parsed (the threads here are small)."""
    import orjson

    from app.analytics.replay import timeline as stream

    chunks = await stream(pool, principal, thread_id, **kwargs)
    return orjson.loads(b"".join([c async for c in chunks]))  # type: ignore[no-any-return]
