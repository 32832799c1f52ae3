"""The guardrail: refuses prompt injection, abuse and off-topic requests before anything acts on them.

Patterns (`graphs.screening`) decide first, at no cost; when they let a message
through and the graph was built with `guardrail_model`, that model gives a second
opinion through structured output (never streamed to the customer). A refusal is
an AI message named `guardrail`; no tool is called and the run ends.

`make_screen(model)` returns the check (`Screen.patterns`, then `Screen.second_opinion`)
and `refusal(...)` the state update of a refused message. The entry node that runs
it, alongside the router's classification, is `graphs.nodes.triage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from graphs.context import RunContext
from graphs.events import IntentEvent
from graphs.nodes.common import StructuredCall, emit, last_human_text, structured_call
from graphs.prompts import GUARDRAIL_PROMPT, GUARDRAIL_VERDICT_SCHEMA, GUARDRAIL_VERDICT_TOOL
from graphs.screening import REFUSALS, screen
from graphs.state import SupportState

__all__ = ["Screen", "make_screen", "refusal"]

ALLOW = "allow"


@dataclass(frozen=True)
class Screen:
    """The guardrail's two checks of the customer's last message."""

    checker: StructuredCall | None
    prompt: str

    def patterns(self, state: SupportState) -> tuple[str, float]:
        """(verdict, confidence) from the patterns alone: free, and final when it refuses."""
        verdict, _reason = screen(last_human_text(state["messages"]))
        return verdict, 1.0

    async def second_opinion(self, state: SupportState) -> tuple[str, float]:
        """The model's verdict on a message the patterns let through ("allow" without a model)."""
        last = _last_human(state)
        if self.checker is None or not last or not last_human_text(state["messages"]).strip():
            return ALLOW, 1.0
        parsed = await self.checker([SystemMessage(self.prompt), *last])
        # A verdict the model failed to give is not a refusal: the patterns already ran.
        if isinstance(parsed, dict) and parsed.get("verdict") in REFUSALS:
            return str(parsed["verdict"]), 0.9
        return ALLOW, 1.0


def make_screen(model: BaseChatModel | None) -> Screen:
    checker = None if model is None else structured_call(model, GUARDRAIL_VERDICT_SCHEMA, run_name="guardrail_check")
    return Screen(checker=checker, prompt=GUARDRAIL_PROMPT.format(tool=GUARDRAIL_VERDICT_TOOL))


def refusal(runtime: Runtime[RunContext], verdict: str, confidence: float) -> dict[str, Any]:
    """The state update (and the `blocked` intent event) of a refused message."""
    emit(runtime, IntentEvent(intent="blocked", confidence=confidence, agent="guardrail"))
    return {
        "messages": [AIMessage(content=REFUSALS[verdict], name="guardrail")],
        "intent": "blocked",
        "confidence": confidence,
        "agent": "guardrail",
    }


def _last_human(state: SupportState) -> list[HumanMessage]:
    for message in reversed(state["messages"]):
        if isinstance(message, HumanMessage):
            return [message]
    return []
