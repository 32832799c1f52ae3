"""Specialist agents: `make_specialist(agent, model, tools)` builds the node for any agent of agents.yaml.

A specialist calls the model with its system prompt, the tools the registry grants
it (read per run, so reviewed imports apply at once) and `transfer_to_router`.
Its tokens are the customer-visible answer. `leave_agent` answers a transfer: it
pops the dialog stack and the router classifies the request again.

When the router split the customer's message into several requests (the state's
`requests` agenda), the specialist handles only its own span, named in its system
prompt. Its final answer closes that request: if another one waits, it pops itself
off the dialog stack and `route_after_specialist` goes to the next request's agent;
after the last of several, it adds a summary of every request's outcome, so the
final answer reports them all.

Tool calls are assessed (risk, approver: `graphs.nodes.approval.assess_calls`) in the
same step, and `route_after_specialist` sends them to the approval gate (an approval
is needed, or a call writes) or, when every call only reads, straight to the tool node.

Facts before approvals: a tool with a `verify` read in agents.yaml (e.g. cancel_order
-> get_order_status) is proposed only after that read succeeded for the same
arguments in this turn. If the model proposes it earlier, the node makes the read
instead (the model is asked again with the facts); if the read failed (no such
order, or not this customer's), the call is dropped and the customer told why.
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call as make_tool_call
from langgraph.graph import END
from langgraph.runtime import Runtime

from graphs.agents import AgentSpec
from graphs.context import RunContext
from graphs.nodes.approval import assess_calls, needs_gate
from graphs.nodes.common import Node, context_of, current_requests, model_view, text_of, tools_of
from graphs.prompts import (
    CURRENT_REQUEST_NOTE,
    SPECIALIST_PROMPT,
    TRANSFER_TOOL,
    TRANSFER_TOOL_NAME,
)
from graphs.state import POP, SupportState
from graphs.tools.registry import ToolRegistry

__all__ = ["leave_agent", "make_specialist", "route_after_specialist", "summary_of"]


def make_specialist(agent: AgentSpec, model: BaseChatModel, default_tools: ToolRegistry) -> Node[dict[str, Any]]:
    prompt = SPECIALIST_PROMPT.format(
        system_prompt=agent.system_prompt, name=agent.name, description=agent.description, transfer=TRANSFER_TOOL_NAME
    )
    verify = {t.operation: t.verify for t in agent.tools if t.verify}

    async def specialist(state: SupportState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        registry = tools_of(runtime, default_tools)
        specs = registry.for_agent(agent.name)
        bound = model.bind_tools([s.as_openai_tool() for s in specs] + [TRANSFER_TOOL])
        agenda = current_requests(state)
        active = next((r for r in agenda if not r["done"] and r["agent"] == agent.name), None)
        system = prompt + (CURRENT_REQUEST_NOTE.format(text=active["text"], intent=active["intent"]) if active else "")
        response = await bound.ainvoke(
            [SystemMessage(system), *model_view(state["messages"])],
            config={"run_name": agent.name, "metadata": {"agent": agent.name}},
        )
        response.name = agent.name
        if verify and response.tool_calls:
            response = _facts_first(response, verify, state["messages"], {s.name for s in specs})
        messages: list[AnyMessage] = [response]
        update: dict[str, Any] = {"messages": messages, "agent": agent.name}
        if response.tool_calls and not any(c["name"] == TRANSFER_TOOL_NAME for c in response.tool_calls):
            # assessed here rather than in a node of its own: one superstep less per tool call
            update["pending_actions"] = await assess_calls(response, registry, context_of(runtime), agent.name)
            update["decisions"] = {}
        if active is not None and not response.tool_calls:
            active.update(done=True, answer=text_of(response))
            update["requests"] = agenda
            if any(not r["done"] for r in agenda):
                update["dialog_stack"] = POP
            elif len(agenda) > 1:
                messages.append(AIMessage(content=summary_of(agenda), name=agent.name))
        return update

    specialist.__name__ = agent.name
    return specialist


def summary_of(agenda: list[dict[str, Any]]) -> str:
    lines = [f"- {r['text'].rstrip('.?!')}: {r['answer'].strip() or 'no answer'}" for r in agenda]
    return "To sum up your requests:\n" + "\n".join(lines)


def _facts_first(
    response: AIMessage, verify: dict[str, dict[str, Any]], messages: list[AnyMessage], bound: set[str]
) -> AIMessage:
    """The response, or the reads its calls need first, or (a read failed) a plain answer without those calls."""
    reads = _reads_this_turn(messages)
    keep: list[ToolCall] = []
    needed: list[ToolCall] = []
    refused: list[str] = []
    for call in response.tool_calls:
        rule = verify.get(call["name"])
        if rule is None or rule["operation"] not in bound:
            keep.append(call)
            continue
        read_args = {param: call["args"].get(arg) for param, arg in rule["args"].items()}
        outcome = reads.get((rule["operation"], _key(read_args)))
        if outcome is None:
            if all(n["args"] != read_args or n["name"] != rule["operation"] for n in needed):
                needed.append(make_tool_call(name=rule["operation"], args=read_args,
                                             id=f"call_{uuid.uuid4().hex[:24]}"))
        elif outcome.status == "error":
            refused.append(f"I checked before doing anything: {text_of(outcome)}. Nothing was changed.")
        else:
            keep.append(call)
    if needed:
        return AIMessage(content="", tool_calls=needed, name=response.name, id=response.id,
                         usage_metadata=response.usage_metadata)
    if refused:
        # a new id: the model's own message may have streamed already, and this text must go out too
        return AIMessage(content=" ".join([text_of(response).strip(), *refused]).strip(), tool_calls=keep,
                         name=response.name, usage_metadata=response.usage_metadata)
    return response


def _key(args: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in args.items()))


def _reads_this_turn(messages: list[AnyMessage]) -> dict[tuple[str, tuple[tuple[str, str], ...]], ToolMessage]:
    """(tool, args) -> its latest result, for the calls made since the customer's last message."""
    calls: dict[str, ToolCall] = {}
    results: dict[tuple[str, tuple[tuple[str, str], ...]], ToolMessage] = {}
    start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1) + 1
    for message in messages[start:]:
        if isinstance(message, AIMessage):
            calls.update({c["id"]: c for c in message.tool_calls if c["id"]})
        elif isinstance(message, ToolMessage) and message.tool_call_id in calls:
            call = calls[message.tool_call_id]
            results[(call["name"], _key(call["args"]))] = message
    return results


