"""A pending approval survives the process: a fresh interpreter resumes it from Postgres alone."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from langgraph.types import Command

from app.demo.shop import ShopState
from graphs import build_graph, load_chat_model
from tests.demo.server import ServedApp
from tests.graphs.conftest import Conversation, of_type, postgres_checkpointer

ROOT = Path(__file__).resolve().parents[2]


async def _resume_elsewhere(database_url: str, conv: Conversation, shop_url: str, resume: dict) -> list[dict]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.graphs.resume_worker", database_url, conv.thread_id, shop_url, json.dumps(resume),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"resume worker failed:\n{err.decode()}"
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


async def test_interrupt_resumes_in_a_new_process_and_the_tool_runs_once(
    database_url: str, shop: ShopState, shop_server: ServedApp
) -> None:
    async with postgres_checkpointer(database_url) as saver:
        graph = build_graph(model=load_chat_model("demo", demo_token_delay_ms=0), checkpointer=saver)
        await _check_resume_elsewhere(database_url, Conversation(graph, shop_server.url), shop, shop_server)


async def _check_resume_elsewhere(database_url: str, conv: Conversation, shop: ShopState, shop_server: ServedApp) -> None:
    first = await conv.say("Cancel order 1042")
    pending = first[-1]
    assert pending["type"] == "interrupt"

    events = await _resume_elsewhere(
        database_url, conv, shop_server.url, {"interrupt_id": pending["interrupt_id"], "approved": True}
    )

    assert [e["type"] for e in events if e["type"] != "token"] == ["tool_call", "tool_result", "message_complete"]
    assert "1042 has been cancelled" in events[-1]["content"]
    assert shop.orders["1042"]["status"] == "cancelled"
    assert len(shop.writes_for("cancel_order", "1042")) == 1
    call_id = of_type(events, "tool_call")[0]["call_id"]
    assert list(shop.idempotency) == [call_id]

    # The thread in this process sees what the other process did; nothing is pending any more.
    snapshot = await conv.graph.aget_state(conv.config)
    assert snapshot.next == () and snapshot.interrupts == ()
    assert "cancelled" in snapshot.values["messages"][-1].content

    # A second resume of the finished approval runs nothing.
    again = await conv.run(Command(resume={"interrupt_id": pending["interrupt_id"], "approved": True}))
    assert of_type(again, "tool_call") == []
    assert len(shop.writes_for("cancel_order", "1042")) == 1
