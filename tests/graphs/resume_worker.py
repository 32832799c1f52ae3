"""Run by test_resume_new_process.py in a fresh interpreter: resume one thread, print its events.

    python -m tests.graphs.resume_worker DATABASE_URL THREAD_ID SHOP_URL RESUME_JSON

Builds a new checkpointer and graph on the same database; nothing from the parent
process exists here. Prints one JSON event per line.
"""

from __future__ import annotations

import asyncio
import json
import sys

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.types import Command
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.conversations.run_stream import stream_events
from graphs import build_graph, load_chat_model
from graphs.context import RunContext
from graphs.events import dump_event


async def main(database_url: str, thread_id: str, shop_url: str, resume: str) -> None:
    kwargs = {"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0}
    async with AsyncConnectionPool(database_url, kwargs=kwargs, min_size=1, max_size=2) as pool:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        graph = build_graph(model=load_chat_model("demo", demo_token_delay_ms=0), checkpointer=saver)
        context = RunContext(user_id="user-7", thread_id=thread_id, extra={"shop_base_url": shop_url})
        config = {"configurable": {"thread_id": thread_id}}
        async for event in stream_events(graph, Command(resume=json.loads(resume)), config=config, context=context):
            sys.stdout.write(json.dumps(dump_event(event)) + "\n")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
