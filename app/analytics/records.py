"""Conversation records: what one thread's event log adds up to, and what it cost.

The record itself is maintained in Postgres by the `events_analytics` trigger
(see `app/core/migrations.py`, entry 1, and `docs/analytics.md` for every
field). This module prices token usage with `Settings.model_prices` and turns a
stored record into the JSON that `GET /api/replay` lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.core.pii import mask_text
from graphs.events import iso_z

__all__ = ["estimate_cost", "price_for", "record_json", "usage_cost"]


def price_for(prices: Mapping[str, Any], model: str) -> tuple[float, float]:
    """(input, output) USD per 1,000 tokens for `model`.

    Looked up as the full name (`openai/gpt-4o-mini`), then its last part
    (`gpt-4o-mini`), then its provider (`demo`), then `default`; unpriced: free.
    """
    parts = model.split("/")
    for key in (model, parts[-1], parts[0], "default", "*"):
        price = prices.get(key)
        if price is not None:
            if hasattr(price, "model_dump"):
                price = price.model_dump()
            return float(price.get("input_per_1k", 0)), float(price.get("output_per_1k", 0))
    return 0.0, 0.0


def estimate_cost(prices: Mapping[str, Any], model: str, input_tokens: int, output_tokens: int) -> float:
    """Estimated USD for one model's tokens."""
    p_in, p_out = price_for(prices, model)
    return (input_tokens * p_in + output_tokens * p_out) / 1000


def usage_cost(prices: Mapping[str, Any], usage: Mapping[str, Mapping[str, Any]]) -> float:
    """Estimated USD for a record's `usage` (model -> {input_tokens, output_tokens})."""
    return sum(
        estimate_cost(prices, model, int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0))
        for model, u in usage.items()
    )


def _iso(value: datetime | None) -> str | None:
    return iso_z(value) if value is not None else None


def record_json(row: Mapping[str, Any], *, prices: Mapping[str, Any], mask: bool) -> dict[str, Any]:
    """A stored conversation record as one row of `GET /api/replay`."""
    text = mask_text if mask else (lambda s: s)
    interrupts = [
        {
            "interrupt_id": iid,
            "action": item.get("action"),
            "agent": item.get("agent"),
            "outcome": item.get("outcome"),
            "created_at": item.get("created_at"),
            "decided_at": item.get("decided_at"),
            "decided_by": text(item["decided_by"]) if item.get("decided_by") else item.get("decided_by"),
        }
        for iid, item in sorted(row["interrupt_log"].items(), key=lambda kv: kv[1].get("created_at") or "")
    ]
    handoff = None
    if row["handoff_at"] is not None:
        handoff = {"at": _iso(row["handoff_at"]), "queue": row["handoff_queue"],
                   "reason": text(row["handoff_reason"] or "")}
    return {
        "thread_id": row["thread_id"],
        "user_id": text(row["user_id"]),
        "title": text(row["title"] or ""),
        "started_at": _iso(row["started_at"]),
        "last_activity_at": _iso(row["last_activity_at"]),
        "ended_at": _iso(row["ended_at"]),
        "status": row["state"],
        "resolution": row["resolution"],
        "intents": list(row["intents"]),
        "agents": list(row["agents"]),
        "tools": list(row["tools"]),
        "messages": row["user_messages"] + row["agent_messages"],
        "user_messages": row["user_messages"],
        "agent_messages": row["agent_messages"],
        "runs": row["runs"],
        "tool_calls": row["tool_calls"],
        "tool_errors": row["tool_errors"],
        "run_errors": row["run_errors"],
        "interrupts": row["interrupts"],
        "interrupt_outcomes": interrupts,
        "handoff": handoff,
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "cost_usd": round(usage_cost(prices, row["usage"]), 6),
        "feedback": {"up": row["feedback_up"], "down": row["feedback_down"]},
        "last_seq": row["last_seq"],
    }
