"""Customer feedback on an answer: the widget's `feedback` frame, stored for CSAT.

`record_feedback()` validates the frame's fields, checks that the caller owns the
thread and that the message is one of the thread's answers, then stores one
rating per customer and message (rating again replaces the earlier one). CSAT in
the summary is the share of `up` among ratings given in the range.
"""

from __future__ import annotations

from typing import Any

from app.analytics import feedback_store, replay_store
from app.conversations import event_log
from app.core.db import Pool
from app.core.errors import BadRequest, Forbidden, NotFound
from graphs.events import THREAD_ID_PATTERN, THREAD_ID_RE, iso_z

__all__ = ["MAX_COMMENT_CHARS", "RATINGS", "record_feedback"]

RATINGS = ("up", "down")
MAX_COMMENT_CHARS = 2000
MAX_MESSAGE_ID_CHARS = 128


async def record_feedback(
    pool: Pool,
    *,
    user_id: str,
    thread_id: Any,
    message_id: Any,
    rating: Any,
    comment: Any = None,
    score: Any = None,
    is_staff: bool = False,
) -> dict[str, Any]:
    """Store a rating of one answer; returns the stored row as JSON-ready data.

    Raises BadRequest for a malformed field (naming it), NotFound for an unknown
    thread, Forbidden for another user's thread (operators and admins may rate any,
    e.g. the local admin trying the widget; the rating is stored under their id).
    """
    if not isinstance(thread_id, str) or not THREAD_ID_RE.match(thread_id):
        raise BadRequest(f"thread_id must match {THREAD_ID_PATTERN}", thread_id=None)
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= MAX_MESSAGE_ID_CHARS:
        raise BadRequest(f"message_id must be a string of 1 to {MAX_MESSAGE_ID_CHARS} characters",
                         thread_id=thread_id)
    if rating not in RATINGS:
        raise BadRequest(f"rating must be 'up' or 'down', got {rating!r}", thread_id=thread_id)
    if comment is not None and not isinstance(comment, str):
        raise BadRequest("comment must be a string", thread_id=thread_id)
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        raise BadRequest(f"comment is too long (over {MAX_COMMENT_CHARS} characters)", thread_id=thread_id)
    if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5):
        raise BadRequest("score must be a whole number from 1 to 5", thread_id=thread_id)

    owner = await replay_store.thread_owner(pool, thread_id)
    if owner is None:
        raise NotFound(f"thread {thread_id} not found", thread_id=thread_id)
    if owner != user_id and not is_staff:
        raise Forbidden("you can rate only answers in your own conversations", thread_id=thread_id)
    if not await event_log.message_exists(pool, thread_id, message_id):
        raise BadRequest(f"message_id {message_id!r} is not an answer in thread {thread_id}",
                         thread_id=thread_id)
    row = await feedback_store.upsert_feedback(
        pool, thread_id=thread_id, message_id=message_id, user_id=user_id, rating=rating,
        score=score, comment=(comment.strip() or None) if comment else None,
    )
    return {
        "thread_id": row["thread_id"], "message_id": row["message_id"], "rating": row["rating"],
        "score": row["score"], "comment": row["comment"],
        "created_at": iso_z(row["created_at"]),
    }
