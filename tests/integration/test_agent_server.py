"""The LangGraph Agent Server API, driven by the real `langgraph-sdk` against the real server.

Every test talks to `support-agent serve` over HTTP through `get_client(url=.../lg)`,
exactly as a LangGraph user's code would; the WebSocket and /api are used only to
look at the same thread from our own surface.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import (
    AuthenticationError,
    ConflictError,
    PermissionDeniedError,
    UnprocessableEntityError,
)

from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

STATUS_Q = "What is the status of order 1042?"


@pytest.fixture(scope="module")
def lg_server(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    url = pg_cluster.create_database(f"lg_{uuid.uuid4().hex[:10]}")
    proc = ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "RATE_LIMIT_MESSAGES": "1000",
                          "INTERRUPT_TTL_S": "600", "DEMO_TOKEN_DELAY_MS": "2", "LG_HEARTBEAT_S": "0.5"},
                         data_dir=Path(tmp_path_factory.mktemp("lg")))
    proc.start()
    yield proc
    proc.stop()


def client(server: ServerProcess, user: str, role: str = "customer") -> Any:
    return get_client(url=server.base + "/lg", api_key=token(user, role))


async def parts(stream: Any) -> list[Any]:
    return [p async for p in stream]


def replay(server: ServerProcess, tid: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.base}/api/replay/{tid}", headers={"Authorization": f"Bearer {token('adm', 'admin')}"})
    assert r.status_code == 200, r.text
    return r.json()["events"]


async def test_info_and_assistants(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    info = httpx.get(lg_server.base + "/lg/info").json()
    assert "version" in info
    found = await c.assistants.search()
    assert [a["graph_id"] for a in found] == ["support"]
    by_name = await c.assistants.get("support")
    assert by_name["assistant_id"] == found[0]["assistant_id"]
    assert (await c.assistants.get(found[0]["assistant_id"]))["graph_id"] == "support"
    assert await c.assistants.search(graph_id="other") == []
