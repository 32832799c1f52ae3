"""The dashboard summary: `GET /api/analytics/summary`.

Turns a range (`24h`, `7d`, `30d`, or `from`/`to`) into a half-open UTC interval
and a bucket size, reads the rows behind each figure (`app/storage/analytics.py`)
and computes rates, percentiles and costs. Every figure is defined in
`docs/analytics.md`; in short, conversation figures cover conversations *started*
in the range, approvals those *requested* in it, time to first token the runs
*started* in it, CSAT the ratings *given* in it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Mapping

from psycopg_pool import AsyncConnectionPool

from app.core.errors import BadRequest
from app.services.conversations import estimate_cost
from app.storage import analytics as store

__all__ = ["RANGES", "resolve_range", "summary"]

RangeName = Literal["24h", "7d", "30d"]
RANGES: dict[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
MAX_SPAN = timedelta(days=400)
# Up to two days are charted by the hour, longer ranges by the day.
HOURLY_UP_TO = timedelta(days=2)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resolve_range(
    range_: str | None, start: datetime | None, end: datetime | None, *, now: datetime | None = None
) -> tuple[str, datetime, datetime, str]:
    """(label, from, to, bucket unit) for the query parameters, or BadRequest naming the one at fault.

    `range` alone: the last 24h/7d/30d up to now. `from`/`to`: that interval (a
    missing `to` is now; a missing `from` is `to` minus `range`, or 24h). Naive
    times are taken as UTC.
    """
    if range_ is not None and range_ not in RANGES:
        raise BadRequest(f"range must be one of {', '.join(RANGES)}, got {range_!r}")
    explicit_start = start is not None
    now = _utc(now or datetime.now(UTC))
    end = _utc(end) if end is not None else now
    span = RANGES[range_ or "24h"]
    start = _utc(start) if start is not None else end - span
    if start >= end:
        raise BadRequest("from must be earlier than to")
    if end - start > MAX_SPAN:
        raise BadRequest(f"the range from..to may span at most {MAX_SPAN.days} days")
    label = "custom" if explicit_start else (range_ or "24h")
    unit = "hour" if end - start <= HOURLY_UP_TO else "day"
    return label, start, end, unit


def _iso(value: datetime) -> str:
    return _utc(value).isoformat().replace("+00:00", "Z")


def _rate(num: float, den: float) -> float:
    return round(num / den, 4) if den else 0.0


def _cost_by_bucket(usage_rows: list[Mapping[str, Any]], prices: Mapping[str, Any]) -> dict[datetime, float]:
    costs: dict[datetime, float] = {}
    for r in usage_rows:
        cost = estimate_cost(prices, r["model"], int(r["input_tokens"] or 0), int(r["output_tokens"] or 0))
        costs[r["bucket"]] = costs.get(r["bucket"], 0.0) + cost
    return costs


async def summary(
    pool: AsyncConnectionPool,
    *,
    prices: Mapping[str, Any],
    range_: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every dashboard figure for one range; the keys are the API's."""
    label, start, end, unit = resolve_range(range_, start, end, now=now)
    rows = await store.fetch_summary_rows(pool, start=start, end=end, unit=unit)
    t = rows["totals"][0]
    conversations = int(t["conversations"])
    tokens = int(t["input_tokens"]) + int(t["output_tokens"])
    bucket_costs = _cost_by_bucket(rows["usage"], prices)
    total_cost = sum(bucket_costs.values())

    approvals = {
        r["tool"]: {
            "approved": r["approved"], "edited": r["edited"], "rejected": r["rejected"],
            "expired": r["expired"], "superseded": r["superseded"], "pending": r["pending"],
            "median_decision_s": round(r["median_decision_s"], 3) if r["median_decision_s"] is not None else None,
        }
        for r in rows["approvals"]
    }
    intents = {r["name"]: r["n"] for r in rows["mix"] if r["kind"] == "intent"}
    agents = {r["name"]: r["n"] for r in rows["mix"] if r["kind"] == "agent"}
    ttft = rows["ttft"][0]
    fb = rows["feedback"][0]
    rated = fb["up"] + fb["down"]

    series = [
        {
            "bucket": _iso(r["bucket"]),
            "conversations": r["conversations"],
            "messages": r["messages"],
            "automated": r["automated"],
            "assisted": r["assisted"],
            "escalations": r["escalations"],
            "abandoned": r["abandoned"],
            "tool_errors": r["tool_errors"],
            "tokens": r["tokens"],
            "cost_usd": round(bucket_costs.get(r["bucket"], 0.0), 6),
        }
        for r in rows["series"]
    ]
    return {
        "range": label,
        "from": _iso(start),
        "to": _iso(end),
        "bucket": unit,
        "conversations": conversations,
        "messages": int(t["messages"]),
        "user_messages": int(t["user_messages"]),
        "agent_messages": int(t["agent_messages"]),
        "resolutions": {k: int(t[k]) for k in ("automated", "assisted", "escalated", "abandoned", "open")},
        "automated_resolution_rate": _rate(t["automated"], conversations),
        "escalation_rate": _rate(t["escalated"], conversations),
        "approvals": approvals,
        "intents": intents,
        "agents": agents,
        "tool_calls": int(t["tool_calls"]),
        "tool_errors": int(t["tool_errors"]),
        "tool_error_rate": _rate(t["tool_errors"], t["tool_results"]),
        "ttft_ms": {
            "p50": round(ttft["p50"], 1) if ttft["p50"] is not None else None,
            "p95": round(ttft["p95"], 1) if ttft["p95"] is not None else None,
            "runs": ttft["runs"],
        },
        "tokens": tokens,
        "tokens_per_conversation": round(tokens / conversations, 1) if conversations else 0.0,
        "cost_usd": round(total_cost, 6),
        "cost_per_conversation_usd": round(total_cost / conversations, 6) if conversations else 0.0,
        "csat": round(fb["up"] / rated, 4) if rated else None,
        "feedback": {"up": fb["up"], "down": fb["down"],
                     "score_avg": round(fb["score_avg"], 2) if fb["score_avg"] is not None else None,
                     "scored": fb["scored"]},
        "series": series,
    }
