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

Checkpoints: a run on a new message is checkpointed where it matters, not after every
superstep (LangGraph's `durability="exit"` with a breakpoint). It pauses before the
approval gate, which every call that writes or needs an approver passes
(`graphs.nodes.approval.needs_gate`), and from there runs with LangGraph's default
durability, a checkpoint per superstep, so a write runs at most once per stored tool
call id. Otherwise its steps (model calls and reads) leave one checkpoint, at the end
or at an interrupt. A process that dies mid-run leaves the thread at the last of
those; the run that takes it over (`graph_runtime.Recovery`) does those steps again,
from the message stored with the run when the checkpoint does not have it: only model
calls and reads, none of which changes anything. Resumes run with the default
durability throughout.

`RunProgress` is updated as the run goes: text streamed so far, and token usage of
every model call (finished calls plus the chunks of one still streaming), so a
caller that cancels the run still knows the partial answer and what it cost.
`save_partial_answer` writes a cancelled run's text into the thread.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackManager
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import LLMResult

from graphs.events import (
    Citation,
    Event,
    Handoff,
    IntentEvent,
    InterruptEvent,
    MessageComplete,
    Token,
    ToolCall,
    ToolResult,
    Usage,
)
from graphs.nodes.common import text_of

__all__ = ["RunProgress", "Settle", "save_partial_answer", "settle_through", "stream_events"]

_NODE_EVENTS = (IntentEvent, Handoff, ToolCall, ToolResult, Citation)  # what nodes emit on the custom stream
_GATE = "approval"  # the node every write passes (graphs.nodes.approval.needs_gate)
_SEGMENT_SEPARATOR = "\n\n"


@dataclass
class Settle:
    """A node's request, on the custom stream, to wait until every event the run emitted before it is stored.

    The custom stream is FIFO: when the run's consumer reads this, it has read every event
    before it; it makes them durable, then `stored()` lets the node go on.
    """

    done: asyncio.Future[None]

    def stored(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def settle_through(stream_writer: Callable[[Any], None]) -> None:
    """`RunContext.settle` for runs whose consumer handles `Settle` (app.conversations.runs)."""
    marker = Settle(asyncio.get_running_loop().create_future())
    stream_writer(marker)
    await marker.done


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

    async def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[Any]], **kwargs: Any) -> None:
        """Nothing to do; defined because LangChain otherwise turns every prompt into text for `on_llm_start`."""

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


async def stream_events(
    graph: Any,
    graph_input: Any,
    *,
    config: dict[str, Any],
    context: Any,
    progress: RunProgress | None = None,
) -> AsyncIterator[Event | Settle]:
    """Run the graph once and yield Events (see the module docstring for order and rules).

    A `Settle` a node emitted in a step-by-step pass is yielded as it comes; the caller must answer it
    (`stored()`). In a pass checkpointed only at its end, nothing waits on it.

    graph_input: `{"messages": [HumanMessage(...)]}` or `Command(resume={...})`.
    config: at least `{"configurable": {"thread_id": ...}}`.
    progress: updated in place as the run goes; pass one to read usage/text after a cancel.
    """
    progress = progress if progress is not None else RunProgress()
    run_config = _with_callback(config, _UsageCallback(progress))
    streamed_ids: set[str] = set()
    segment_id: str | None = None
    last_agent: str | None = None
    pending_interrupt: InterruptEvent | None = None

    def token(delta: str, agent: str) -> Token:
        if progress.message_id is None:
            progress.message_id = segment_id or f"msg_{uuid.uuid4().hex}"
        progress.agent = agent
        progress.text += delta
        return Token(message_id=progress.message_id, agent=agent, content=delta)

    # (durability, breakpoints) of the next pass; see the module docstring
    stages: list[tuple[str | None, Any]] = [(None, None)]
    if isinstance(graph_input, dict) and getattr(graph, "checkpointer", None) is not None:
        stages = [("exit", [_GATE]), (None, None)]
    for durability, breakpoints in stages:
        paused = False
        options = {"durability": durability, "interrupt_before": breakpoints} if durability else {}
        async for mode, chunk in graph.astream(
            graph_input, config=run_config, context=context, stream_mode=["messages", "updates", "custom"], **options
        ):
            if mode == "custom":
                if isinstance(chunk, Settle) and durability == "exit":
                    chunk.stored()  # no step of this pass is checkpointed before its end: nothing to order
                elif isinstance(chunk, (*_NODE_EVENTS, Settle)):
                    yield chunk
            elif mode == "updates":
                if not isinstance(chunk, dict):
                    continue
                if "__interrupt__" in chunk:
                    interrupts = chunk["__interrupt__"]
                    if interrupts and pending_interrupt is None:
                        # the value also carries the HITL request (graphs/nodes/approval.py), not part of the event
                        value = interrupts[0].value
                        pending_interrupt = InterruptEvent.model_validate(
                            {k: v for k, v in value.items() if k in InterruptEvent.model_fields})
                    elif not interrupts and breakpoints:
                        paused = True  # a breakpoint: the next pass goes on from its checkpoint
                    continue
                for update in chunk.values():
                    if isinstance(update, dict) and isinstance(update.get("agent"), str):
                        last_agent = update["agent"]
            elif mode == "messages":
                message, metadata = chunk
                if not isinstance(message, (AIMessage, AIMessageChunk)) or "internal" in (metadata.get("tags") or []):
                    continue
                is_chunk = isinstance(message, AIMessageChunk)
                if not is_chunk and message.id in streamed_ids:
                    continue  # a finished message LangGraph re-emits: its text already went out
                text = text_of(message)
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
        if not paused:
            break
        graph_input = None

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