async def route_after_specialist(state: SupportState) -> str:
    last = state["messages"][-1]
    if not isinstance(last, AIMessage) or not last.tool_calls:
        agenda = current_requests(state)
        waiting = next((r for r in agenda if not r["done"]), None)
        # on to the next request only when this answer just closed one (not, e.g., a saved partial answer)
        closed = isinstance(last, AIMessage) and any(r["done"] and r["answer"] == text_of(last) for r in agenda)
        return waiting["agent"] if waiting and closed else END
    if any(call["name"] == TRANSFER_TOOL_NAME for call in last.tool_calls):
        return "leave_agent"
    return "approval" if needs_gate(state) else "tools"  # the gate: approvals, and writes


async def leave_agent(state: SupportState) -> dict[str, Any]:
    """Answer the transfer (and drop any other call of the same message), then back to the router."""
    last = state["messages"][-1]
    assert isinstance(last, AIMessage), f"leave_agent expects the specialist's AI message last, got {type(last).__name__}"
    results = []
    for call in last.tool_calls:
        if call["name"] == TRANSFER_TOOL_NAME:
            content = f"Handed back to the router: {call['args'].get('reason', 'out of scope')}."
        else:
            content = "Not run: the request was handed back to the router."
        results.append(ToolMessage(content=content, tool_call_id=call["id"], name=call["name"]))
    return {"messages": results, "dialog_stack": POP}
