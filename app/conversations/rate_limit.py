"""Per-user message rate limit, shared by every replica through Postgres.

A sliding window of `RATE_LIMIT_MESSAGES` per `RATE_LIMIT_WINDOW_S`. `take()` runs
inside the transaction that starts the run: it takes the user's advisory lock (so
parallel messages of one user on different threads, in any process, are counted one
after the other and exactly `RATE_LIMIT_MESSAGES` are admitted), then one statement
counts the user's recent messages and records this one if it is allowed, so a
refused message (by the limit or by anything else in that transaction) is never
counted. Past 80% the caller sends a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from app.conversations import limit_store as limits
from app.core.errors import RateLimited

__all__ = ["RateState", "take"]


@dataclass
class RateState:
    used: int
    limit: int

    @property
    def usage_percent(self) -> int:
        return round(100 * self.used / self.limit)

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def warn(self) -> bool:
        return self.used >= 0.8 * self.limit


async def take(conn: AsyncConnection[Any], settings: Any, user_id: str) -> RateState:
    """Count one message of `user_id`, or raise RateLimited (nothing recorded) when the window is full."""
    row = await limits.take_rate(conn, user_id, settings.rate_limit_window_s, settings.rate_limit_messages)
    if not row["taken"]:
        wait = max(0.1, float(row["wait_s"] or 0))
        raise RateLimited(
            f"rate limit reached: at most {settings.rate_limit_messages} messages per "
            f"{settings.rate_limit_window_s:g}s; retry in {wait:.1f}s",
            retry_after_s=round(wait, 1),
        )
    return RateState(used=int(row["n"]) + 1, limit=settings.rate_limit_messages)
