"""The Redis bus's control messages between two hubs: tool-cache invalidation and cancel.

(Events over Redis, resume, cancel through the run manager and a Redis restart are
in test_scale_out.py, with real server processes.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.container import Services
from app.core.config import Settings
from app.ws.hub import Hub
from tests.support.services import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
async def hubs(redis_server: RedisServer, database_url: str) -> AsyncIterator[tuple[Services, Hub, Hub]]:
    pool = AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False,
                               kwargs={"autocommit": True, "row_factory": dict_row})
    await pool.open()
    one = Hub(pool, origin="one", redis_url=redis_server.url)
    two = Hub(pool, origin="two", redis_url=redis_server.url)
    services = Services(settings=Settings(), pool=pool, database_url=database_url)
    services.hub = one
    up = asyncio.Event()
    two.on_tools_changed = up.set  # called once the bus is up (a change may have been missed), then per change
    one.start("unused")
    two.start("unused")
    try:
        async with asyncio.timeout(10):
            await up.wait()
        yield services, one, two
    finally:
        await one.stop()
        await two.stop()
        await pool.close()


async def test_a_tool_change_here_reaches_the_other_replica(hubs: tuple[Services, Hub, Hub]) -> None:
    services, _, two = hubs
    heard = asyncio.Event()
    two.on_tools_changed = heard.set
    services.tools_changed()  # what the import and review routes call
    async with asyncio.timeout(10):
        await heard.wait()


async def test_a_cancel_reaches_the_other_replica(hubs: tuple[Services, Hub, Hub]) -> None:
    _, one, two = hubs
    got: asyncio.Queue[str] = asyncio.Queue()
    two.on_cancel_request = got.put_nowait
    await one.notify_cancel("run_123")
    async with asyncio.timeout(10):
        assert await got.get() == "run_123"
