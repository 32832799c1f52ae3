"""Approvals: decide, supersede and expire interrupts; the TTL sweeper.

Every path that closes a pending interrupt does it inside the transaction that
takes the thread's run guard, so a decision, a new message and the sweeper can
race on one interrupt (even from different replicas) and exactly one wins.
A decision with edited arguments is checked before that transaction, against the
arguments that will run: the tool's schema, and `graphs.tools.policy.edit_refusal`
(a customer may not retarget the call, and may not approve an edit that needs an
operator); the transaction then makes sure the same interrupt is still pending.
The sweeper also warns before expiry and recovers runs whose owner died.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection

from app.approvals import store
from app.conversations import thread_store
from app.conversations.event_log import append_locked, find_interrupt_event
from app.conversations.runs import check_access
from app.core.errors import (
    Forbidden,
    FrameError,
    InterruptExpired,
    NoPendingInterrupt,
    NotFound,
    RunActive,
)
from app.core.logging import get_logger
from app.core.metrics import METRICS
from app.core.security import Principal
from graphs.events import Event, InterruptDecided, InterruptWarning, expired_event, iso_z
from graphs.tools.openapi import schema_error
from graphs.tools.policy import edit_refusal

if TYPE_CHECKING:
    from app.container import Services

__all__ = ["Resume", "decide", "expire_due", "expire_one", "expired_event_for", "supersede_prepare", "sweeper_loop"]

log = get_logger(__name__)


@dataclass
class Resume:
    """Graph input for a run that first closes pending approvals, then maybe asks anew.

    `decision` resumes the pending interrupt; `then` (a new user message) runs after
    every interrupt left in the turn has been closed with the same outcome.
    """

    decision: dict[str, Any]
    then: Any = None
    superseded: list[str] = field(default_factory=list)


def _decided_event(interrupt_id: str, approved: bool, decided_by: str, outcome: str,
                   args: dict[str, Any] | None, reason: str | None) -> InterruptDecided:
    return InterruptDecided(interrupt_id=interrupt_id, approved=approved, decided_by=decided_by,
                            outcome=outcome, args=args, reason=reason or None)  # type: ignore[arg-type]


async def decide(
    services: Services, principal: Principal, *, thread_id: str | None, interrupt_id: str | None,
    approved: bool, args: dict[str, Any] | None, reason: str | None,
) -> Any:
    """Resume the interrupted run with a person's decision; returns the run that resumes it."""
    if interrupt_id is not None:
        row = await store.get_interrupt(services.pool, interrupt_id)
        if row is None or (thread_id is not None and row["thread_id"] != thread_id):
            raise NoPendingInterrupt(f"no pending interrupt {interrupt_id} on this thread", thread_id=thread_id)
        thread_id = row["thread_id"]
        if row["status"] == "expired":
            raise InterruptExpired(f"interrupt {interrupt_id} has expired", thread_id=thread_id,
                                   interrupt_id=interrupt_id, action=row["action"])
    assert thread_id is not None
    if not approved:
        args = None
    decided_as = "operator" if principal.is_staff else "customer"
    checked: str | None = None
    if args is not None:
        checked = await _check_edit(services, principal, thread_id, interrupt_id, args, decided_as)
    outcome = "rejected" if not approved else ("edited" if args is not None else "approved")
    holder: dict[str, Any] = {}

    async def prepare(conn: AsyncConnection[Any], trow: dict[str, Any]) -> list[Event]:
        pending = await store.lock_pending(conn, thread_id)
        if pending is None or (interrupt_id is not None and pending["interrupt_id"] != interrupt_id):
            raise _no_pending(interrupt_id, thread_id)
        _check_approver(principal, pending, thread_id)
        if pending["due"]:
            services.sweeper_wakeup.set()
            raise InterruptExpired(f"interrupt {pending['interrupt_id']} has expired", thread_id=thread_id,
                                   interrupt_id=pending["interrupt_id"], action=pending["action"])
        if checked is not None and pending["interrupt_id"] != checked:  # another interrupt came meanwhile
            raise NoPendingInterrupt(f"no pending interrupt {checked} on thread {thread_id} any more: the edit was "
                                     f"checked against it; look at interrupt {pending['interrupt_id']} and decide again",
                                     thread_id=thread_id)
        await store.decide(conn, interrupt_id=pending["interrupt_id"], status="approved" if approved else "rejected",
                           decided_by=principal.user_id, edited_args=args, reason=reason)
        holder["interrupt_id"] = pending["interrupt_id"]
        return [_decided_event(pending["interrupt_id"], approved, principal.user_id, outcome, args, reason)]

    resume = Resume(decision={"approved": approved, "args": args, "reason": reason, "outcome": outcome,
                              "decided_as": decided_as})
    run = await services.runs.start(principal=principal, thread_id=thread_id, trigger="resume", graph_input=resume,
                                    prepare=prepare, check_session=False)
    resume.decision["interrupt_id"] = holder.get("interrupt_id")
    METRICS.interrupts.labels(outcome=outcome).inc()
    return run


