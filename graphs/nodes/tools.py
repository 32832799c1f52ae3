"""The tool node: runs the approved calls of the latest AI message, answers the others.

Each call runs at most once per decision: rejected, expired and superseded calls
never reach the API; they get a ToolMessage saying so (its `artifact` carries the
outcome and reason), so the model can tell the customer nothing changed. Approved
calls run in the order the model made them, with edited arguments when the
approver changed them; the tool call id is the `Idempotency-Key`, so even a re-run
of this node after a crash applies each change once. `tool_call` and
`tool_result` events go out on the custom stream around every call.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import ToolMessage
from langgraph.runtime import Runtime

from graphs.context import RunContext
from graphs.events import Citation, dump_event
from graphs.nodes.common import context_of, emit, last_ai_with_calls, tools_of
from graphs.state import SupportState
from graphs.tools.knowledge import KNOWLEDGE_KIND, citations_of
from graphs.tools.registry import ToolRegistry

__all__ = ["make_tool_node", "route_after_tools"]

_NOT_RUN = {
    "rejected": "The approver rejected this action; it was not carried out and nothing changed.",
    "expired": "The approval request expired before anyone decided; the action was not carried out and nothing changed.",
    "superseded": "The customer moved on before approving; the action was not carried out and nothing changed.",
}


def make_tool_node(default_tools: ToolRegistry):
    async def tools(state: SupportState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ai = last_ai_with_calls(state["messages"])
        registry = tools_of(runtime, default_tools)
        ctx = context_of(runtime)
        decisions = state.get("decisions") or {}
        agent = (ai.name if ai else None) or state.get("agent") or ""
        results: list[ToolMessage] = []
        for call in ai.tool_calls if ai else []:
            decision = decisions.get(call["id"])
            outcome = decision["outcome"] if decision else "approved"
            if outcome in _NOT_RUN:
                reason = decision.get("reason") if decision else None
                content = _NOT_RUN[outcome] + (f" Reason: {reason}" if reason else "")
                results.append(
                    ToolMessage(
                        content=content,
                        tool_call_id=call["id"],
                        name=call["name"],
                        status="error",
                        artifact={"ok": False, "outcome": outcome, "reason": reason, "args": call["args"]},
                    )
                )
                continue
            args = decision["args"] if decision else call["args"]
            emit(runtime, {"type": "tool_call", "call_id": call["id"], "agent": agent, "tool": call["name"], "args": args})
            result = await registry.call(call["name"], args, call_id=call["id"], context=ctx)
            emit(runtime, {"type": "tool_result", "call_id": call["id"], "tool": call["name"], "ok": result.ok,
                           "content": result.content})
            tool = registry.get(call["name"])
            if tool is not None and tool.spec.kind == KNOWLEDGE_KIND:
                for source in citations_of(result.data):
                    emit(runtime, dump_event(Citation(call_id=call["id"], **source)))
            results.append(
                ToolMessage(
                    content=result.content,
                    tool_call_id=call["id"],
                    name=call["name"],
                    status="success" if result.ok else "error",
                    artifact={"ok": result.ok, "outcome": outcome, "http_status": result.status, "args": args},
                )
            )
        return {"messages": results, "pending_actions": [], "decisions": {}}

    return tools


def route_after_tools(state: SupportState) -> str:
    """Back to the specialist that made the calls."""
    agent = state.get("agent")
    if not agent:
        raise ValueError("after the tool node the state must name the calling agent in `agent`, got none")
    return agent
