"""Small helpers every node shares: the run's context and tools, the customer's text, history repair."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages import ToolCall as LCToolCall
from langgraph.runtime import Runtime

from graphs.context import RunContext
from graphs.events import Event
from graphs.state import SupportState
from graphs.tools.registry import ToolRegistry

R_co = TypeVar("R_co", covariant=True)


class Node(Protocol[R_co]):
    """What the node factories (`make_router`, `make_specialist`, ...) return: an async node
    that reads the run's context (LangGraph passes `runtime` by keyword)."""

    def __call__(self, state: SupportState, runtime: Runtime[RunContext]) -> Awaitable[R_co]: ...

__all__ = [
    "INTERNAL_TAGS",
    "StructuredCall",
    "context_of",
    "current_requests",
    "emit",
    "last_ai_with_calls",
    "last_human",
    "last_human_text",
    "model_view",
    "structured_call",
    "text_of",
    "tools_of",
]

INTERNAL_TAGS = ["nostream", "internal"]
"""Tags of model calls whose output the customer never sees (guardrail, router): LangGraph's
`messages` stream skips `nostream` calls, so their tokens never reach the translator."""


def context_of(runtime: Runtime[RunContext] | None) -> RunContext:
    ctx = getattr(runtime, "context", None)
    if ctx is None:
        return RunContext()
    if isinstance(ctx, dict):  # e.g. `langgraph dev` passing plain JSON
        return RunContext(**ctx)
    return cast(RunContext, ctx)  # langgraph types the context as Any


def tools_of(runtime: Runtime[RunContext] | None, default: ToolRegistry) -> ToolRegistry:
    """The run's registry (RunContext.tools) or the graph's default."""
    return context_of(runtime).tools or default


def emit(runtime: Runtime[RunContext] | None, event: Event) -> None:
    """Send an event (a `graphs.events` model, without stamps) on the `custom` stream."""
    writer = getattr(runtime, "stream_writer", None)
    if writer is not None:
        writer(event)


def text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) and b.get("type") == "text" else (b if isinstance(b, str) else "")
                   for b in content)


def last_human(messages: list[AnyMessage]) -> HumanMessage | None:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message
    return None


def current_requests(state: Any) -> list[dict[str, Any]]:
    """The router's agenda for the customer's latest message ([] when that message was not routed)."""
    human = last_human(state["messages"])
    requests = state.get("requests") or []
    if human is None or not requests or requests[0].get("message_id") != human.id:
        return []
    return [dict(r) for r in requests]


def last_human_text(messages: list[AnyMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return text_of(message)
    return ""


def last_ai_with_calls(messages: list[AnyMessage]) -> AIMessage | None:
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            return message if message.tool_calls else None
        if isinstance(message, HumanMessage):
            return None
    return None


def model_view(messages: list[AnyMessage]) -> list[AnyMessage]:
    """The history as a model may see it: every tool call answered.

    A cancelled run or a superseded approval can leave tool calls without results,
    which providers reject; those get a stand-in result here (not in the state).
    """
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    view: list[AnyMessage] = []
    for message in messages:
        view.append(message)
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call["id"] not in answered:
                    view.append(
                        ToolMessage(
                            content="Not run: the conversation moved on before this action happened.",
                            tool_call_id=call["id"],
                            name=call["name"],
                            status="error",
                        )
                    )
    return view


def call_id(call: LCToolCall) -> str:
    """A tool call's id. LangChain types it optional; every model this graph runs sets it."""
    return call["id"] or ""


StructuredCall = Callable[[Sequence[BaseMessage]], Awaitable[dict[str, Any] | None]]


def structured_call(model: BaseChatModel, schema: dict[str, Any], *, run_name: str) -> StructuredCall:
    """An internal model call that must answer by calling the tool `schema` describes: its arguments, or None.

    What `with_structured_output(schema, method="function_calling", include_raw=True)`
    does (bind the one tool, force it, take the first call's arguments), without the
    chain of runnables (sequence, parallel map, parser, fallbacks) it wraps around the
    model: each is a child run with its own callbacks, more work than the routing itself
    with a fast model. A reply without the call, or with arguments that are not an
    object, is None: the caller decides what a missing answer means.
    """
    name = schema["title"]
    bound = model.bind_tools([schema], tool_choice=name).with_config(tags=INTERNAL_TAGS, run_name=run_name)

    async def call(messages: Sequence[BaseMessage]) -> dict[str, Any] | None:
        response = await bound.ainvoke(list(messages))
        for tool_call in getattr(response, "tool_calls", None) or []:
            if tool_call["name"] == name and isinstance(tool_call["args"], dict):
                return tool_call["args"]
        return None

    return call
