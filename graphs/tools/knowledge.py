"""The built-in knowledge-base tool kind (`kind: knowledge` in agents.yaml).

`knowledge_tool_spec(name)` is its ToolSpec: one `query` argument. The search itself
lives in the server (app/knowledge), which hands it to the registry as the tool's
callable, the way OpenAPI tools get their HTTP caller; graphs/ never imports app/.
The callable returns a `ToolOutcome` whose `data` is

    {"query": ..., "found": bool, "results": [{"title", "url", "heading", "body"}, ...]}

and the tool node sends one `citation` event per result. Without a connected
search (a graph built outside the server) the tool answers that the knowledge
base is not available, and the agent says it does not know.
"""

from __future__ import annotations

from typing import Any

from graphs.tools.openapi import ToolOutcome
from graphs.tools.spec import ToolSpec

__all__ = ["KNOWLEDGE_KIND", "UnconnectedKnowledge", "citations_of", "knowledge_tool_spec"]

KNOWLEDGE_KIND = "knowledge"


def knowledge_tool_spec(name: str) -> ToolSpec:
    return ToolSpec(
        name=name,
        method="GET",
        path="",
        kind=KNOWLEDGE_KIND,
        description="Search the company's help center. Returns the most relevant passages with their article "
                    "title and URL; answer only from them and name the sources.",
        args_schema={
            "type": "object",
            "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 500,
                                     "description": "The customer's question, in their words."}},
            "required": ["query"],
            "additionalProperties": False,
        },
    )


class UnconnectedKnowledge:
    """Stands in for the search when the server handed none."""

    def __init__(self, spec: ToolSpec) -> None:
        self.spec = spec

    async def __call__(self, args: dict[str, Any], *, call_id: str, context: Any = None) -> ToolOutcome:
        return ToolOutcome(False, f"{self.spec.name}: the knowledge base is not connected to this graph; "
                                  "build the registry with the server's knowledge search as this tool's callable")


def citations_of(data: Any) -> list[dict[str, Any]]:
    """The distinct articles (title, url, heading) of a knowledge tool's result, best first."""
    if not isinstance(data, dict) or not data.get("found"):
        return []
    seen: set[tuple[str, str | None]] = set()
    out = []
    for hit in data.get("results") or []:
        key = (hit.get("title", ""), hit.get("url"))
        if key in seen or not key[0]:
            continue
        seen.add(key)
        heading = hit.get("heading")
        out.append({"title": key[0], "url": key[1], "heading": heading if heading and heading != key[0] else None})
    return out
