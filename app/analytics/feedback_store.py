"""SQL for feedback: a customer's rating of an answer (one per customer and message)."""

from __future__ import annotations

from typing import Any

from app.core.db import Pool

__all__ = ["upsert_feedback"]

# One rating per customer and message: rating again replaces the earlier one.
UPSERT_FEEDBACK = """
INSERT INTO feedback (thread_id, message_id, user_id, rating, score, comment)
VALUES (%(thread_id)s, %(message_id)s, %(user_id)s, %(rating)s, %(score)s, %(comment)s)
ON CONFLICT (thread_id, message_id, user_id) DO UPDATE
SET rating = EXCLUDED.rating, score = EXCLUDED.score, comment = EXCLUDED.comment, updated_at = now()
RETURNING thread_id, message_id, user_id, rating, score, comment, created_at, updated_at
"""


async def upsert_feedback(pool: Pool, **values: Any) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(UPSERT_FEEDBACK, values)
        row = await cur.fetchone()
    assert row is not None
    return row
