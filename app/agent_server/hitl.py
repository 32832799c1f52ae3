"""Our approvals in LangChain's human-in-the-loop schema, and HITL decisions back to ours.

An `interrupt` event becomes one LangGraph `Interrupt` whose value is the `HITLRequest`
the graph's `interrupt()` carries (`action_requests` with name/args/description,
`review_configs` with `allowed_decisions` and `args_schema`; built by
`graphs.nodes.approval.hitl_request`, so it is the same whether read from an event, a
pending approval or a checkpoint), with our own fields (interrupt_id, agent, risk,
approver, expires_at) alongside. A resume `{"decisions": [...]}` becomes the
(approved, args, reason) our approvals service decides with: the same policy, TTL,
`decided_by` and idempotency as on the WebSocket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.agent_server.errors import Unsupported
from graphs.nodes.approval import ApprovalResumeError, from_hitl_response, hitl_request

__all__ = ["Decision", "parse_resume", "to_interrupt"]

_OURS = ("interrupt_id", "agent", "risk", "approver", "expires_at")


def to_interrupt(event: dict[str, Any]) -> dict[str, Any]:
    """A LangGraph `Interrupt` ({value, id}) for our interrupt event (or `interrupt()` payload)."""
    value: dict[str, Any] = hitl_request(event)
    value.update({k: event[k] for k in _OURS if event.get(k) is not None})
    return {"value": value, "id": event["interrupt_id"]}


@dataclass(frozen=True)
class Decision:
    approved: bool
    args: dict[str, Any] | None
    reason: str | None


def parse_resume(command: dict[str, Any], action: str | None = None) -> Decision:
    """The decision a `command` carries: `resume.decisions[0]`, or `goto: "__end__"` (a rejection).
    `action`: the pending action, which an edit may not change."""
    if "resume" not in command:
        if command.get("goto") in ("__end__", ["__end__"]):
            return Decision(False, None, "the reviewer ended the run")
        raise Unsupported("command", "only command.resume (with decisions) and command.goto='__end__' are supported")
    try:
        answer = from_hitl_response(command["resume"], action)
    except ApprovalResumeError as err:
        raise Unsupported(f"command.resume.{err.field}" if err.field else "command.resume", err.reason) from None
    return Decision(answer["approved"], answer.get("args"), answer.get("reason"))