def _no_pending(interrupt_id: str | None, thread_id: str) -> NoPendingInterrupt:
    return NoPendingInterrupt(f"no pending interrupt{' ' + interrupt_id if interrupt_id else ''} on thread {thread_id}",
                              thread_id=thread_id)


def _check_approver(principal: Principal, pending: dict[str, Any], thread_id: str) -> None:
    if pending["approver"] == "operator" and not principal.is_staff:
        raise Forbidden(f"{pending['action']} needs an operator's approval", thread_id=thread_id)


async def _check_edit(services: Services, principal: Principal, thread_id: str, interrupt_id: str | None,
                      args: dict[str, Any], decided_as: str) -> str:
    """Refuse edited arguments that may not run on this person's word; answer the interrupt checked.

    Runs before the decision's transaction (a lookup may call the shop), so the
    thread's owner is checked here first, and the transaction makes sure the interrupt
    checked is still the pending one.
    """
    trow = await thread_store.get_thread(services.pool, thread_id, services.settings.session_ttl_s)
    if trow is None:
        raise NotFound(f"thread {thread_id} not found", thread_id=thread_id)
    check_access(principal, trow)
    pending = await store.get_pending(services.pool, thread_id)
    if pending is None or (interrupt_id is not None and pending["interrupt_id"] != interrupt_id):
        raise _no_pending(interrupt_id, thread_id)
    _check_approver(principal, pending, thread_id)
    action = pending["action"]
    # the interrupt carries the schema of the very tool the run would call (imported ones too)
    schema = (pending["event"] or {}).get("args_schema")
    problem = schema_error(schema, args, action) if schema else services.validate_tool_args(action, args)
    if problem:
        raise FrameError("missing_field", f"args: {problem}", thread_id=thread_id)
    registry = await services.current_tools()
    tool = registry.get(action)
    if tool is None:
        raise FrameError("missing_field", f"args: {action} is no longer an available tool, so it cannot be edited; "
                                          "approve or reject it as proposed", thread_id=thread_id)
    context = services.tool_context(owner_id=trow["owner_id"], thread_id=thread_id, tools=registry)
    refusal = await edit_refusal(tool.spec, pending["args"] or {}, args, decided_as=decided_as, registry=registry,
                                 context=context, call_id=f"{pending['interrupt_id']}-edit")
    if refusal is not None:
        raise Forbidden(refusal, thread_id=thread_id)
    return str(pending["interrupt_id"])


def supersede_prepare(principal: Principal, resume_box: dict[str, Any]) -> Any:
    """A `prepare` for a new message: a pending interrupt is rejected as superseded."""

    async def prepare(conn: AsyncConnection[Any], trow: dict[str, Any]) -> list[Event]:
        if trow["status"] != "interrupted":
            return []
        pending = await store.lock_pending(conn, trow["thread_id"])
        if pending is None:
            return []
        reason = "the customer sent a new message instead"
        await store.decide(conn, interrupt_id=pending["interrupt_id"], status="superseded",
                           decided_by=principal.user_id, edited_args=None, reason=reason)
        resume_box["interrupt_id"] = pending["interrupt_id"]
        METRICS.interrupts.labels(outcome="superseded").inc()
        return [_decided_event(pending["interrupt_id"], False, principal.user_id, "superseded", None, reason)]

    return prepare


