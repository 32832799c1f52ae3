"""The peer's graph: the support graph exactly as our server compiles it, for `langgraph dev`.

Same shape (guardrail -> router -> specialists -> assess/approval/tools), same
`DemoChatModel` streaming with no delay, tools pointed at a standalone demo shop
(`SHOP_API_URL`). LangGraph's server supplies its own (in-memory) checkpointer.
Runs in bench/.peer-venv with the repository on PYTHONPATH.
"""

from __future__ import annotations

import os
from typing import Any

from graphs import DemoChatModel, ToolRegistry, ToolRuntimeConfig, build_graph, load_agents


def make_graph() -> Any:
    agents = load_agents()
    tools = ToolRegistry.from_agents(agents, runtime=ToolRuntimeConfig(base_url=os.environ.get("SHOP_API_URL")))
    model = DemoChatModel(token_delay_ms=int(os.environ.get("DEMO_TOKEN_DELAY_MS", "0")))
    return build_graph(agents, model, tools=tools)


# Every server gets the compiled graph itself: given a function, the Agent Server calls it
# as a factory for every run (building agents, tools and graph each time), aegra awaits it.
graph = make_graph()
