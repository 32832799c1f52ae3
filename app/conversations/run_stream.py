"""The only translator from LangGraph stream parts to `graphs.events` Events.

`stream_events(graph, graph_input, config=..., context=...)` runs one pass of the
support graph with `stream_mode=["messages", "updates", "custom"]` and yields, in
order: `intent` / `handoff` / `tool_call` / `tool_result` (emitted by nodes on the
custom stream), `token` (text deltas of customer-visible messages only), and exactly
one end event: `interrupt` (from the `__interrupt__` update) or `message_complete`.
Events carry no thread_id/seq/run_id/ts; the caller stamps them.

Which text is customer-visible: the internal model calls (guardrail, router) are
tagged `nostream`, so LangGraph never puts their tokens on the messages stream.
Streamed chunks become tokens as they come; a whole AI message that a node returns
without streaming it (a refusal, a clarifying question, the handoff note) becomes
one token, unless its id was already streamed (LangGraph re-emits finished
messages, which must not double the text). All tokens of a run share one
`message_id`, and `message_complete.content` is exactly their concatenation.

`RunProgress` is updated as the run goes: text streamed so far, and token usage of
every model call (finished calls plus the chunks of one still streaming), so a
caller that cancels the run still knows the partial answer and what it cost.
`save_partial_answer` writes a cancelled run's text into the thread.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackManager
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import LLMResult

from graphs.events import EVENT_ADAPTER, InterruptEvent, MessageComplete, Token, Usage
from graphs.prompts import TRANSFER_TOOL_NAME

__all__ = ["RunProgress", "save_partial_answer", "stream_events"]

_NODE_EVENTS = frozenset({"intent", "handoff", "tool_call", "tool_result"})
_TOOL_NODE = "tools"
_READS = frozenset({"GET", "HEAD"})
_SEGMENT_SEPARATOR = "\n\n"


@dataclass
class RunProgress:
    """What a run has produced so far; readable at any time, also after cancellation."""

    message_id: str | None = None
    agent: str | None = None
    text: str = ""
    """The customer-visible text streamed so far (the concatenation of the token deltas)."""
    _finished: list[int] = field(default_factory=lambda: [0, 0])
    _streaming: dict[UUID, list[int]] = field(default_factory=dict)

    @property
    def input_tokens(self) -> int:
        return self._finished[0] + sum(u[0] for u in self._streaming.values())

    @property
    def output_tokens(self) -> int:
        return self._finished[1] + sum(u[1] for u in self._streaming.values())

    def usage(self) -> Usage:
        return Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens)


class _UsageCallback(AsyncCallbackHandler):
    """Sums `usage_metadata` of every chat-model call of the run, internal ones included."""

    run_inline = True

    def __init__(self, progress: RunProgress) -> None:
        self.progress = progress

    async def on_llm_new_token(self, token: str, *, chunk: Any = None, run_id: UUID, **kwargs: Any) -> None:
        usage = getattr(getattr(chunk, "message", None), "usage_metadata", None)
        if usage:
            counted = self.progress._streaming.setdefault(run_id, [0, 0])
            counted[0] += usage.get("input_tokens", 0)
            counted[1] += usage.get("output_tokens", 0)

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        streamed = self.progress._streaming.pop(run_id, None)
        totals = [0, 0]
        found = False
        for generations in response.generations:
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
                if usage:
                    found = True
                    totals[0] += usage.get("input_tokens", 0)
                    totals[1] += usage.get("output_tokens", 0)
        if not found and streamed:
            totals = streamed
        self.progress._finished[0] += totals[0]
        self.progress._finished[1] += totals[1]

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        streamed = self.progress._streaming.pop(run_id, None)
        if streamed:  # spent even though the call failed
            self.progress._finished[0] += streamed[0]
            self.progress._finished[1] += streamed[1]


def _with_callback(config: dict[str, Any] | None, handler: AsyncCallbackHandler) -> dict[str, Any]:
    config = dict(config or {})
    callbacks = config.get("callbacks")
    if callbacks is None:
        config["callbacks"] = [handler]
    elif isinstance(callbacks, list):
        config["callbacks"] = [*callbacks, handler]
    elif isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(handler, inherit=True)
        config["callbacks"] = manager
    else:
        raise TypeError(f"config['callbacks'] must be a list or a callback manager, got {type(callbacks).__name__}")
    return config


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def _repeatable(tools: Any, names: list[str]) -> bool:
    """Whether running these tool calls twice is harmless: every one a read (GET/HEAD) or the transfer."""
    for name in names:
        if name == TRANSFER_TOOL_NAME:
            continue
        tool = tools.get(name) if tools is not None else None
        if tool is None or str(getattr(tool.spec, "method", "")).upper() not in _READS:
            return False
    return True


async def stream_events(
    graph: Any,
    graph_input: Any,
    *,
    config: dict[str, Any],
    context: Any,
    progress: RunProgress | None = None,
    tools: Any = None,
) -> AsyncIterator[Any]:
    """Run the graph once and yield Events (see the module docstring for order and rules).

    graph_input: `{"messages": [HumanMessage(...)]}` or `Command(resume={...})`.
    config: at least `{"configurable": {"thread_id": ...}}`.
    progress: updated in place as the run goes; pass one to read usage/text after a cancel.
    tools: the run's `ToolRegistry` (default: `context.tools`), to tell reads from writes (below).

    Checkpoints: a new message runs with `durability="exit"`, paused before the first
    node (so the input is checkpointed before anything runs) and before the tool node:
    its supersteps leave no checkpoint of their own, only a pause, an interrupt or the
    end does (4 checkpoints for a status question instead of 8). A run that dies meanwhile is taken over from the last of those
    and does again what it had done since, which is only model calls and reads. When
    the calls about to run include one that is not a read, the rest of the run goes
    on with LangGraph's default durability (a checkpoint per superstep), as do resumed
    and recovered runs: a write runs at most once per checkpointed tool call id, the
    `Idempotency-Key`.
    """
    progress = progress if progress is not None else RunProgress()
    run_config = _with_callback(config, _UsageCallback(progress))
    streamed_ids: set[str] = set()
    segment_id: str | None = None
    last_agent: str | None = None
    pending_interrupt: InterruptEvent | None = None
    tools = tools if tools is not None else getattr(context, "tools", None)
    durability: str | None = None
    before: str | list[str] | None = None
    if isinstance(graph_input, dict) and getattr(graph, "checkpointer", None) is not None:
        # LangGraph applies the input (and drops what an older checkpoint still had pending),
        # runs nothing, and checkpoints it as it exits at the pause before the first node
        durability, before = "exit", "*"
    calls: list[str] = []

    def token(delta: str, agent: str) -> Token:
        if progress.message_id is None:
            progress.message_id = segment_id or f"msg_{uuid.uuid4().hex}"
        progress.agent = agent
        progress.text += delta
        return Token(message_id=progress.message_id, agent=agent, content=delta)

    paused = True
    while paused:
        paused = False
        async for mode, chunk in graph.astream(
            graph_input, config=run_config, context=context, stream_mode=["messages", "updates", "custom"],
            **({"durability": durability, "interrupt_before": before} if durability else {}),
        ):
            if mode == "custom":
                if isinstance(chunk, dict) and chunk.get("type") in _NODE_EVENTS:
                    yield EVENT_ADAPTER.validate_python(chunk)
            elif mode == "updates":
                if not isinstance(chunk, dict):
                    continue
                if "__interrupt__" in chunk:
                    interrupts = chunk["__interrupt__"]
                    if interrupts and pending_interrupt is None:
                        pending_interrupt = InterruptEvent.model_validate(interrupts[0].value)
                    elif not interrupts and before:
                        paused = True  # a pause (breakpoint): go on from its checkpoint
                    continue
                for update in chunk.values():
                    if not isinstance(update, dict):
                        continue
                    if isinstance(update.get("agent"), str):
                        last_agent = update["agent"]
                    for m in update.get("messages") or ():
                        if isinstance(m, AIMessage) and m.tool_calls:
                            calls = [c["name"] for c in m.tool_calls]
            elif mode == "messages":
                message, metadata = chunk
                if not isinstance(message, (AIMessage, AIMessageChunk)) or "internal" in (metadata.get("tags") or []):
                    continue
                is_chunk = isinstance(message, AIMessageChunk)
                if not is_chunk and message.id in streamed_ids:
                    continue  # a finished message LangGraph re-emits: its text already went out
                text = _text(message)
                if message.id:
                    streamed_ids.add(message.id)
                if not text:
                    continue
                agent = message.name or metadata.get("langgraph_node") or last_agent or "assistant"
                if message.id != segment_id:
                    if progress.text:
                        yield token(_SEGMENT_SEPARATOR, agent)
                    segment_id = message.id
                yield token(text, agent)
        if paused:
            graph_input, before = None, [_TOOL_NODE]
            if not _repeatable(tools, calls):
                durability, before = "async", None  # LangGraph's default: a checkpoint per superstep

    if pending_interrupt is not None:
        yield pending_interrupt
        return
    yield MessageComplete(
        message_id=progress.message_id or f"msg_{uuid.uuid4().hex}",
        agent=progress.agent or last_agent or "assistant",
        content=progress.text,
        usage=progress.usage(),
    )


async def save_partial_answer(graph: Any, config: dict[str, Any], progress: RunProgress) -> bool:
    """After a cancel: add the text streamed so far to the thread as the agent's answer.

    Returns False when nothing was streamed. The thread is left idle (nothing scheduled next).
    """
    if not progress.text:
        return False
    message = AIMessage(content=progress.text, name=progress.agent, id=progress.message_id)
    # Written as the node that was speaking: after a text-only AI message every
    # node's outgoing edge leads to END, so nothing is scheduled next.
    speaker = progress.agent if progress.agent in graph.nodes else "escalation"
    await graph.aupdate_state(config, {"messages": [message]}, as_node=speaker)
    return True
