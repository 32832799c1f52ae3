"""The tool node: runs the approved calls of the latest AI message, answers the others.

Each call runs at most once per decision: rejected, expired and superseded calls
never reach the API; they get a ToolMessage saying so (its `artifact` carries the
outcome and reason), so the model can tell the customer nothing changed. Approved
calls run in the order the model made them, with edited arguments when the
approver changed them, after checking once more that edited arguments may run
on that approver's word (`graphs.tools.policy.edit_refusal`: an edit that needs a
higher approver, or a customer's change of which order a call targets, is not
run); the tool call id is the `Idempotency-Key`, so even a re-run
of this node after a crash applies each change once. `tool_call` and
`tool_result` events go out on the custom stream around every call, and the node
waits for them to be stored (`RunContext.settle`) before it goes on, so they are in
the log before the step's checkpoint is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import ToolMessage
from langgraph.runtime import Runtime

from graphs.context import RunContext
from graphs.events import Citation, ToolCall, ToolResult
from graphs.nodes.common import Node, call_id, context_of, emit, last_ai_with_calls, tools_of
from graphs.state import SupportState
from graphs.tools.knowledge import KNOWLEDGE_KIND, citations_of
from graphs.tools.policy import edit_refusal
from graphs.tools.registry import ToolRegistry

__all__ = ["make_tool_node", "route_after_tools"]

_NOT_RUN = {
    "rejected": "The approver rejected this action; it was not carried out and nothing changed.",
    "expired": "The approval request expired before anyone decided; the action was not carried out and nothing changed.",
    "superseded": "The customer moved on before approving; the action was not carried out and nothing changed.",
}


def make_tool_node(default_tools: ToolRegistry) -> Node[dict[str, Any]]:
    async def tools(state: SupportState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ai = last_ai_with_calls(state["messages"])
        registry = tools_of(runtime, default_tools)
        ctx = context_of(runtime)
        decisions = state.get("decisions") or {}
        agent = (ai.name if ai else None) or state.get("agent") or ""
        results: list[ToolMessage] = []
        for call in ai.tool_calls if ai else []:
            cid = call_id(call)
            decision = decisions.get(cid)
            outcome = decision["outcome"] if decision else "approved"
            if outcome in _NOT_RUN:
                reason = decision.get("reason") if decision else None
                content = _NOT_RUN[outcome] + (f" Reason: {reason}" if reason else "")
                results.append(
                    ToolMessage(
                        content=content,
                        tool_call_id=cid,
                        name=call["name"],
                        status="error",
                        artifact={"ok": False, "outcome": outcome, "reason": reason, "args": call["args"]},
                    )
                )
                continue
            args = decision["args"] if decision else call["args"]
            refusal = await _edit_refusal(registry, call, decision, ctx)
            if refusal is not None:
                results.append(ToolMessage(
                    content=f"Not carried out, nothing changed: {refusal}", tool_call_id=cid, name=call["name"],
                    status="error", artifact={"ok": False, "outcome": "rejected", "reason": refusal, "args": call["args"]},
                ))
                continue
            emit(runtime, ToolCall(call_id=cid, agent=agent, tool=call["name"], args=args))
            result = await registry.call(call["name"], args, call_id=cid, context=ctx)
            emit(runtime, ToolResult(call_id=cid, tool=call["name"], ok=result.ok, content=result.content))
            tool = registry.get(call["name"])
            if tool is not None and tool.spec.kind == KNOWLEDGE_KIND:
                for source in citations_of(result.data):
                    emit(runtime, Citation(call_id=cid, **source))
            if ctx.settle is not None:
                await ctx.settle(runtime.stream_writer)
            results.append(
                ToolMessage(
                    content=result.content,
                    tool_call_id=cid,
                    name=call["name"],
                    status="success" if result.ok else "error",
                    artifact={"ok": result.ok, "outcome": outcome, "http_status": result.status, "args": args},
                )
            )
        return {"messages": results, "pending_actions": [], "decisions": {}}

    return tools


async def _edit_refusal(registry: ToolRegistry, call: Mapping[str, Any], decision: dict[str, Any] | None,
                        ctx: RunContext) -> str | None:
    """Why an edited call may not run on its approver's word (the server checked too: this is the backstop)."""
    if not decision or decision["outcome"] != "edited":
        return None
    tool = registry.get(call["name"])
    if tool is None:
        return None  # the registry answers an unknown tool with an error itself
    return await edit_refusal(tool.spec, call["args"], decision["args"], decided_as=decision.get("decided_as", "customer"),
                              registry=registry, context=ctx, call_id=call["id"])


async def route_after_tools(state: SupportState) -> str:
    """Back to the specialist that made the calls."""
    agent = state.get("agent")
    if not agent:
        raise ValueError("after the tool node the state must name the calling agent in `agent`, got none")
    return agent
