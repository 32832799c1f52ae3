"""record_feedback: validation with clear messages, ownership, one rating per message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.analytics.feedback import record_feedback
from app.analytics.summary import summary
from app.core.errors import BadRequest, Forbidden, NotFound
from tests.analytics.seed import ThreadScript


async def _answered(pool) -> ThreadScript:
    s = await ThreadScript(pool, "thr_fb", "cust1", datetime.now(UTC) - timedelta(minutes=5)).create()
    await s.run(ttft_ms=100)
    await s.answer("orders", "Shipped.", 10, 2)
    return s


async def test_rating_is_stored_and_replaced(pool) -> None:
    s = await _answered(pool)
    out = await record_feedback(pool, user_id="cust1", thread_id="thr_fb", message_id=s.msg, rating="down",
                                comment="  too slow  ")
    assert out["rating"] == "down" and out["comment"] == "too slow"
    again = await record_feedback(pool, user_id="cust1", thread_id="thr_fb", message_id=s.msg, rating="up",
                                  score=5)
    assert again["rating"] == "up" and again["score"] == 5 and again["comment"] is None
    result = await summary(pool, prices={}, range_="24h")
    assert result["csat"] == 1.0 and result["feedback"] == {"up": 1, "down": 0, "score_avg": 5.0, "scored": 1}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rating": "meh"}, "rating must be 'up' or 'down'"),
        ({"rating": None}, "rating must be"),
        ({"thread_id": "bad id!"}, "thread_id must match"),
        ({"message_id": ""}, "message_id must be a string"),
        ({"message_id": 7}, "message_id must be a string"),
        ({"comment": "x" * 2001}, "comment is too long"),
        ({"comment": 5}, "comment must be a string"),
        ({"score": 6}, "score must be a whole number from 1 to 5"),
        ({"score": True}, "score must be"),
        ({"message_id": "msg_unknown"}, "is not an answer in thread thr_fb"),
    ],
)
async def test_invalid_fields_are_named(pool, fields, message) -> None:
    s = await _answered(pool)
    args = {"user_id": "cust1", "thread_id": "thr_fb", "message_id": s.msg, "rating": "up", **fields}
    with pytest.raises(BadRequest, match=message):
        await record_feedback(pool, **args)


async def test_only_the_owner_rates_a_known_thread(pool) -> None:
    s = await _answered(pool)
    with pytest.raises(Forbidden):
        await record_feedback(pool, user_id="cust2", thread_id="thr_fb", message_id=s.msg, rating="up")
    with pytest.raises(NotFound):
        await record_feedback(pool, user_id="cust1", thread_id="thr_none", message_id=s.msg, rating="up")


async def test_staff_may_rate_any_thread(pool) -> None:
    s = await _answered(pool)
    out = await record_feedback(pool, user_id="local", thread_id="thr_fb", message_id=s.msg, rating="up",
                                is_staff=True)
    assert out["rating"] == "up"
