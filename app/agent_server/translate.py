"""Our events as LangGraph stream parts: (event name, data) per stream mode.

One stored event becomes zero or more parts, in the modes the client asked for:

| our event | values | updates | messages-tuple | messages | custom |
|---|---|---|---|---|---|
| run_start | state so far + the input | | | | |
| intent | | `{"router": {intent, agent}}` | | | the event |
| token | | | `[AIMessageChunk, metadata]` | `messages/metadata` once, `messages/partial` | |
| tool_call | | `{agent: {messages: [AI with tool_calls]}}` | | | the event |
| tool_result | | `{"tools": {messages: [ToolMessage]}}` | | | the event |
| handoff, interrupt_decided / _expired / _warning | | | | | the event |
| message_complete | final state | `{agent: {messages: [AI]}}` | | `messages/complete` | |
| interrupt | state + `__interrupt__` | `{"__interrupt__": [...]}` | | | |
| run_error | `error` {error, message} in every mode | | | | |

Chunk ids are our `message_id`, so the deltas of one answer share one id and
concatenate to `message_complete.content`. Values come from the checkpointed graph
state when the part is made (the log holds events, not state snapshots).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

from app.agent_server.hitl import to_interrupt

__all__ = ["STREAM_MODES", "Translator"]

STREAM_MODES = ("values", "updates", "messages", "messages-tuple", "custom")
_CUSTOM = frozenset({"intent", "tool_call", "tool_result", "handoff", "interrupt_decided", "interrupt_expired",
                     "interrupt_warning"})
_STAMPS = ("thread_id", "seq", "run_id", "ts")

def _human(content: str, run_id: str) -> dict[str, Any]:
    return {"type": "human", "content": content, "id": f"{run_id}-input", "name": None, "additional_kwargs": {},
            "response_metadata": {}}


def _at_input(values: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    """The state as the run began: the messages up to its input (the checkpoint may already
    be further on, or, live, not yet hold the input: then it is added as sent)."""
    content = ev.get("content")
    if not content:
        return values
    messages = values.get("messages") or []
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("type") == "human" and messages[i].get("content") == content:
            return {**values, "messages": messages[: i + 1]}
    return {**values, "messages": [*messages, _human(content, ev.get("run_id", ""))]}


class Translator:
    """Stateful per stream: remembers which messages it has announced and their text so far."""

    def __init__(self, *, modes: list[str], values_of: Callable[[], Awaitable[dict[str, Any]]],
                 graph_id: str) -> None:
        self.modes = set(modes)
        self.values_of = values_of
        self.graph_id = graph_id
        self.partial: dict[str, str] = {}

    def _meta(self, ev: dict[str, Any]) -> dict[str, Any]:
        return {"langgraph_node": ev.get("agent", ""), "run_id": ev.get("run_id"), "thread_id": ev.get("thread_id"),
                "graph_id": self.graph_id, "tags": [], "name": ev.get("agent", "")}

    async def parts(self, ev: dict[str, Any]) -> list[tuple[str, Any]]:
        kind = ev.get("type")
        want = self.modes
        out: list[tuple[str, Any]] = []
        if kind == "run_error":
            return [("error", {"error": ev.get("code", "run_error"), "message": ev.get("message", "")})]
        if kind == "run_start" and "values" in want:
            out.append(("values", _at_input(await self.values_of(), ev)))
        if kind in _CUSTOM and "custom" in want:
            out.append(("custom", {k: v for k, v in ev.items() if k not in _STAMPS}))
        if kind == "intent" and "updates" in want:
            out.append(("updates", {"router": {"intent": ev["intent"], "agent": ev["agent"]}}))
        elif kind == "token":
            mid, delta = ev["message_id"], ev["content"]
            chunk = AIMessageChunk(content=delta, id=mid, name=ev.get("agent")).model_dump()
            if "messages-tuple" in want:
                out.append(("messages", [chunk, self._meta(ev)]))
            if "messages" in want:
                if mid not in self.partial:
                    self.partial[mid] = ""
                    out.append(("messages/metadata", {mid: {"metadata": self._meta(ev)}}))
                self.partial[mid] += delta
                out.append(("messages/partial", [AIMessageChunk(content=self.partial[mid], id=mid,
                                                                name=ev.get("agent")).model_dump()]))
        elif kind == "tool_call" and "updates" in want:
            ai = AIMessage(content="", name=ev.get("agent"), tool_calls=[
                {"id": ev["call_id"], "name": ev["tool"], "args": ev.get("args") or {}}]).model_dump()
            out.append(("updates", {ev.get("agent") or "agent": {"messages": [ai]}}))
        elif kind == "tool_result" and "updates" in want:
            tm = ToolMessage(content=ev.get("content", ""), tool_call_id=ev["call_id"], name=ev.get("tool"),
                             status="success" if ev.get("ok") else "error").model_dump()
            out.append(("updates", {"tools": {"messages": [tm]}}))
        elif kind == "message_complete":
            ai = AIMessage(content=ev.get("content", ""), id=ev.get("message_id"), name=ev.get("agent")).model_dump()
            if "messages" in want:
                out.append(("messages/complete", [ai]))
            if "updates" in want:
                out.append(("updates", {ev.get("agent") or "agent": {"messages": [ai]}}))
            if "values" in want:
                out.append(("values", await self.values_of()))
        elif kind == "interrupt":
            interrupts = [to_interrupt(ev)]
            if "updates" in want:
                out.append(("updates", {"__interrupt__": interrupts}))
            if "values" in want:
                out.append(("values", {**await self.values_of(), "__interrupt__": interrupts}))
        return out