async def expire_due(services: Services) -> int:
    """Expire every pending interrupt past its TTL: resume each run as rejected."""
    count = 0
    for due in await store.due_to_expire(services.pool):
        count += await expire_one(services, due["interrupt_id"], due["thread_id"])
    return count


async def expire_one(services: Services, interrupt_id: str, thread_id: str) -> bool:
    """Expire one interrupt past its TTL: store its `interrupt_expired`, resume the run as rejected.

    False when it was decided or expired meanwhile (by another process, say)."""

    async def prepare(conn: AsyncConnection[Any], trow: dict[str, Any]) -> list[Event]:
        pending = await store.lock_pending(conn, trow["thread_id"])
        if pending is None or pending["interrupt_id"] != interrupt_id:
            raise NoPendingInterrupt("already decided")
        await store.decide(conn, interrupt_id=interrupt_id, status="expired", decided_by="system",
                           edited_args=None, reason="expired")
        return [expired_event(interrupt_id, pending["action"])]

    resume = Resume(decision={"interrupt_id": interrupt_id, "approved": False, "args": None,
                              "reason": "the approval expired", "outcome": "expired"})
    try:
        await services.runs.start(principal=None, thread_id=thread_id, trigger="resume", graph_input=resume,
                                  prepare=prepare, check_session=False)
    except (NoPendingInterrupt, RunActive):
        return False
    METRICS.interrupts.labels(outcome="expired").inc()
    return True


async def expired_event_for(services: Services, thread_id: str, interrupt_id: str) -> Event | None:
    """The stored `interrupt_expired` of an interrupt a decision came too late for.

    One that is past its TTL but not yet expired by the sweeper is expired now, so the
    late decider gets the very event (with its seq) the thread's subscribers get."""
    event = await find_interrupt_event(services.pool, thread_id, "interrupt_expired", interrupt_id)
    if event is None:
        await expire_one(services, interrupt_id, thread_id)
        event = await find_interrupt_event(services.pool, thread_id, "interrupt_expired", interrupt_id)
    return event


async def warn_due(services: Services) -> None:
    if services.settings.interrupt_warning_s <= 0:
        return
    for due in await store.due_for_warning(services.pool, services.settings.interrupt_warning_s):
        seconds_left = max(0, int((due["expires_at"] - _now()).total_seconds()))
        await append_outside_run(services, due["thread_id"], [InterruptWarning(
            interrupt_id=due["interrupt_id"], expires_at=iso_z(due["expires_at"]), seconds_left=seconds_left)])


async def append_outside_run(services: Services, thread_id: str, events: list[Event]) -> list[Event]:
    """Append events to a thread with no active run (the row lock orders them)."""
    async with services.pool.connection() as conn:
        async with conn.transaction():
            row = await thread_store.lock_thread(conn, thread_id, services.settings.session_ttl_s)
            if row is None or row["run_live"]:
                return []
            stamped = await append_locked(conn, thread_id=thread_id, last_seq=row["last_seq"], run_id=None,
                                          events=events, origin=services.origin)
    services.hub.publish(stamped)
    return stamped


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def sweeper_loop(services: Services) -> None:
    """Expire interrupts, warn before expiry, recover orphaned runs; survives restarts."""
    interval = services.settings.sweeper_interval_s
    while True:
        try:
            await expire_due(services)
            await warn_due(services)
            await services.recover_orphans()
            async with services.pool.connection() as conn:
                await conn.execute(
                    "DELETE FROM rate_limit_hits WHERE ts < now() - make_interval(secs => %s)",
                    (services.settings.rate_limit_window_s * 2,))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the sweeper loop outlives any one failed pass
            log.warning("sweeper_failed", error=str(exc))
        services.sweeper_wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(services.sweeper_wakeup.wait(), timeout=interval)

