"""Replay: conversation listings and a thread's full timeline, from the event log.

`list_conversations()` pages the conversation records with the replay filters
(time range, intent, agent, resolution, has an approval, user) by offset or by an
opaque cursor. `timeline()` returns a thread's events in seq order exactly as they
went out on the wire, `ts` included, never LangGraph checkpoint internals.

Who sees what: operators and admins list conversations; a customer may replay
only its own threads (403 otherwise), an unknown thread is 404. Operators get
emails, phone numbers and card numbers masked in every string of the events and
listings; admins and the thread's own customer see them as they were.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from app.analytics import replay_store
from app.analytics.records import record_json
from app.conversations.event_log import count_events, iter_events
from app.core.db import Pool
from app.core.errors import BadRequest, Forbidden, NotFound
from app.core.pii import mask_payload
from app.core.pii import should_mask as pii_should_mask
from app.core.security import Principal
from graphs.events import THREAD_ID_PATTERN, THREAD_ID_RE, dump_event, encode_event

__all__ = ["RESOLUTIONS", "decode_cursor", "encode_cursor", "list_conversations", "should_mask", "timeline"]

RESOLUTIONS = ("automated", "assisted", "escalated", "abandoned", "open")
MAX_LIMIT = 200


def should_mask(principal: Principal, owner_id: str | None = None) -> bool:
    """Personal data is hidden from operators; admins and the thread's owner see it."""
    return pii_should_mask(principal.role, principal.user_id, owner_id)


def encode_cursor(row: Mapping[str, Any]) -> str:
    raw = json.dumps([row["started_at"].isoformat(), row["thread_id"]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started_at, thread_id = json.loads(raw)
        return datetime.fromisoformat(started_at), str(thread_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadRequest("cursor is not one this server handed out; use next_cursor from the previous page") \
            from exc


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def list_conversations(
    pool: Pool,
    principal: Principal,
    *,
    prices: Mapping[str, Any],
    start: datetime | None = None,
    end: datetime | None = None,
    intent: str | None = None,
    agent: str | None = None,
    resolution: str | None = None,
    has_interrupt: bool | None = None,
    user_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
    cursor: str | None = None,
) -> dict[str, Any]:
    """`{"data": [...records], "count", "limit", "offset", "next_cursor"}`, newest first."""
    if not principal.is_staff:
        raise Forbidden("listing conversations needs the operator or admin role")
    if resolution is not None and resolution not in RESOLUTIONS:
        raise BadRequest(f"resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise BadRequest("offset must be 0 or more")
    start, end = _utc(start), _utc(end)
    if start is not None and end is not None and start >= end:
        raise BadRequest("from must be earlier than to")
    filters: replay_store.ReplayFilters = {
        "from": start, "to": end, "intent": intent or None, "agent": agent or None,
        "resolution": resolution, "has_interrupt": has_interrupt, "user_id": user_id or None,
    }
    if cursor:
        filters["cursor_started_at"], filters["cursor_thread_id"] = decode_cursor(cursor)
        offset = 0
    rows, count = await replay_store.list_conversations(pool, filters, limit=limit, offset=offset)
    mask = should_mask(principal)
    return {
        "data": [record_json(r, prices=prices, mask=mask) for r in rows],
        "count": count,
        "limit": limit,
        "offset": offset,
        "next_cursor": encode_cursor(rows[-1]) if len(rows) == limit else None,
    }


async def timeline(
    pool: Pool, principal: Principal, thread_id: str, *, tokens: bool = True,
    page_size: int = 500, slots: asyncio.Semaphore | None = None,
) -> AsyncIterator[bytes]:
    """`{"thread_id", "events": [...]}` as JSON chunks: the thread's events in seq order, each with `ts`.

    Access is checked before the first chunk (so a refusal is a plain 403/404); the
    events are then read and sent a page at a time, so a thread of any length costs
    one page of memory. `tokens=False` leaves out token deltas; each answer is still
    whole in its `message_complete`.
    """
    if not THREAD_ID_RE.match(thread_id):
        raise BadRequest(f"thread_id must match {THREAD_ID_PATTERN}")
    owner = await replay_store.thread_owner(pool, thread_id)
    if owner is None:
        raise NotFound(f"thread {thread_id} not found")
    if not principal.is_staff and principal.user_id != owner:
        raise Forbidden("you can replay only your own conversations")
    mask = should_mask(principal, owner)
    _, upto = await count_events(pool, thread_id, 0, tokens=tokens)
    return _timeline_chunks(pool, thread_id, upto, tokens=tokens, mask=mask, page_size=page_size, slots=slots)


async def _timeline_chunks(pool: Pool, thread_id: str, upto: int, *, tokens: bool, mask: bool,
                           page_size: int, slots: asyncio.Semaphore | None) -> AsyncIterator[bytes]:
    yield b'{"thread_id":' + orjson.dumps(thread_id) + b',"events":['
    first = True
    addresses: set[str] = set()  # an address from a tool call is scrubbed from the answers after it
    async for page in iter_events(pool, thread_id, 0, upto=upto, page_size=page_size, tokens=tokens,
                                  with_ts=True, slots=slots):
        parts = [orjson.dumps(mask_payload(dump_event(e), addresses=addresses)) if mask else encode_event(e) for e in page]
        yield (b"" if first else b",") + b",".join(parts)
        first = False
    yield b"]}"
