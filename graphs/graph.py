"""build_graph: wires the support graph; no node logic lives here.

    START -> triage (the guardrail and the router in one step)
          -> (refusal: END) | escalation (thread already with a human)
           | the specialist on top of the dialog stack | a specialist chosen by the router
           | END (one clarifying question, small talk) | escalation
    specialist -> END (answer) | the next request's specialist | leave_agent -> router
                | approval (interrupts) -> tools | tools ;  tools -> the calling specialist
    router -> as triage routes (after a specialist handed a request back)
    escalation -> END

Every routing function is a coroutine: LangGraph runs a plain function in a worker
thread, a hop per edge that costs more than the routing itself.

`make_graph()` builds the default demo graph for `langgraph dev` (see langgraph.json).
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph

from graphs.agents import AgentsConfig, load_agents
from graphs.context import RunContext
from graphs.nodes.approval import approval_gate
from graphs.nodes.guardrail import make_screen
from graphs.nodes.handoff import make_escalation
from graphs.nodes.router import make_router
from graphs.nodes.specialist import leave_agent, make_specialist, route_after_specialist
from graphs.nodes.tools import make_tool_node, route_after_tools
from graphs.nodes.triage import make_triage
from graphs.state import InputState, SupportState
from graphs.tools.registry import ToolRegistry

__all__ = ["build_graph", "make_graph"]


def build_graph(
    agents: AgentsConfig | None = None,
    model: BaseChatModel | None = None,
    *,
    checkpointer: Any = None,
    tools: ToolRegistry | None = None,
    router_model: BaseChatModel | None = None,
    guardrail_model: BaseChatModel | bool | None = True,
) -> Any:
    """The compiled support graph.

    agents: the checked agents file (`load_agents()`; default: openapi_specs/agents.yaml).
    model: the chat model every specialist uses (`load_chat_model(...)`; default: the demo model).
    checkpointer: e.g. an `AsyncPostgresSaver`; None compiles without persistence.
    tools: the default tool registry (`ToolRegistry.from_agents(agents, runtime=...)`); a run's
        `RunContext.tools` overrides it.
    router_model: the model that classifies intents (default: `model`).
    guardrail_model: the model asked for a second opinion after the patterns; True = `model`,
        None/False = patterns only.
    """
    if model is None:
        from graphs.models import load_chat_model

        model = load_chat_model("demo")
    agents = agents or load_agents()
    tools = tools or ToolRegistry.from_agents(agents)
    checker = model if guardrail_model is True else (guardrail_model or None)
    names = agents.names

    builder = StateGraph(SupportState, input_schema=InputState, context_schema=RunContext)
    router = make_router(router_model or model, agents)
    builder.add_node("triage", make_triage(make_screen(checker), router, names),
                     destinations=(*names, "escalation", END))
    builder.add_node("router", router, destinations=(*names, "escalation", END))
    for agent in agents.agents:
        builder.add_node(agent.name, make_specialist(agent, model, tools))
    builder.add_node("leave_agent", leave_agent)
    builder.add_node("approval", approval_gate)
    builder.add_node("tools", make_tool_node(tools))
    builder.add_node("escalation", make_escalation(agents.escalation_queue))

    builder.add_edge(START, "triage")
    for name in names:
        builder.add_conditional_edges(name, route_after_specialist, ["leave_agent", "approval", "tools", END, *names])
    builder.add_edge("leave_agent", "router")
    builder.add_edge("approval", "tools")
    builder.add_conditional_edges("tools", route_after_tools, names)
    builder.add_edge("escalation", END)
    return builder.compile(checkpointer=checkpointer, name="support")


def make_graph() -> Any:
    """The demo graph for `langgraph dev` (its server supplies the checkpointer)."""
    return build_graph()
