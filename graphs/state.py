"""The graph's state: plain data only (messages, str, float, dict, list).

`InputState` is the narrow public input (a run starts with `{"messages": [...]}`);
`SupportState` adds what the nodes keep between steps. Nothing here is a pydantic
object, because checkpointed pydantic values can come back as dicts on resume
(langgraph#7695).
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

__all__ = ["POP", "InputState", "SupportState", "update_dialog_stack"]

POP = "pop"
"""Update value for `dialog_stack` that removes the top agent."""


def update_dialog_stack(left: list[str], right: str | list[str] | None) -> list[str]:
    """Reducer: push an agent name, `"pop"` the top one, or replace with a list (`[]` clears)."""
    if right is None:
        return left
    if isinstance(right, list):
        return list(right)
    if right == POP:
        return left[:-1]
    return [*left, right]


class InputState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation. A run adds one human message (or resumes an interrupt)."""


class SupportState(InputState, total=False):
    intent: str
    """The router's (or guardrail's) latest classification: order_status, refund, blocked..."""
    confidence: float
    """The router's confidence in `intent`, 0..1."""
    agent: str
    """The agent that owns the latest reply (a specialist, `router`, `guardrail` or `escalation`)."""
    dialog_stack: Annotated[list[str], update_dialog_stack]
    """Specialists in charge, innermost last. Non-empty: the next message goes straight to the top one."""
    requests: list[dict[str, Any]]
    """The requests of the latest routed message, in the customer's order (the agenda the dialog stack
    works through): {"intent", "agent", "text" (self-contained span), "message_id" (the human message),
    "done" (bool), "answer" (the specialist's final words)}."""
    clarify_misses: int
    """Consecutive turns the router could not classify; the second escalates."""
    pending_actions: list[dict[str, Any]]
    """Assessed tool calls of the latest AI message: call_id, interrupt_id, tool, args, risk, approver, message..."""
    decisions: dict[str, dict[str, Any]]
    """call_id -> {"outcome", "args", "reason", "decided_as"} from the approval gate, for the tool node."""
    escalation_reason: str
    """Why the router sent the thread to the escalation node."""
    handoff: dict[str, Any] | None
    """Set when the thread waits for a human: {"reason", "queue"}. Clear it to give the thread back to the bot."""
