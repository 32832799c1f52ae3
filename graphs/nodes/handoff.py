"""The escalation node: hands the thread to a human support queue.

The first time, it tells the customer, emits a `handoff` event (reason, queue) and
records `handoff` in the state; the dialog stack is cleared. While `handoff` is
set, every new message comes here and gets a short "someone will reply" note with
no new event. Clearing `handoff` (update_state {"handoff": None}) gives the thread
back to the bot.

Who holds a handed-off thread and who answers it is the server's business. What the
people said comes back into the state as messages the model sees: `takeover_messages`
turns them into named messages (the customer's as `HumanMessage`, a person's as an
`AIMessage` named after them, marked `human_agent`), added with `handoff: None`.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.runtime import Runtime

from graphs.context import RunContext
from graphs.events import Handoff
from graphs.nodes.common import Node, emit
from graphs.state import SupportState

__all__ = ["HANDOFF_MESSAGE", "HUMAN_AGENT_KEY", "STILL_WAITING_MESSAGE", "make_escalation", "takeover_messages"]

HUMAN_AGENT_KEY = "human_agent"
"""additional_kwargs key of a message a person wrote: {"user_id", "name"}."""

HANDOFF_MESSAGE = (
    "I've passed your conversation to a human support agent. Someone from our team will reply here shortly."
)
STILL_WAITING_MESSAGE = "Your conversation is with our support team; a support agent will reply here soon."


def make_escalation(queue: str) -> Node[dict[str, Any]]:
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


def _message_name(name: str) -> str:
    # providers accept only these characters in a message's name (OpenAI: ^[A-Za-z0-9_-]{1,64}$)
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:64] or "support_agent"


def takeover_messages(turns: list[dict[str, Any]]) -> list[BaseMessage]:
    """The `customer_message` / `human_message` events of a takeover as state messages.

    Ids derive from the events' message ids, so adding the same turns twice changes nothing.
    """
    out: list[BaseMessage] = []
    for turn in turns:
        if turn.get("type") == "human_message":
            out.append(AIMessage(content=turn["content"], name=_message_name(turn["name"]), id=f"hm_{turn['message_id']}",
                                 additional_kwargs={HUMAN_AGENT_KEY: {"user_id": turn["user_id"], "name": turn["name"]}}))
        elif turn.get("type") == "customer_message":
            kwargs = {"client_msg_id": turn["client_msg_id"]} if turn.get("client_msg_id") else {}
            out.append(HumanMessage(content=turn["content"], id=f"cm_{turn['message_id']}", additional_kwargs=kwargs))
    return out
