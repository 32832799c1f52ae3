"""The router node: intent + confidence -> the specialist, one clarifying question, or a human.

The model classifies the customer's last message with structured output (tool
calling, never streamed). A confident intent goes to its agent (pushed on the
dialog stack, so follow-ups go straight to it). Below the threshold the router
asks ONE clarifying question and ends the run; a second miss in a row escalates.
When a specialist has just handed the request back and the router would pick the
same specialist again, it escalates instead of looping.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, SystemMessage, ToolMessage
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from graphs.agents import AgentsConfig
from graphs.context import RunContext
from graphs.events import IntentEvent
from graphs.nodes.common import INTERNAL_TAGS, emit, model_view
from graphs.prompts import (
    ROUTE_DECISION_TOOL,
    ROUTER_PROMPT,
    TRANSFER_TOOL_NAME,
    route_decision_schema,
)
from graphs.state import SupportState

__all__ = ["DEFAULT_CLARIFYING_QUESTION", "make_router", "router_prompt"]

DEFAULT_CLARIFYING_QUESTION = (
    "I'm not sure I understood. I can check an order's status, cancel or change an order, arrange a "
    "refund, or answer questions about our policies. Which of these do you need?"
)


def router_prompt(config: AgentsConfig) -> str:
    lines = []
    for agent in config.agents:
        examples = " | ".join(f'"{e}"' for e in agent.examples)
        for intent in agent.intents:
            lines.append(f"- {intent} (agent {agent.name}): {agent.description} Examples: {examples}")
    return ROUTER_PROMPT.format(tool=ROUTE_DECISION_TOOL, intent_lines="\n".join(lines))


def make_router(model: BaseChatModel, config: AgentsConfig):
    intents = list(config.intent_agents)
    classifier = model.with_structured_output(
        route_decision_schema(intents), include_raw=True, method="function_calling"
    ).with_config(tags=INTERNAL_TAGS, run_name="router_classify")
    prompt = router_prompt(config)
    threshold = config.confidence_threshold

    async def router(state: SupportState, runtime: Runtime[RunContext]) -> Command[Any]:
        result = await classifier.ainvoke([SystemMessage(prompt), *model_view(state["messages"])])
        parsed = result.get("parsed") if isinstance(result, dict) else None
        parsed = parsed if isinstance(parsed, dict) else {}
        intent = str(parsed.get("intent") or "unclear")
        try:
            confidence = min(1.0, max(0.0, float(parsed.get("confidence", 0.0))))
        except (TypeError, ValueError):
            confidence = 0.0
        agent = config.intent_agents.get(intent)

        if intent == "escalation":
            return _escalate(runtime, intent, confidence, "the customer asked for a human")

        handed_back_by = _handed_back_by(state)
        if agent is not None and agent == handed_back_by:
            return _escalate(runtime, intent, confidence, f"the {agent} agent could not handle the request")

        if agent is None or confidence < threshold:
            misses = int(state.get("clarify_misses") or 0) + 1
            if misses >= 2:
                return _escalate(
                    runtime, "unclear", confidence, "the request stayed unclear after a clarifying question"
                )
            question = str(parsed.get("clarifying_question") or "").strip() or DEFAULT_CLARIFYING_QUESTION
            emit(runtime, IntentEvent(intent="unclear", confidence=confidence, agent="router"))
            return Command(
                goto=END,
                update={
                    "messages": [AIMessage(content=question, name="router")],
                    "intent": "unclear",
                    "confidence": confidence,
                    "agent": "router",
                    "clarify_misses": misses,
                },
            )

        emit(runtime, IntentEvent(intent=intent, confidence=confidence, agent=agent))
        return Command(
            goto=agent,
            update={"intent": intent, "confidence": confidence, "agent": agent, "dialog_stack": agent, "clarify_misses": 0},
        )

    return router


def _escalate(runtime: Runtime[RunContext], intent: str, confidence: float, reason: str) -> Command[Any]:
    emit(runtime, IntentEvent(intent=intent, confidence=confidence, agent="escalation"))
    return Command(
        goto="escalation",
        update={"intent": intent, "confidence": confidence, "agent": "escalation", "clarify_misses": 0,
                "escalation_reason": reason},
    )


def _handed_back_by(state: SupportState) -> str | None:
    """The specialist whose transfer_to_router call brought the run here, if that just happened."""
    messages = state["messages"]
    if not messages or not isinstance(messages[-1], ToolMessage) or messages[-1].name != TRANSFER_TOOL_NAME:
        return None
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            return message.name
    return None
