"""Fixtures for graph tests: a real Postgres checkpointer, the demo shop over HTTP, a conversation driver."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.types import Command
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.conversations.run_stream import RunProgress, stream_events
from app.demo.shop import ShopState, create_shop_app
from graphs import build_graph, load_chat_model
from graphs.context import RunContext
from graphs.events import dump_event
from tests.demo.server import ServedApp
from tests.support.pg import PgCluster

CHECKPOINTER_KWARGS = {"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0}


@pytest.fixture
def shop_server() -> Iterator[ServedApp]:
    with ServedApp(create_shop_app()) as served:
        yield served


@pytest.fixture
def shop(shop_server: ServedApp) -> ShopState:
    return shop_server.app.state.shop


@asynccontextmanager
async def postgres_checkpointer(url: str) -> AsyncIterator[AsyncPostgresSaver]:
    """An AsyncPostgresSaver on its own pool, set up, closed afterwards."""
    pool = AsyncConnectionPool(url, kwargs=CHECKPOINTER_KWARGS, min_size=1, max_size=4, open=False)
    await pool.open()
    try:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        yield saver
    finally:
        await pool.close()


@pytest.fixture(scope="session")
async def shared_checkpointer(pg_cluster: PgCluster) -> AsyncIterator[AsyncPostgresSaver]:
    # One database for the graph tests: every Conversation has its own thread id, and
    # creating + migrating a database per test would dominate the suite's run time.
    url = pg_cluster.create_database(f"graphs_{uuid.uuid4().hex[:12]}")
    async with postgres_checkpointer(url) as saver:
        yield saver


@pytest.fixture
def checkpointer(shared_checkpointer: AsyncPostgresSaver) -> AsyncPostgresSaver:
    return shared_checkpointer


@pytest.fixture(scope="session")
async def knowledge(pg_cluster: PgCluster) -> AsyncIterator[Any]:
    """The server's knowledge base on its own database, holding the demo help center (as on a first start)."""
    from app.core.config import Settings
    from app.core.db import apply_migrations
    from app.knowledge.service import KnowledgeService

    url = pg_cluster.create_database(f"kb_{uuid.uuid4().hex[:12]}")
    async with AsyncConnectionPool(url, kwargs=CHECKPOINTER_KWARGS, min_size=1, max_size=4, open=False) as pool:
        await apply_migrations(pool)
        service = KnowledgeService(pool, Settings(database_url=None))
        await service.ensure_demo_articles()
        yield service


@pytest.fixture
def graph(checkpointer: AsyncPostgresSaver, knowledge: Any) -> Any:
    from graphs.tools import ToolRegistry

    # the built-in knowledge tool gets the server's search, as build_runtime hands it
    tools = ToolRegistry.from_agents(callables={"search_help_center": knowledge.tool})
    return build_graph(model=load_chat_model("demo", demo_token_delay_ms=0), checkpointer=checkpointer, tools=tools)


class Conversation:
    """One thread: `await conv.say(text)` / `await conv.decide(...)` return the run's events as dicts."""

    def __init__(self, graph: Any, shop_url: str, thread_id: str | None = None, user_id: str = "user-7") -> None:
        self.graph = graph
        self.thread_id = thread_id or f"t-{uuid.uuid4().hex[:12]}"
        self.context = RunContext(user_id=user_id, thread_id=thread_id, extra={"shop_base_url": shop_url})
        self.runs: list[list[dict[str, Any]]] = []

    @property
    def config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread_id}}

    async def run(self, graph_input: Any, progress: RunProgress | None = None) -> list[dict[str, Any]]:
        events = [
            dump_event(e)
            async for e in stream_events(self.graph, graph_input, config=self.config, context=self.context, progress=progress)
        ]
        self.runs.append(events)
        return events

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.run({"messages": [HumanMessage(text)]})

    async def decide(self, approved: bool, **fields: Any) -> list[dict[str, Any]]:
        pending = self.runs[-1][-1]
        assert pending["type"] == "interrupt", f"the last run did not end in an interrupt: {pending}"
        return await self.run(Command(resume={"interrupt_id": pending["interrupt_id"], "approved": approved, **fields}))

    async def state(self) -> dict[str, Any]:
        snapshot = await self.graph.aget_state(self.config)
        return snapshot.values


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def answer(events: list[dict[str, Any]]) -> str:
    end = events[-1]
    assert end["type"] == "message_complete", f"expected the run to end with message_complete, got {end}"
    return end["content"]


@pytest.fixture
def conv(graph: Any, shop_server: ServedApp) -> Conversation:
    return Conversation(graph, shop_server.url)
