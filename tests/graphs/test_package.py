"""The graphs package stands alone: it never imports the web app, and langgraph.json points at it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_graphs_never_imports_app() -> None:
    offenders = []
    for path in (ROOT / "graphs").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            )
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "app" or n.startswith("app.")]
    assert offenders == []


def test_langgraph_json_points_at_a_graph_factory() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    path, _, attr = config["graphs"]["support"].partition(":")
    assert (ROOT / path).is_file() and attr == "make_graph"
    from graphs.graph import make_graph

    graph = make_graph()
    assert {"triage", "router", "approval", "tools", "escalation", "order_lookup"} <= set(graph.nodes)
