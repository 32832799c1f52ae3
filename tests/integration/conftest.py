"""Fixtures for integration tests: the real server over real sockets and real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.core.security import issue_token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

SECRET = "integration-test-secret-0123456789"


def token(user: str, role: str = "customer", ttl: int = 3600) -> str:
    return issue_token(SECRET, user_id=user, role=role, ttl_s=ttl)  # type: ignore[arg-type]


def new_id(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def server(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    url = pg_cluster.create_database(f"m_{uuid.uuid4().hex[:10]}")
    data = tmp_path_factory.mktemp("server")
    proc = ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "RATE_LIMIT_MESSAGES": "1000",
                          "INTERRUPT_TTL_S": "600", "DEMO_TOKEN_DELAY_MS": "2"}, data_dir=Path(data))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
async def customer(server: ServerProcess) -> AsyncIterator[WsClient]:
    client = await WsClient.connect(server.ws_url, token(new_id("cust")))
    yield client
    await client.close()
