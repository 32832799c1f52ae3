"""The router node: intents + confidence -> the specialists, small talk, one clarifying question, or a human.

The model classifies the customer's last message with structured output (tool
calling, never streamed). A message may hold several requests: the decision then
lists them (`requests`, each an intent and its self-contained span of the message,
references resolved). They become the state's `requests` agenda, and their agents
are pushed on the dialog stack so that the first request's agent is on top; each
specialist pops itself when it has answered and another request waits (see
`graphs.nodes.specialist`). Small talk (greetings, thanks, off-topic questions) is
answered here with the model's `reply`. Below the threshold the router asks ONE
clarifying question and ends the run; a second miss in a row escalates. When a
specialist has just handed a request back and the router would pick the same
specialist again, it escalates instead of looping.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from graphs.agents import AgentsConfig
from graphs.context import RunContext
from graphs.events import IntentEvent
from graphs.nodes.common import (
    Node,
    current_requests,
    emit,
    last_human,
    model_view,
    structured_call,
    text_of,
)
from graphs.prompts import (
    ROUTE_DECISION_TOOL,
    ROUTER_PROMPT,
    SMALL_TALK_INTENT,
    TRANSFER_TOOL_NAME,
    route_decision_schema,
)
from graphs.state import SupportState

__all__ = ["DEFAULT_CLARIFYING_QUESTION", "DEFAULT_SMALL_TALK_REPLY", "make_router", "router_prompt"]

DEFAULT_CLARIFYING_QUESTION = (
    "I'm not sure I understood. I can check an order's status, cancel or change an order, arrange a "
    "refund, or answer questions about our policies. Which of these do you need?"
)
DEFAULT_SMALL_TALK_REPLY = (
    "Hello! I can check an order's status, cancel or change an order, arrange a refund, or answer "
    "questions about our policies. What can I do for you?"
)


def router_prompt(config: AgentsConfig) -> str:
    lines = []
    for agent in config.agents:
        examples = " | ".join(f'"{e}"' for e in agent.examples)
        for intent in agent.intents:
            lines.append(f"- {intent} (agent {agent.name}): {agent.description} Examples: {examples}")
    return ROUTER_PROMPT.format(tool=ROUTE_DECISION_TOOL, intent_lines="\n".join(lines))


def _intent(runtime: Runtime[RunContext], intent: str, confidence: float, agent: str) -> None:
    emit(runtime, IntentEvent(intent=intent, confidence=confidence, agent=agent))


def make_router(model: BaseChatModel, config: AgentsConfig) -> Node[Command[Any]]:
    intents = list(config.intent_agents)
    classify = structured_call(model, route_decision_schema(intents), run_name="router_classify")
    prompt = router_prompt(config)
    threshold = config.confidence_threshold

    async def router(state: SupportState, runtime: Runtime[RunContext]) -> Command[Any]:
        messages = state["messages"]
        human = last_human(messages)
        handed_back_by = _handed_back_by(state)
        agenda = current_requests(state)
        active = next((r for r in agenda if not r["done"]), None) if handed_back_by else None
        view = model_view(messages)
        if active is not None:  # a specialist handed back one request of several: classify that one alone
            view = [*view, HumanMessage(active["text"])]
        parsed = await classify([SystemMessage(prompt), *view]) or {}
        intent = str(parsed.get("intent") or "unclear")
        try:
            confidence = min(1.0, max(0.0, float(parsed.get("confidence", 0.0))))
        except (TypeError, ValueError):
            confidence = 0.0
        requests = _requests(parsed, intent, active["text"] if active else text_of(human) if human else "")

        if intent == "escalation" or any(r["intent"] == "escalation" for r in requests):
            return _escalate(runtime, "escalation", confidence, "the customer asked for a human")

        if intent == SMALL_TALK_INTENT and confidence >= threshold:
            _intent(runtime, SMALL_TALK_INTENT, confidence, "router")
            reply = str(parsed.get("reply") or "").strip() or DEFAULT_SMALL_TALK_REPLY
            return Command(
                goto=END,
                update={"messages": [AIMessage(content=reply, name="router")], "intent": SMALL_TALK_INTENT,
                        "confidence": confidence, "agent": "router", "clarify_misses": 0},
            )

        routed = [(r, config.intent_agents[r["intent"]]) for r in requests if r["intent"] in config.intent_agents]
        if len(routed) == 1 and handed_back_by is not None and routed[0][1] == handed_back_by:
            return _escalate(runtime, routed[0][0]["intent"], confidence,
                             f"the {handed_back_by} agent could not handle the request")

        if not routed or confidence < threshold:
            misses = int(state.get("clarify_misses") or 0) + 1
            if misses >= 2:
                return _escalate(
                    runtime, "unclear", confidence, "the request stayed unclear after a clarifying question"
                )
            question = str(parsed.get("clarifying_question") or "").strip() or DEFAULT_CLARIFYING_QUESTION
            _intent(runtime, "unclear", confidence, "router")
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

        for request, agent in routed:
            _intent(runtime, request["intent"], confidence, agent)
        new = [
            {"intent": r["intent"], "agent": agent, "text": r["text"], "message_id": human.id if human else None,
             "done": False, "answer": ""}
            for r, agent in routed
        ]
        if active is not None:  # the handed-back request is replaced by its new classification
            index = agenda.index(active)
            new = [*agenda[:index], *new, *agenda[index + 1:]]
        stack = list(state.get("dialog_stack") or [])
        first = next(r["agent"] for r in new if not r["done"])
        return Command(
            goto=first,
            update={
                "intent": routed[0][0]["intent"],
                "confidence": confidence,
                "agent": first,
                # innermost last: the first request's agent on top, the others below it in order
                "dialog_stack": [*stack, *reversed([agent for _, agent in routed])],
                "requests": new,
                "clarify_misses": 0,
            },
        )

    return router


def _requests(parsed: dict[str, Any], intent: str, text: str) -> list[dict[str, str]]:
    """The decision's requests (each {"intent", "text"}), or the one intent over the whole message."""
    raw = parsed.get("requests")
    requests = []
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and isinstance(item.get("intent"), str) and str(item.get("text") or "").strip():
                requests.append({"intent": item["intent"], "text": str(item["text"]).strip()})
    return requests or [{"intent": intent, "text": text}]


def _escalate(runtime: Runtime[RunContext], intent: str, confidence: float, reason: str) -> Command[Any]:
    _intent(runtime, intent, confidence, "escalation")
    return Command(
        goto="escalation",
        update={"intent": intent, "confidence": confidence, "agent": "escalation", "clarify_misses": 0,
                "escalation_reason": reason, "requests": []},
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
