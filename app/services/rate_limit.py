"""Per-user message rate limit, shared by every replica through Postgres.

A sliding window of `RATE_LIMIT_MESSAGES` per `RATE_LIMIT_WINDOW_S`. `check()` says
whether one more message is allowed (and how long to wait if not); `record()`
counts a message that started a run; past 80% the caller sends a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.errors import RateLimited

__all__ = ["RateState", "check", "record"]

COUNT = """
SELECT count(*) AS n, min(ts) AS oldest,
       extract(epoch FROM (min(ts) + make_interval(secs => %(window)s) - clock_timestamp())) AS wait_s
FROM rate_limit_hits WHERE user_id = %(user)s AND ts > clock_timestamp() - make_interval(secs => %(window)s)
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


async def check(pool: Any, settings: Any, user_id: str) -> None:
    async with pool.connection() as conn:
        cur = await conn.execute(COUNT, {"user": user_id, "window": settings.rate_limit_window_s})
        row = await cur.fetchone()
    if row and row["n"] >= settings.rate_limit_messages:
        wait = max(0.1, float(row["wait_s"] or 0))
        raise RateLimited(
            f"rate limit reached: at most {settings.rate_limit_messages} messages per "
            f"{settings.rate_limit_window_s:g}s; retry in {wait:.1f}s",
            retry_after_s=round(wait, 1),
        )


async def record(pool: Any, settings: Any, user_id: str) -> RateState:
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO rate_limit_hits (user_id) VALUES (%s)", (user_id,))
        cur = await conn.execute(COUNT, {"user": user_id, "window": settings.rate_limit_window_s})
        row = await cur.fetchone()
    return RateState(used=int(row["n"]) if row else 1, limit=settings.rate_limit_messages)
