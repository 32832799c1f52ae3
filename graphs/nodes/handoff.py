"""The escalation node: hands the thread to a human support queue.

The first time, it tells the customer, emits a `handoff` event (reason, queue) and
records `handoff` in the state; the dialog stack is cleared. While `handoff` is
set, every new message comes here and gets a short "someone will reply" note with
no new event. Clearing `handoff` (update_state {"handoff": None}) gives the thread
back to the bot.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from graphs.context import RunContext
from graphs.events import Handoff
from graphs.nodes.common import emit
from graphs.state import SupportState

__all__ = ["HANDOFF_MESSAGE", "STILL_WAITING_MESSAGE", "make_escalation"]

HANDOFF_MESSAGE = (
    "I've passed your conversation to a human support agent. Someone from our team will reply here shortly."
)
STILL_WAITING_MESSAGE = "Your conversation is with our support team; a support agent will reply here soon."


def make_escalation(queue: str):
    async def escalation(state: SupportState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        if state.get("handoff"):
            return {"messages": [AIMessage(content=STILL_WAITING_MESSAGE, name="escalation")], "agent": "escalation"}
        reason = state.get("escalation_reason") or "the customer asked for a human"
        emit(runtime, Handoff(reason=reason, queue=queue))
        return {
            "messages": [AIMessage(content=HANDOFF_MESSAGE, name="escalation")],
            "agent": "escalation",
            "handoff": {"reason": reason, "queue": queue},
            "dialog_stack": [],
        }

    return escalation
