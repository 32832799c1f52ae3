"""The support agent graph, independent of the web app (`graphs` never imports `app`).

Public surface: `build_graph`, `load_agents`, `load_chat_model`, `ToolRegistry`,
`validate_tool_args` and the `Event` union the whole product speaks.
"""

from graphs.agents import AgentConfigError, AgentsConfig, AgentSpec, load_agents
from graphs.events import Event
from graphs.graph import build_graph
from graphs.models import DemoChatModel, load_chat_model, load_chat_model_from_settings
from graphs.tools import ToolRegistry, ToolRuntimeConfig, ToolSpec, validate_tool_args

__all__ = [
    "AgentConfigError",
    "AgentSpec",
    "AgentsConfig",
    "DemoChatModel",
    "Event",
    "ToolRegistry",
    "ToolRuntimeConfig",
    "ToolSpec",
    "build_graph",
    "load_agents",
    "load_chat_model",
    "load_chat_model_from_settings",
    "validate_tool_args",
]
