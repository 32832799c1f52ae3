"""Per-user message rate limit, shared by every replica through Postgres.

A sliding window of `RATE_LIMIT_MESSAGES` per `RATE_LIMIT_WINDOW_S`. `take()` runs
inside the transaction that starts the run: one statement counts the user's recent
messages and records this one if it is allowed, so a refused message (by the limit
or by anything else in that transaction) is never counted. Past 80% the caller
sends a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from app.core.errors import RateLimited

__all__ = ["RateState", "take"]

TAKE = """
WITH recent AS (
    SELECT count(*) AS n,
           extract(epoch FROM (min(ts) + make_interval(secs => %(window)s) - clock_timestamp())) AS wait_s
    FROM rate_limit_hits
    WHERE user_id = %(user)s AND ts > clock_timestamp() - make_interval(secs => %(window)s)
), hit AS (
    INSERT INTO rate_limit_hits (user_id) SELECT %(user)s FROM recent WHERE n < %(limit)s RETURNING 1
)
SELECT n, wait_s, (SELECT count(*) FROM hit) AS taken FROM recent
"""


@dataclass
class RateState:
    used: int
    limit: int

    @property
    def usage_percent(self) -> int:
        return int(round(100 * self.used / self.limit))

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def warn(self) -> bool:
        return self.used >= 0.8 * self.limit


async def take(conn: AsyncConnection[Any], settings: Any, user_id: str) -> RateState:
    """Count one message of `user_id`, or raise RateLimited (nothing recorded) when the window is full."""
    cur = await conn.execute(TAKE, {"user": user_id, "window": settings.rate_limit_window_s,
                                    "limit": settings.rate_limit_messages})
    row = await cur.fetchone()
    assert row is not None
    if not row["taken"]:
        wait = max(0.1, float(row["wait_s"] or 0))
        raise RateLimited(
            f"rate limit reached: at most {settings.rate_limit_messages} messages per "
            f"{settings.rate_limit_window_s:g}s; retry in {wait:.1f}s",
            retry_after_s=round(wait, 1),
        )
    return RateState(used=int(row["n"]) + 1, limit=settings.rate_limit_messages)
