"""The dashboard summary: `GET /api/analytics/summary`.

Turns a range (`24h`, `7d`, `30d`, or `from`/`to`) into a half-open UTC interval
and a bucket size, reads the hourly rollup of the conversation records (the whole
hours) plus the partial hours at either end (`app/analytics/summary_store.py`), and
adds them up into totals, mixes, series, rates and costs; percentiles (time to
first token, time to decide) are computed from the rows themselves. Every figure is defined in
`docs/analytics.md`; in short, conversation figures cover conversations *started*
in the range, approvals those *requested* in it, time to first token the runs
*started* in it, CSAT the ratings *given* in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from app.analytics import summary_store
from app.analytics.records import estimate_cost
from app.core.db import Pool
from app.core.errors import BadRequest
from graphs.events import iso_z

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
    return iso_z(value)


def _rate(num: float, den: float) -> float:
    return round(num / den, 4) if den else 0.0


HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
COUNTS = ("conversations", "user_messages", "agent_messages", "automated", "assisted", "escalated", "abandoned",
          "open", "tool_calls", "tool_results", "tool_errors", "input_tokens", "output_tokens")


def _floor(value: datetime, unit: str) -> datetime:
    value = value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0) if unit == "day" else value


def _percentile(counts: list[tuple[int, int]], q: float) -> float | None:
    """percentile_cont(q) of the values given as sorted (value, how many) pairs."""
    total = sum(n for _, n in counts)
    if total == 0:
        return None
    pos = q * (total - 1)
    lo_i, frac = int(pos), pos - int(pos)

    def nth(i: int) -> int:
        seen = 0
        for value, n in counts:
            seen += n
            if i < seen:
                return value
        return counts[-1][0]

    lo = nth(lo_i)
    hi = nth(lo_i + 1) if frac else lo
    return round(lo + (hi - lo) * frac, 1)


def _split_hours(start: datetime, end: datetime) -> tuple[datetime, datetime, list[datetime]]:
    """The whole hours inside [start, end) as (first, stop), and the partial hours at the ends."""
    full_from = _floor(start, "hour") + (HOUR if start != _floor(start, "hour") else timedelta(0))
    full_to = _floor(end, "hour")
    edges = []
    if start < min(full_from, end):
        edges.append(_floor(start, "hour"))
    if full_to >= full_from and full_to < end and full_to not in edges:
        edges.append(full_to)
    return full_from, max(full_to, full_from), edges


async def summary(
    pool: Pool,
    *,
    prices: Mapping[str, Any],
    range_: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every dashboard figure for one range; the keys are the API's."""
    label, start, end, unit = resolve_range(range_, start, end, now=now)
    full_from, full_to, edges = _split_hours(start, end)
    rows = await summary_store.fetch_summary_rows(pool, start=start, end=end, full_from=full_from, full_to=full_to,
                                          edge_hours=edges, unit=unit)

    step = HOUR if unit == "hour" else DAY
    buckets: dict[datetime, dict[str, Any]] = {}
    b = _floor(start, unit)
    while b < end:
        buckets[b] = dict.fromkeys(COUNTS, 0) | {"cost_usd": 0.0}
        b += step
    totals: dict[str, Any] = dict.fromkeys(COUNTS, 0)
    total_cost = 0.0
    for r in rows["buckets"]:
        point = buckets[_floor(r["bucket"].astimezone(UTC), unit)]
        for k in COUNTS:
            point[k] += int(r[k])
            totals[k] += int(r[k])
        cost = sum(estimate_cost(prices, model, int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0))
                   for model, u in r["usage"].items())
        point["cost_usd"] += cost
        total_cost += cost
    mix = rows["buckets"][0]["mix"] if rows["buckets"] else {}
    intents = {k: int(v) for k, v in mix.get("intents", {}).items()}
    agents = {k: int(v) for k, v in mix.get("agents", {}).items()}

    conversations = totals["conversations"]
    tokens = totals["input_tokens"] + totals["output_tokens"]
    approvals = {
        r["tool"]: {
            "approved": r["approved"], "edited": r["edited"], "rejected": r["rejected"],
            "expired": r["expired"], "superseded": r["superseded"], "pending": r["pending"],
            "median_decision_s": round(r["median_decision_s"], 3) if r["median_decision_s"] is not None else None,
        }
        for r in rows["approvals"]
    }
    ttft_counts = [(int(r["ms"]), int(r["n"])) for r in rows["ttft"]]
    fb = rows["feedback"][0]
    rated = fb["up"] + fb["down"]
    series = [
        {
            "bucket": _iso(b),
            "conversations": p["conversations"],
            "messages": p["user_messages"] + p["agent_messages"],
            "automated": p["automated"],
            "assisted": p["assisted"],
            "escalations": p["escalated"],
            "abandoned": p["abandoned"],
            "tool_errors": p["tool_errors"],
            "tokens": p["input_tokens"] + p["output_tokens"],
            "cost_usd": round(p["cost_usd"], 6),
        }
        for b, p in buckets.items()
    ]
    return {
        "range": label,
        "from": _iso(start),
        "to": _iso(end),
        "bucket": unit,
        "conversations": conversations,
        "messages": totals["user_messages"] + totals["agent_messages"],
        "user_messages": totals["user_messages"],
        "agent_messages": totals["agent_messages"],
        "resolutions": {k: totals[k] for k in ("automated", "assisted", "escalated", "abandoned", "open")},
        "automated_resolution_rate": _rate(totals["automated"], conversations),
        "escalation_rate": _rate(totals["escalated"], conversations),
        "approvals": approvals,
        "intents": intents,
        "agents": agents,
        "tool_calls": totals["tool_calls"],
        "tool_errors": totals["tool_errors"],
        "tool_error_rate": _rate(totals["tool_errors"], totals["tool_results"]),
        "ttft_ms": {
            "p50": _percentile(ttft_counts, 0.5),
            "p95": _percentile(ttft_counts, 0.95),
            "runs": sum(n for _, n in ttft_counts),
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
        "handoffs": _handoffs(rows["handoffs"][0], rows["operators"], totals),
    }


def _handoffs(h: dict[str, Any], operators: list[dict[str, Any]], totals: dict[str, Any]) -> dict[str, Any]:
    """Human takeovers begun in the range: time to a person's first reply, how they ended, per operator."""

    def secs(v: float | None) -> float | None:
        return round(v, 3) if v is not None else None

    return {
        "handoffs": h["handoffs"],
        "waiting": h["waiting"],
        "held": h["held"],
        "first_reply_s": {"p50": secs(h["first_reply_p50"]), "p90": secs(h["first_reply_p90"]), "count": h["replied"]},
        "resolved_by_human": h["resolved_by_human"],
        "handed_back": h["handed_back"],
        "resolved_by_assistant": totals["automated"] + totals["assisted"],
        "operators": [{"user_id": o["user_id"], "name": o["name"] or o["user_id"], "conversations": o["conversations"],
                       "messages": int(o["messages"] or 0), "resolved": o["resolved"],
                       "handed_back": o["handed_back"]} for o in operators],
    }
