"""The built-in `knowledge` tool kind in agents.yaml: parsed, given its own spec, called through the
function the server hands the registry, and answering clearly when none was handed."""

from __future__ import annotations

from typing import Any

import pytest

from graphs.agents import AgentConfigError, parse_agents
from graphs.tools import ToolOutcome, ToolRegistry, build_tool_specs, default_registry
from graphs.tools.knowledge import citations_of

DOC = {"openapi": "3.0.3", "paths": {}}


def config(kind: str = "knowledge") -> Any:
    return parse_agents({"agents": [{"name": "faq", "description": "Policies.", "intents": ["faq"],
                                     "tools": [{"operation": "search_docs", "kind": kind}]}]})


def test_a_knowledge_tool_needs_no_openapi_operation() -> None:
    [spec] = build_tool_specs(config(), DOC)
    assert (spec.name, spec.kind, spec.agent, spec.approver) == ("search_docs", "knowledge", "faq", "none")
    assert spec.args_schema["required"] == ["query"]
    assert default_registry().spec("search_help_center").kind == "knowledge"


def test_an_unknown_kind_is_refused_with_the_allowed_ones() -> None:
    with pytest.raises(AgentConfigError, match=r"tools\[search_docs\]\.kind` must be one of openapi, knowledge"):
        config("sql")


async def test_the_registry_calls_the_handed_search_or_says_it_is_missing() -> None:
    seen: list[dict[str, Any]] = []

    async def search(args: dict[str, Any], *, call_id: str, context: Any = None) -> ToolOutcome:
        seen.append(args)
        return ToolOutcome(True, "{}", 200, {"found": True, "results": [
            {"title": "Returns", "url": "https://x/r", "heading": "Returns", "body": "30 days"},
            {"title": "Returns", "url": "https://x/r", "heading": "Refunds", "body": "5 days"},
            {"title": "Shipping", "url": None, "heading": "Costs", "body": "free"}]})

    connected = ToolRegistry(build_tool_specs(config(), DOC), callables={"search_docs": search})
    outcome = await connected.call("search_docs", {"query": "returns"}, call_id="c1")
    assert outcome.ok and seen == [{"query": "returns"}]
    assert citations_of(outcome.data) == [{"title": "Returns", "url": "https://x/r", "heading": None},
                                          {"title": "Shipping", "url": None, "heading": "Costs"}]
    assert citations_of({"found": False, "results": []}) == []

    bare = ToolRegistry(build_tool_specs(config(), DOC))
    missing = await bare.call("search_docs", {"query": "returns"}, call_id="c2")
    assert not missing.ok and "knowledge base is not connected" in missing.content
