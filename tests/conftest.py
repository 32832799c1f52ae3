"""Shared fixtures: one throwaway Postgres cluster per session, a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.pg import PgCluster


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API owns this thread's event loop while it runs."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster().init()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def database_url(pg_cluster: PgCluster) -> str:
    """A new, empty database on the shared cluster."""
    return pg_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")
