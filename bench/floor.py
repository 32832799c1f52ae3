"""The floor: the same compiled graph and demo model, in-process, no server, no network.

    python -m bench.floor '<json config>'   -> "RESULT {...}" on stdout

`graph.astream(..., stream_mode="messages")` on an `InMemorySaver` checkpointer:
what the graph itself costs, so that ours minus this is what the server adds.
Concurrent customers are asyncio tasks in this one process, each on its own thread.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from bench.client import drive_customers
from graphs import DemoChatModel, ToolRegistry, ToolRuntimeConfig, build_graph, load_agents
from graphs.context import RunContext

CFG: dict[str, Any] = {}


async def make_async(shop: str | None) -> tuple[Any, RunContext]:
    """The graph; `CFG["postgres"]` (a URL) puts it on LangGraph's Postgres checkpointer instead."""
    checkpointer: Any = InMemorySaver()
    if CFG.get("postgres"):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(CFG["postgres"], min_size=2, max_size=20, open=False,
                                   kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0})
        await pool.open()
        checkpointer = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await checkpointer.setup()
    return _build(shop, checkpointer)


def make(shop: str | None) -> tuple[Any, RunContext]:
    return _build(shop, InMemorySaver())


def _build(shop: str | None, checkpointer: Any) -> tuple[Any, RunContext]:
    agents = load_agents()
    tools = ToolRegistry.from_agents(agents, runtime=ToolRuntimeConfig(base_url=shop))
    graph = build_graph(agents, DemoChatModel(token_delay_ms=0), checkpointer=checkpointer, tools=tools)
    import httpx

    # one shared HTTP client for tool calls, as the server has (services.http)
    http = httpx.AsyncClient(timeout=10, trust_env=False)
    return graph, RunContext(http=http, extra={"shop_base_url": shop} if shop else {})


async def _tokens(graph: Any, ctx: RunContext, config: dict[str, Any], text: str) -> Any:
    """Text deltas: the bare messages stream, or (`CFG["translator"]`) the server's own translator."""
    if CFG.get("translator"):
        from app.conversations.run_stream import RunProgress, stream_events
        from graphs.events import dump_event

        async for ev in stream_events(graph, {"messages": [HumanMessage(text)]}, config=config, context=ctx,
                                      progress=RunProgress()):
            data = dump_event(ev)
            if data["type"] == "token":
                yield data["content"]
        return
    async for chunk, _meta in graph.astream({"messages": [HumanMessage(text)]}, config, context=ctx,
                                            stream_mode="messages"):
        if chunk.content:
            yield chunk.content


async def turn(graph: Any, ctx: RunContext, thread_id: str, text: str, tokens: int) -> dict[str, Any]:
    config = {"configurable": {"thread_id": thread_id}, "recursion_limit": 60}
    t0 = time.perf_counter()
    first = None
    parts: list[str] = []
    async for content in _tokens(graph, ctx, config, text):
        if first is None:
            first = time.perf_counter()
        parts.append(content)
    t1 = time.perf_counter()
    return {"t0": t0, "ttft": (first - t0) if first else None, "total": t1 - t0, "done": t1,
            "ok": len(parts) == tokens}


async def turns(cfg: dict[str, Any]) -> dict[str, Any]:
    graph, ctx = await make_async(cfg.get("shop"))
    n, tokens = cfg["clients"], cfg.get("tokens", 200)
    text = f"benchmark reply {tokens} tokens"
    prefix = "f" + uuid.uuid4().hex[:6]
    out, results = await drive_customers(cfg, n, lambda i: turn(graph, ctx, f"{prefix}_{i}", text, tokens),
                                         completed=lambda r: True)
    return {**out, "tokens": tokens, "bad_turns": sum(1 for r in results if not r["ok"])}


async def interrupt(cfg: dict[str, Any]) -> dict[str, Any]:
    graph, ctx = make(cfg.get("shop"))
    out: dict[str, list[float]] = {"request_to_interrupt_ms": [], "decision_to_first_token_ms": [],
                                   "decision_to_complete_ms": []}
    bad = 0
    for i in range(cfg.get("iterations", 30)):
        config = {"configurable": {"thread_id": f"fi_{uuid.uuid4().hex[:8]}"}, "recursion_limit": 60}
        t0 = time.perf_counter()
        interrupted = None
        async for mode, data in graph.astream({"messages": [HumanMessage(f"Cancel order {1001 + i % 50}")]}, config,
                                              context=ctx, stream_mode=["messages", "updates"]):
            if mode == "updates" and "__interrupt__" in data:
                interrupted = time.perf_counter()
        if interrupted is None:
            bad += 1
            continue
        t2 = time.perf_counter()
        first = None
        async for mode, data in graph.astream(Command(resume={"approved": True, "args": None, "reason": None,
                                                              "outcome": "approved"}), config, context=ctx,
                                              stream_mode=["messages", "updates"]):
            if mode == "messages" and first is None and data[0].content:
                first = time.perf_counter()
        t4 = time.perf_counter()
        if first is None:
            bad += 1
            continue
        out["request_to_interrupt_ms"].append((interrupted - t0) * 1000)
        out["decision_to_first_token_ms"].append((first - t2) * 1000)
        out["decision_to_complete_ms"].append((t4 - t2) * 1000)
    return {**out, "bad": bad}


def main() -> None:
    cfg = json.loads(sys.argv[1])
    CFG.update(cfg)
    fn = {"turns": turns, "interrupt": interrupt}[cfg["mode"]]
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(fn(cfg))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
