"""GET /ws: accept, authenticate, then loop: parse a frame, dispatch it, reply.

No business logic here: frames are validated by `frames.parse_frame` and acted
on by services. Every refused frame gets an `error` reply and the socket stays
open; only a bad or expired token (4001: also when the token's exp passes on an
open socket), a refused origin/peer in local mode (4003, app/core/edge.py), too
many sockets for one user (4029), shutdown (1001) or a socket too slow to keep up
(4008) closes it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.analytics.feedback import record_feedback
from app.approvals import service as interrupts
from app.conversations import chat
from app.core.errors import AppError, BadRequest, FrameError, InterruptExpired, Unauthorized
from app.core.logging import correlation_id, get_logger
from app.core.metrics import METRICS
from app.core.pii import should_mask
from app.core.security import Principal, authenticate_with, bearer_token
from app.handoffs import service as handoffs
from app.ws.connection import Connection
from app.ws.frames import (
    CancelFrame,
    ClaimFrame,
    ClientFrame,
    Connected,
    FeedbackFrame,
    FormSubmitFrame,
    InterruptResponseFrame,
    MessageFrame,
    OperatorMessageFrame,
    PingFrame,
    Pong,
    RateLimitWarning,
    ReleaseFrame,
    SubscribeFrame,
    UnsubscribeFrame,
    error_frame,
    parse_frame,
)
from app.ws.subscription import subscribe

if TYPE_CHECKING:
    from app.container import Services
    from app.conversations.runs import RunManager
    from app.ws.hub import Hub

__all__ = ["router"]

log = get_logger(__name__)
router = APIRouter()

CLOSE_UNAUTHORIZED = 4001
CLOSE_TOO_MANY_SOCKETS = 4029
SUBSCRIBING_FRAMES = ("message", "form_submit", "subscribe")


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    services = websocket.app.state.services
    settings = services.settings
    await websocket.accept()
    token = websocket.query_params.get("token") or bearer_token(websocket.headers.get("authorization"))
    try:
        principal = authenticate_with(settings, token)
    except Unauthorized as exc:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason=exc.message[:120])
        return
    if services.shutting_down:
        await websocket.close(code=1001, reason="server shutting down")
        return
    if settings.auth_enabled:  # local mode is one user: this machine
        held = sum(1 for c in services.hub.connections.values()
                   if c.principal.user_id == principal.user_id and not c.closed)
        if held >= settings.max_sockets_per_user:
            await websocket.close(code=CLOSE_TOO_MANY_SOCKETS,
                                  reason=f"too many sockets: {held} open for this user (MAX_SOCKETS_PER_USER)")
            return
    conn = Connection(websocket, principal, queue_max=settings.socket_queue_max)
    conn.start()
    services.hub.add_connection(conn)
    expiry = None
    if principal.expires_at is not None:
        # a socket lives as long as its token: at exp (leeway included) it is closed with 4001
        expiry = asyncio.get_running_loop().call_later(
            max(0.0, principal.expires_at - time.time()), conn.close_soon, CLOSE_UNAUTHORIZED,
            "token expired: reconnect with a fresh token")
    METRICS.active_sockets.inc()
    conn.send(Connected(connection_id=conn.id, user_id=principal.user_id, role=principal.role,
                        heartbeat_interval_s=settings.heartbeat_interval_s))
    tasks: set[asyncio.Task[None]] = set()
    try:
        while not conn.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            try:
                frame = parse_frame(raw, max_frame_bytes=settings.max_frame_bytes,
                                    max_content_chars=settings.max_content_chars)
            except AppError as exc:
                conn.send(error_frame(exc.code, exc.message, thread_id=exc.thread_id))
                continue
            if frame.type == "ping":
                conn.send(Pong())
                continue
            if (frame.type in SUBSCRIBING_FRAMES and frame.thread_id not in conn.subscriptions
                    and len(conn.subscriptions) >= settings.max_subscriptions_per_socket):
                conn.send(error_frame(
                    "too_many_subscriptions",
                    f"this socket already follows {len(conn.subscriptions)} threads "
                    f"(MAX_SUBSCRIPTIONS_PER_SOCKET); unsubscribe from one first", thread_id=frame.thread_id))
                continue
            # subscribe replays may be long: run them beside the receive loop
            if frame.type == "subscribe":
                task = asyncio.create_task(_handle(services, conn, principal, frame))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            else:
                await _handle(services, conn, principal, frame)
    except WebSocketDisconnect:
        pass
    except RuntimeError:
        pass  # receive after the peer vanished
    finally:
        if expiry is not None:
            expiry.cancel()
        for t in tasks:
            t.cancel()
        services.hub.remove_connection(conn)
        METRICS.active_sockets.dec()
        await conn.stop()


async def _handle(services: Services, conn: Connection, principal: Principal, frame: ClientFrame) -> None:
    hub, runs = _opened(services)
    assert not isinstance(frame, PingFrame)
    thread_id = frame.thread_id
    try:
        if isinstance(frame, (MessageFrame, FormSubmitFrame)):
            # a socket that sends a message follows the thread from the run's first event on
            new_sub = thread_id not in conn.subscriptions
            sub = hub.subscribe(conn, thread_id, 0) if new_sub else None
            try:
                if isinstance(frame, MessageFrame):  # people may have the thread: then no run, just the message
                    run, state, routed = await handoffs.send_customer_message(
                        services, principal, thread_id, frame.content, frame.client_msg_id)
                else:
                    run, state = await chat.submit_form(services, principal, thread_id, frame.form_id,
                                                        frame.values)
                    routed = []
            except BaseException:
                if new_sub:
                    hub.unsubscribe(conn, thread_id)
                raise
            if sub is not None:
                sub.last_sent = ((routed[0].seq or 0) if routed else run.first_seq) - 1
                # staff writing in a customer's thread follow it masked, like any operator view of it
                sub.mask = should_mask(principal.role, principal.user_id, run.owner_id)
                hub.go_live(sub)
            if state is not None and state.warn:
                conn.send(RateLimitWarning(usage_percent=state.usage_percent, remaining=state.remaining))
        elif isinstance(frame, (ClaimFrame, OperatorMessageFrame, ReleaseFrame)):
            await _takeover(services, conn, principal, frame)
        elif isinstance(frame, InterruptResponseFrame):
            await interrupts.decide(services, principal, thread_id=thread_id, interrupt_id=frame.interrupt_id,
                                    approved=frame.approved, args=frame.args, reason=frame.reason)
        elif isinstance(frame, CancelFrame):
            await runs.cancel(principal, thread_id)
        elif isinstance(frame, SubscribeFrame):
            await subscribe(services, principal, conn, thread_id, frame.after_seq)
        elif isinstance(frame, UnsubscribeFrame):
            hub.unsubscribe(conn, thread_id)
        elif isinstance(frame, FeedbackFrame):
            try:
                await record_feedback(services.pool, user_id=principal.user_id, thread_id=thread_id,
                                      message_id=frame.message_id, rating=frame.rating,
                                      comment=frame.comment, score=frame.score,
                                      is_staff=principal.is_staff)
            except BadRequest as exc:  # a malformed field: named in the message
                raise FrameError("missing_field", exc.message, thread_id=thread_id) from None
    except InterruptExpired as exc:
        await _send_expired(services, conn, exc)
    except AppError as exc:
        extra = {"retry_after_s": exc.extra["retry_after_s"]} if "retry_after_s" in exc.extra else {}
        conn.send(error_frame(exc.code, exc.message, thread_id=exc.thread_id or thread_id, **extra))
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        cid = correlation_id()
        log.exception("frame_failed", type=frame.type, thread_id=thread_id, correlation_id=cid,
                      error=f"{type(exc).__name__}: {exc}")
        # the contract has one code for what the client cannot fix; the words say which it was
        message = (f"the database is unavailable, so nothing was done (correlation id {cid}); try again in a moment"
                   if _is_database_error(exc) else f"internal error (correlation id {cid}); try again")
        conn.send(error_frame("internal", message, thread_id=thread_id))


async def _takeover(services: Services, conn: Connection, principal: Principal,
                    frame: ClaimFrame | OperatorMessageFrame | ReleaseFrame) -> None:
    """Staff frames of a human takeover; the staff socket follows the thread from its first event on."""
    hub, _ = _opened(services)
    thread_id = frame.thread_id
    new_sub = principal.is_staff and thread_id not in conn.subscriptions
    sub = hub.subscribe(conn, thread_id, 0) if new_sub else None
    try:
        if isinstance(frame, ClaimFrame):
            result = await handoffs.claim(services, principal, thread_id)
        elif isinstance(frame, OperatorMessageFrame):
            result = await handoffs.operator_message(services, principal, thread_id, frame.content,
                                                     frame.client_msg_id)
        else:
            result = await handoffs.release(services, principal, thread_id, frame.outcome)
    except BaseException:
        if new_sub:
            hub.unsubscribe(conn, thread_id)
        raise
    if sub is not None:
        events = result["events"]
        sub.last_sent = (events[0].seq or 0) - 1 if events else await handoffs.last_seq(services, thread_id)
        hub.go_live(sub)


def _opened(services: Services) -> tuple[Hub, RunManager]:
    """The hub and the run manager: the lifespan opens both before the socket route serves."""
    assert services.hub is not None and services.runs is not None
    return services.hub, services.runs


def _is_database_error(exc: BaseException) -> bool:
    import psycopg
    import psycopg_pool

    return isinstance(exc, (psycopg.OperationalError, psycopg_pool.PoolTimeout, psycopg.errors.AdminShutdown))


async def _send_expired(services: Services, conn: Connection, exc: InterruptExpired) -> None:
    """A decision on an expired interrupt gets that interrupt's stored interrupt_expired event."""
    interrupt_id = exc.extra.get("interrupt_id")
    event = (await interrupts.expired_event_for(services, exc.thread_id, interrupt_id)
             if interrupt_id and exc.thread_id else None)
    if event is not None:
        conn.send(event)
    else:  # decided meanwhile by someone else: nothing is pending any more
        conn.send(error_frame("no_pending_interrupt", f"no pending interrupt {interrupt_id} on this thread",
                              thread_id=exc.thread_id))

