"""Fixtures for the knowledge-base tests: a migrated database, settings, the test help center."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from app.core.config import Settings
from app.core.db import CONNECTION_KWARGS, apply_migrations

HELPCENTER = Path(__file__).resolve().parents[1] / "fixtures" / "helpcenter"


@pytest.fixture
def settings() -> Settings:
    return Settings(database_url=None)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    p = AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False, kwargs=CONNECTION_KWARGS)
    await p.open(wait=True)
    await apply_migrations(p)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
def helpcenter(tmp_path: Path) -> Path:
    """A copy of the test help center the test may change between imports."""
    target = tmp_path / "helpcenter"
    shutil.copytree(HELPCENTER, target)
    return target
