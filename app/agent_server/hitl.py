"""Our approvals in LangChain's human-in-the-loop schema, and HITL decisions back to ours.

An `interrupt` event becomes one LangGraph `Interrupt` whose value is a `HITLRequest`
(`action_requests` with name/args/description, `review_configs` with
`allowed_decisions` and `args_schema`), so agent-chat-ui and Agent Inbox render
Approve / Edit / Reject as they do for `HumanInTheLoopMiddleware`; our own fields
(interrupt_id, agent, risk, approver, expires_at) ride alongside. A resume
`{"decisions": [...]}` becomes the (approved, args, reason) our approvals service
decides with: the same policy, TTL and idempotency as on the WebSocket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.agent_server.errors import Unsupported

__all__ = ["Decision", "parse_resume", "to_interrupt"]

_OURS = ("interrupt_id", "agent", "risk", "approver", "expires_at")


def to_interrupt(event: dict[str, Any]) -> dict[str, Any]:
    """A LangGraph `Interrupt` ({value, id}) for our interrupt event (or `interrupt()` payload)."""
    review: dict[str, Any] = {"action_name": event["action"], "allowed_decisions": ["approve", "edit", "reject"]}
    if event.get("args_schema"):
        review["args_schema"] = event["args_schema"]
    value: dict[str, Any] = {
        "action_requests": [{"name": event["action"], "args": event.get("args") or {},
                             "description": event.get("message", "")}],
        "review_configs": [review],
    }
    value.update({k: event[k] for k in _OURS if event.get(k) is not None})
    return {"value": value, "id": event["interrupt_id"]}


@dataclass(frozen=True)
class Decision:
    approved: bool
    args: dict[str, Any] | None
    reason: str | None


def parse_resume(command: dict[str, Any]) -> Decision:
    """The decision a `command` carries: `resume.decisions[0]`, or `goto: "__end__"` (a rejection)."""
    if "resume" not in command:
        if command.get("goto") in ("__end__", ["__end__"]):
            return Decision(False, None, "the reviewer ended the run")
        raise Unsupported("command", "only command.resume (with decisions) and command.goto='__end__' are supported")
    resume = command["resume"]
    if not isinstance(resume, dict) or not isinstance(resume.get("decisions"), list):
        raise Unsupported("command.resume", 'must be {"decisions": [{"type": "approve" | "edit" | "reject", ...}]} '
                                            "(LangChain's HITLResponse)")
    decisions = resume["decisions"]
    if len(decisions) != 1:
        raise Unsupported("command.resume.decisions",
                          f"each approval asks about one action, so send exactly one decision (got {len(decisions)})")
    d = decisions[0]
    kind = d.get("type") if isinstance(d, dict) else None
    if kind == "approve":
        return Decision(True, None, None)
    if kind == "reject":
        message = d.get("message")
        if message is not None and not isinstance(message, str):
            raise Unsupported("command.resume.decisions[0].message", "must be a string")
        return Decision(False, None, message)
    if kind == "edit":
        action = d.get("edited_action")
        if not isinstance(action, dict) or not isinstance(action.get("args"), dict):
            raise Unsupported("command.resume.decisions[0].edited_action",
                              'must be {"name": <the action>, "args": {...}}')
        return Decision(True, action["args"], None)
    raise Unsupported("command.resume.decisions[0].type",
                      f"{kind!r} is not supported; use 'approve', 'edit' or 'reject'")


def edited_name(command: dict[str, Any]) -> str | None:
    """The action name an edit decision names (checked against the pending action)."""
    try:
        d = command["resume"]["decisions"][0]
        return d["edited_action"].get("name") if d.get("type") == "edit" else None
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
