"""Turn a logged conversation (its event log, as replay shows it) into an eval case.

`case_from_events(events, case_id)` reads the events of one thread in seq order:
each `run_start` with trigger `message` opens a turn (`say` = its content); the
`intent`, `tool_call` and `interrupt` events of that turn and the runs that resume
it become the expected intents, calls and approvals, each approval decided as it
was (`interrupt_decided`: approved, edited, rejected; superseded -> pending);
`handoff` sets the handoff; the order numbers the final answer names become its
must-contain facts. The result is what happened, as a baseline to edit: a case
says what SHOULD happen, so correct it where the agent was wrong.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["case_from_events", "eval_case_for_thread"]

_ORDER = re.compile(r"(?<![\d.])\d{4}(?![\d.])")


def case_from_events(events: list[dict[str, Any]], case_id: str, checks: str | None = None) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    pending: dict[str, dict[str, Any]] = {}
    turn: dict[str, Any] | None = None
    user = None
    for event in events:
        kind = event.get("type")
        if kind == "run_start" and event.get("trigger") in ("message", "form_submit") and event.get("content"):
            turn = {"say": event["content"], "intents": [], "agents": [], "tools": [], "approvals": [],
                    "handoff": False}
            turns.append(turn)
            continue
        if turn is None:
            continue
        if kind == "intent":
            turn["intents"].append(event["intent"])
            turn["agents"].append(event["agent"])
        elif kind == "tool_call":
            call_id = event["call_id"]
            if not any(t.get("_id") == call_id for t in turn["tools"]):
                turn["tools"].append({"tool": event["tool"], "args": event["args"], "_id": call_id})
        elif kind == "interrupt":
            approval = {"action": event["action"], "args": event["args"], "approver": event["approver"],
                        "decide": "pending"}
            pending[event["interrupt_id"]] = approval
            turn["approvals"].append(approval)
            call_id = event.get("call_id") or event["interrupt_id"]
            turn["tools"].append({"tool": event["action"], "args": event["args"], "_id": call_id})
        elif kind == "interrupt_decided":
            approval = pending.get(event["interrupt_id"])
            if approval is not None:
                outcome = event.get("outcome") or ("approved" if event.get("approved") else "rejected")
                approval["decide"] = {"approved": "approve", "edited": "edit", "rejected": "reject"}.get(outcome,
                                                                                                     "pending")
                if outcome == "edited" and event.get("args"):
                    approval["edit_args"] = event["args"]
        elif kind == "handoff":
            turn["handoff"] = True
        elif kind == "message_complete":
            turn["answer_contains"] = list(dict.fromkeys(_ORDER.findall(event.get("content") or "")))
            user = user or event.get("user_id")
    for t in turns:
        seen: set[str] = set()
        tools = []
        for call in t["tools"]:
            if call["_id"] not in seen:
                seen.add(call["_id"])
                tools.append({"tool": call["tool"], "args": call["args"]})
        t["tools"] = tools
    case: dict[str, Any] = {
        "id": case_id,
        "checks": checks or "exported from a replayed conversation: edit the expectations to what should happen",
        "tags": ["exported"],
        "turns": turns,
    }
    return case


async def eval_case_for_thread(pool: Any, principal: Any, thread_id: str, case_id: str | None = None) -> dict[str, Any]:
    """The replay timeline of a thread (access rules and masking as for replay) as an eval case, plus its YAML."""
    import orjson
    import yaml

    from app.analytics.replay import timeline

    body = b"".join([chunk async for chunk in await timeline(pool, principal, thread_id, tokens=False)])
    events = orjson.loads(body)["events"]
    case = case_from_events(events, case_id or f"exported-{thread_id}".lower()[:80])
    return {"case": case, "yaml": yaml.safe_dump([case], sort_keys=False, allow_unicode=True)}
