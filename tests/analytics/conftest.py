"""Fixtures for the analytics tests: a migrated database with LangGraph's checkpoint tables."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.core.db import apply_migrations, setup_checkpointer


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    p = AsyncConnectionPool(
        database_url, min_size=1, max_size=4, open=False,
        kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0},
    )
    await p.open(wait=True)
    await apply_migrations(p)
    await setup_checkpointer(p)
    try:
        yield p
    finally:
        await p.close()
