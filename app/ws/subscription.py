"""`subscribe` on a socket: replay what it missed, then `session_sync`, then live events.

The thread's access check and state come from the conversations service
(`app.conversations.chat`); the replay itself is the hub's (`Hub.replay`), which
reads the log a page at a time. An operator following someone else's thread is
sent masked whole events and no token deltas (app/core/pii.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.conversations import chat
from app.core.pii import should_mask
from app.core.security import Principal
from app.ws.connection import Connection
from app.ws.frames import SessionSync

if TYPE_CHECKING:
    from app.container import Services

__all__ = ["subscribe"]


async def subscribe(services: Services, principal: Principal, conn: Connection, thread_id: str,
                    after_seq: int | None) -> None:
    """Replay what the socket missed, then session_sync, then live events."""
    row = await chat.open_thread(services, principal, thread_id)
    masked = should_mask(principal.role, principal.user_id, row["owner_id"])
    hub = services.hub
    assert hub is not None  # opened by the lifespan before the socket route serves
    sub = hub.subscribe(conn, thread_id, after_seq if after_seq is not None else 0)
    sub.mask = masked
    try:
        if after_seq is None:
            sub.last_sent = row["last_seq"]
        else:
            await hub.replay(sub, after_seq)
        state = await chat.sync_state(services, thread_id, masked=masked)
        await conn.send_wait(SessionSync(
            thread_id=thread_id, status=state["status"], last_seq=max(sub.last_sent, 0),
            message_count=state["message_count"], pending_interrupt=state["pending_interrupt"]))
    except BaseException:
        hub.unsubscribe(conn, thread_id)
        raise
    hub.go_live(sub)
