"""ToolRegistry: tool name -> ToolSpec + the callable that runs it, and which agent may use which.

A run reads its registry from `RunContext.tools` when the server sets one (so a
reviewed OpenAPI import takes effect without a restart) and otherwise uses the
graph's default, built from agents.yaml and demo_shop.yaml:

    registry = ToolRegistry.from_agents(load_agents(), runtime=ToolRuntimeConfig.from_settings(settings))
    registry = registry.with_specs(imported_specs)      # a new registry; the old one is untouched
    error = validate_tool_args("cancel_order", {"order_id": "1042"}, registry)   # None: fine
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphs.agents import AgentsConfig, load_agents
from graphs.tools.knowledge import UnconnectedKnowledge
from graphs.tools.openapi import HttpTool, ToolOutcome, ToolRuntimeConfig, args_error
from graphs.tools.spec import ToolSpec, build_tool_specs

__all__ = ["RegisteredTool", "ToolCallable", "ToolRegistry", "default_registry", "validate_tool_args"]

ToolCallable = Callable[..., Awaitable[ToolOutcome]]
"""`await call(args, call_id=..., context=...)` -> ToolOutcome."""


@dataclass(frozen=True)
class RegisteredTool:
    spec: ToolSpec
    call: ToolCallable


class ToolRegistry:
    def __init__(
        self,
        specs: Iterable[ToolSpec] = (),
        *,
        runtime: ToolRuntimeConfig | None = None,
        grants: Mapping[str, Iterable[str]] | None = None,
        callables: Mapping[str, ToolCallable] | None = None,
    ) -> None:
        """`grants`: agent -> tool names it may call, on top of each spec's own `agent`.
        `callables`: name -> a replacement for the HTTP call (tests, non-HTTP tools)."""
        self.runtime = runtime or ToolRuntimeConfig()
        self._tools: dict[str, RegisteredTool] = {}
        self._grants: dict[str, list[str]] = {a: list(names) for a, names in (grants or {}).items()}
        for spec in specs:
            call = (callables or {}).get(spec.name) or (
                HttpTool(spec, self.runtime) if spec.kind == "openapi" else UnconnectedKnowledge(spec))
            self._tools[spec.name] = RegisteredTool(spec, call)
            if spec.agent and spec.name not in self._grants.setdefault(spec.agent, []):
                self._grants[spec.agent].append(spec.name)
        for agent, names in self._grants.items():
            missing = [n for n in names if n not in self._tools]
            if missing:
                raise KeyError(f"agent {agent!r} is granted unknown tool(s) {missing}; register their ToolSpecs too")
        self._callables = dict(callables or {})

    @classmethod
    def from_agents(
        cls,
        config: AgentsConfig | None = None,
        *,
        runtime: ToolRuntimeConfig | None = None,
        document: Mapping[str, Any] | None = None,
        callables: Mapping[str, ToolCallable] | None = None,
    ) -> ToolRegistry:
        """The tools agents.yaml grants, from its OpenAPI document (or `document`)."""
        config = config or load_agents()
        specs = build_tool_specs(config, document)
        grants = {a.name: [t.operation for t in a.tools] for a in config.agents}
        return cls(specs, runtime=runtime, grants=grants, callables=callables)

    def with_specs(self, specs: Iterable[ToolSpec], *, grants: Mapping[str, Iterable[str]] | None = None) -> ToolRegistry:
        """A new registry with `specs` added (replacing same-named ones); this one is unchanged."""
        new_specs = {s.name: s for s in specs}
        merged = {name: t.spec for name, t in self._tools.items() if name not in new_specs} | new_specs
        merged_grants = {a: [n for n in names if n in merged] for a, names in self._grants.items()}
        for agent, names in (grants or {}).items():
            merged_grants.setdefault(agent, []).extend(n for n in names if n not in merged_grants[agent])
        return ToolRegistry(merged.values(), runtime=self.runtime, grants=merged_grants, callables=self._callables)

    def get(self, name: str) -> RegisteredTool | None:
        return self._tools.get(name)

    def spec(self, name: str) -> ToolSpec:
        tool = self._tools.get(name)
        if tool is None:
            raise KeyError(f"no tool named {name!r}; known tools: {', '.join(sorted(self._tools)) or 'none'}")
        return tool.spec

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def for_agent(self, agent: str) -> list[ToolSpec]:
        return [self._tools[n].spec for n in self._grants.get(agent, [])]

    def validate_args(self, name: str, args: Any) -> str | None:
        tool = self._tools.get(name)
        if tool is None:
            return f"no tool named {name!r}"
        return args_error(tool.spec, args)

    async def call(self, name: str, args: dict[str, Any], *, call_id: str, context: Any = None) -> ToolOutcome:
        tool = self._tools.get(name)
        if tool is None:
            return ToolOutcome(False, f"there is no tool named {name!r}; available: {', '.join(sorted(self._tools))}")
        guard = getattr(context, "guard", None)
        if guard is not None and not tool.spec.reads_only:  # e.g. the run's lease: raises, and the call never happens
            # (a read changes nothing, and what a run without its thread reads goes nowhere: its events are refused)
            await guard()
        return await tool.call(args, call_id=call_id, context=context)


@functools.lru_cache(maxsize=1)
def default_registry() -> ToolRegistry:
    """The registry of the packaged agents.yaml + demo_shop.yaml (read once, on first use)."""
    return ToolRegistry.from_agents()


def validate_tool_args(tool: str | ToolSpec, args: Any, registry: ToolRegistry | None = None) -> str | None:
    """Why `args` are not valid for `tool` (a name or a ToolSpec), or None when they are.

    A name is looked up in `registry` (default: the packaged agents' registry). The
    server calls this on edited arguments before resuming an approval.
    """
    if isinstance(tool, ToolSpec):
        return args_error(tool, args)
    return (registry or default_registry()).validate_args(tool, args)
