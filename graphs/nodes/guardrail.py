"""The guardrail node: refuses prompt injection, abuse and off-topic requests before routing.

Patterns (`graphs.screening`) decide first, at no cost; when they let a message
through and the graph was built with `guardrail_model`, that model gives a second
opinion through structured output (never streamed to the customer). A refusal is
an AI message named `guardrail`; no tool is called and the run ends.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from graphs.context import RunContext
from graphs.events import IntentEvent
from graphs.nodes.common import INTERNAL_TAGS, Node, emit, last_human_text
from graphs.prompts import GUARDRAIL_PROMPT, GUARDRAIL_VERDICT_SCHEMA, GUARDRAIL_VERDICT_TOOL
from graphs.screening import REFUSALS, screen
from graphs.state import SupportState

__all__ = ["make_guardrail"]


def make_guardrail(model: BaseChatModel | None) -> Node[dict[str, Any]]:
    checker = None
    if model is not None:
        checker = model.with_structured_output(
            GUARDRAIL_VERDICT_SCHEMA, include_raw=True, method="function_calling"
        ).with_config(tags=INTERNAL_TAGS, run_name="guardrail_check")
    prompt = GUARDRAIL_PROMPT.format(tool=GUARDRAIL_VERDICT_TOOL)

    async def guardrail(state: SupportState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        text = last_human_text(state["messages"])
        verdict, _reason = screen(text)
        confidence = 1.0
        if verdict == "allow" and checker is not None and text.strip():
            result = await checker.ainvoke([SystemMessage(prompt), *_last_human(state)])
            parsed = result.get("parsed") if isinstance(result, dict) else None
            # A verdict the model failed to give is not a refusal: the patterns already ran.
            if isinstance(parsed, dict) and parsed.get("verdict") in REFUSALS:
                verdict, confidence = parsed["verdict"], 0.9
        if verdict == "allow":
            return {}
        emit(runtime, IntentEvent(intent="blocked", confidence=confidence, agent="guardrail"))
        return {
            "messages": [AIMessage(content=REFUSALS[verdict], name="guardrail")],
            "intent": "blocked",
            "confidence": confidence,
            "agent": "guardrail",
        }

    return guardrail


def _last_human(state: SupportState) -> list[HumanMessage]:
    for message in reversed(state["messages"]):
        if isinstance(message, HumanMessage):
            return [message]
    return []
