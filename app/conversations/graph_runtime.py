"""The graph as the server runs it: built once at start-up, fed per run.

`build_runtime()` loads agents.yaml, the model provider and the tool registry and
compiles the graph on our Postgres checkpointer. The other functions are the few
places the server edits a thread's graph state directly: turning a decision into
`Command(resume=...)`, closing approvals a new message superseded, and importing
a transcript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage, messages_from_dict
from langgraph.types import Command

from app.approvals.service import Resume
from app.conversations import thread_store

if TYPE_CHECKING:
    from app.container import Services

__all__ = ["Recovery", "build_runtime", "close_pending_calls", "graph_input_for", "graph_on_connection",
           "import_messages"]

# A node whose only exit is END: updating state "as" it leaves the thread with
# nothing pending, so the next input starts a fresh pass from START.
TERMINAL_NODE = "escalation"


async def build_runtime(services: Services) -> None:
    from graphs import (
        ToolRegistry,
        ToolRuntimeConfig,
        build_graph,
        load_agents,
        load_chat_model_from_settings,
    )

    settings = services.settings
    agents = load_agents()
    services.agents = agents
    from app.knowledge.service import KnowledgeService

    services.knowledge = KnowledgeService(services.pool, settings)
    # built-in knowledge tools call the server's search, as OpenAPI tools call their API
    searches = {t.operation: services.knowledge.tool for a in agents.agents for t in a.tools if t.kind == "knowledge"}
    services.knowledge.tool_names = set(searches)
    services.tools = ToolRegistry.from_agents(agents, runtime=ToolRuntimeConfig.from_settings(settings),
                                              callables=searches)
    model = load_chat_model_from_settings(settings)
    services.model_name = f"{settings.llm_provider}/{settings.llm_model or getattr(model, 'model_name', '') or 'default'}"
    services.graph = build_graph(agents, model, checkpointer=services.checkpointer, tools=services.tools)


def graph_on_connection(services: Services, conn: Any) -> Any:
    """The graph with its checkpoints read and written on `conn`, inside whatever transaction it has open.

    An edit that holds the thread row must not borrow a second pooled connection for the
    checkpoint: with every pooled connection held by callers queued on that row, it would
    wait for one that only its own commit can free, and every other user would wait too.
    Here the checkpoint writes also commit (or roll back) with the edit.
    """
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    saver = AsyncPostgresSaver(conn, serde=services.checkpointer.serde)
    return services.graph.copy({"checkpointer": saver})


@dataclass(frozen=True)
class Recovery:
    """Graph input for the run that takes over a dead one (`orphaned_run_id`), from where its thread stands."""

    orphaned_run_id: str


async def _recovered_input(services: Services, recovery: Recovery, config: dict[str, Any]) -> Any:
    """None (go on from the thread's checkpoint), or the dead run's message when the checkpoint lacks it.

    A run on a new message checkpoints before the approval gate and at its end (run_stream),
    so one that died before either left the thread as the turn before it. Its message
    is stored with the run; it runs again from there, as a new message would have. A
    pending approval it had superseded is closed first, as the message would have done.
    """
    async with services.pool.connection() as conn:
        stored = await thread_store.run_input(conn, recovery.orphaned_run_id)
    if not stored:
        return None
    messages = messages_from_dict(stored)
    state = await services.graph.aget_state(_config(config))
    have = {m.id for m in state.values.get("messages", [])}
    if all(m.id in have for m in messages):
        return None
    if state.interrupts:
        await close_pending_calls(services.graph, config, "the customer sent a new message instead")
    return {"messages": messages}


def _config(config: dict[str, Any]) -> dict[str, Any]:
    return {"configurable": {"thread_id": config["configurable"]["thread_id"]}}


async def graph_input_for(services: Services, graph_input: Any, config: dict[str, Any], context: Any) -> Any:
    """What to stream for a run: a resume, a fresh message, or (recovery) None or the dead run's message."""
    if isinstance(graph_input, Recovery):
        return await _recovered_input(services, graph_input, config)
    if not isinstance(graph_input, Resume):
        return graph_input
    if graph_input.then is None:
        return Command(resume=graph_input.decision)
    if graph_input.decision:
        await close_pending_calls(services.graph, config, graph_input.decision.get("reason") or "superseded")
    return graph_input.then


async def close_pending_calls(graph: Any, config: dict[str, Any], reason: str) -> None:
    """Answer every tool call still waiting for approval with a rejection, without running the model."""
    state = await graph.aget_state(_config(config))
    messages: list[BaseMessage] = list(state.values.get("messages", []))
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    closing: list[BaseMessage] = []
    for m in reversed(messages):
        if isinstance(m, AIMessage) and m.tool_calls:
            closing = [ToolMessage(content=f"Not done: the customer moved on ({reason}). Do not retry it unless asked.",
                                   tool_call_id=c["id"], name=c["name"], status="error")
                       for c in m.tool_calls if c["id"] not in answered]
            break
    await graph.aupdate_state(_config(config), {"messages": closing, "pending_actions": [], "decisions": {}},
                              as_node=TERMINAL_NODE)


async def import_messages(graph: Any, config: dict[str, Any], messages: list[BaseMessage]) -> None:
    await graph.aupdate_state(_config(config), {"messages": messages}, as_node=TERMINAL_NODE)
