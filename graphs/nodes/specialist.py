"""Specialist agents: `make_specialist(agent, model, tools)` builds the node for any agent of agents.yaml.

A specialist calls the model with its system prompt, the tools the registry grants
it (read per run, so reviewed imports apply at once) and `transfer_to_router`.
Its tokens are the customer-visible answer. `leave_agent` answers a transfer: it
pops the dialog stack and the router classifies the request again.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, SystemMessage, ToolMessage
from langgraph.graph import END
from langgraph.runtime import Runtime

from graphs.agents import AgentSpec
from graphs.context import RunContext
from graphs.nodes.common import model_view, tools_of
from graphs.prompts import SPECIALIST_PROMPT, TRANSFER_TOOL, TRANSFER_TOOL_NAME
from graphs.state import POP, SupportState
from graphs.tools.registry import ToolRegistry

__all__ = ["leave_agent", "make_specialist", "route_after_specialist"]


def make_specialist(agent: AgentSpec, model: BaseChatModel, default_tools: ToolRegistry):
    prompt = SPECIALIST_PROMPT.format(
        system_prompt=agent.system_prompt, name=agent.name, description=agent.description, transfer=TRANSFER_TOOL_NAME
    )

    async def specialist(state: SupportState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        specs = tools_of(runtime, default_tools).for_agent(agent.name)
        bound = model.bind_tools([s.as_openai_tool() for s in specs] + [TRANSFER_TOOL])
        response = await bound.ainvoke(
            [SystemMessage(prompt), *model_view(state["messages"])],
            config={"run_name": agent.name, "metadata": {"agent": agent.name}},
        )
        response.name = agent.name
        return {"messages": [response], "agent": agent.name}

    specialist.__name__ = agent.name
    return specialist


def route_after_specialist(state: SupportState) -> Literal["leave_agent", "assess", "__end__"]:
    last = state["messages"][-1]
    if not isinstance(last, AIMessage) or not last.tool_calls:
        return END
    if any(call["name"] == TRANSFER_TOOL_NAME for call in last.tool_calls):
        return "leave_agent"
    return "assess"


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
